// A horizontal bar chart drawn as SVG: one row per item, one or more columns of bars side by
// side (e.g. attendance rate, then minutes). Our own small module rather than a plotting
// library: the pages are served as they are (no build step, no install-time download), the
// admin's charts are categorical bars (a time-series library fits them badly), and a
// strict CSP forbids inline styles, so colours come from classes in app.css.
//
//   barChart(items, columns, { label: "…" }) -> <svg>
//   items:   [{ name: "一班", ... }]          (the row's label is item.name)
//   columns: [{ title, max, parts: (item) => [{ value, cls }], text: (item) => "95%" }]
//   Each part is a segment of the row's bar, stacked left to right; `max` is the column's
//   full width (the largest value when not given).

const SVG = "http://www.w3.org/2000/svg";
const ROW = 22; // px per item
const BAR = 14;
const LABEL = 150; // px for the names
const COLUMN = 260; // px per column, its value text included
const TEXT = 60; // px kept for the value text right of a bar
const HEAD = 24; // px for the column titles

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function shorten(name, max = 18) {
  const s = String(name ?? "");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function barChart(items, columns, { label = "" } = {}) {
  const width = LABEL + columns.length * COLUMN;
  const height = HEAD + items.length * ROW + 4;
  const svg = node("svg", {
    class: "bar-chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
  });
  columns.forEach((column, c) => {
    const x0 = LABEL + c * COLUMN;
    const max =
      column.max ??
      Math.max(0, ...items.map((item) => column.parts(item).reduce((s, p) => s + (p.value || 0), 0)));
    svg.append(node("text", { class: "chart-title", x: x0, y: HEAD - 8 }, column.title));
    svg.append(
      node("line", { class: "chart-axis", x1: x0, x2: x0, y1: HEAD - 4, y2: height - 2 }),
    );
    items.forEach((item, r) => {
      const y = HEAD + r * ROW;
      let x = x0;
      const full = COLUMN - TEXT - 8;
      for (const part of column.parts(item)) {
        const w = max > 0 ? (Math.max(0, part.value || 0) / max) * full : 0;
        if (w <= 0) continue;
        const rect = node("rect", {
          class: `chart-bar ${part.cls || ""}`,
          x,
          y: y + (ROW - BAR) / 2,
          width: w.toFixed(1),
          height: BAR,
        });
        if (part.title) rect.append(node("title", {}, part.title));
        svg.append(rect);
        x += w;
      }
      svg.append(
        node("text", { class: "chart-value", x: x + 4, y: y + ROW / 2 + 4 }, column.text(item)),
      );
    });
  });
  items.forEach((item, r) => {
    // The whole name as the label's tooltip (long names are shortened on the chart).
    const label = node("g", {}, undefined);
    label.append(node("title", {}, String(item.name ?? "")));
    const y = HEAD + r * ROW + ROW / 2 + 4;
    label.append(node("text", { class: "chart-label", x: LABEL - 8, y }, shorten(item.name)));
    svg.append(label);
  });
  return svg;
}
