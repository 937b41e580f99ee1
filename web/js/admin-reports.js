// The admin page's Reports tab: attendance over a term (GET /api/reports/attendance) per
// classroom, school or lecturer, as a chart (rate; minutes with those in audio only), a table,
// and CSV/XLSX downloads of the same report.
import { ApiError, el, showError } from "./api.js";
import { barChart } from "./bar-chart.js";

const $ = (id) => document.getElementById(id);
// The library's quality bands (and streamhub/lesson/term_report.py GOOD_FROM, FAIR_FROM).
const GOOD_FROM = 0.8;
const FAIR_FROM = 0.5;

let api = null;
let t = (k) => k;
let shown = null; // the report on screen

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function percent(x) {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`;
}

function qualityText(q) {
  if (q === null || q === undefined) return "—";
  const word = q >= GOOD_FROM ? "good" : q >= FAIR_FROM ? "fair" : "poor";
  return `${Math.round(q * 100)}% · ${t(`reports.quality.${word}`)}`;
}

function query() {
  return { from: $("reports-from").value, to: $("reports-to").value, by: $("reports-by").value };
}

function groupName(g) {
  if (g.name) return g.name;
  return shown && shown.by === "lecturer" ? t("reports.noLecturer") : `#${g.key}`;
}

function renderChart(report) {
  const items = report.groups.map((g) => ({ ...g, name: groupName(g) }));
  // The lowest attendance first: what an admin looks for.
  items.sort((a, b) => (a.attendance_rate ?? 2) - (b.attendance_rate ?? 2));
  const chart = barChart(
    items,
    [
      {
        title: t("reports.chartRate"),
        max: 1,
        parts: (g) => [
          {
            value: g.attendance_rate ?? 0,
            cls: (g.attendance_rate ?? 1) < FAIR_FROM ? "low" : g.attendance_rate < GOOD_FROM ? "fair" : "",
            title: t("reports.chartRateTitle", {
              attended: g.lessons_attended,
              invited: g.lessons_invited,
            }),
          },
        ],
        text: (g) => percent(g.attendance_rate),
      },
      {
        title: t("reports.chartMinutes"),
        parts: (g) => [
          {
            value: g.minutes_present - g.audio_only_minutes,
            cls: "minutes",
            title: t("reports.chartVideoTitle", {
              minutes: Math.round(g.minutes_present - g.audio_only_minutes),
            }),
          },
          {
            value: g.audio_only_minutes,
            cls: "audio-only",
            title: t("reports.chartAudioTitle", { minutes: Math.round(g.audio_only_minutes) }),
          },
        ],
        text: (g) => String(Math.round(g.minutes_present)),
      },
    ],
    { label: t("reports.chartLabel") },
  );
  $("reports-chart").replaceChildren(chart);
}

function renderTable(report) {
  const classrooms = report.by === "classroom";
  $("reports-school-head").hidden = !classrooms;
  $("reports-body").replaceChildren(
    ...report.groups.map((g) =>
      el(
        "tr",
        { dataset: { key: g.key } },
        el("th", { scope: "row", text: groupName(g) }),
        ...(classrooms ? [el("td", { text: g.school || "—" })] : []),
        el("td", { text: String(g.lessons_held) }),
        el("td", { text: `${g.lessons_attended}/${g.lessons_invited}` }),
        el("td", {
          class: (g.attendance_rate ?? 1) < FAIR_FROM ? "warn-text" : "",
          text: percent(g.attendance_rate),
        }),
        el("td", { text: String(g.late) }),
        el("td", { text: String(g.left_early) }),
        el("td", { text: String(Math.round(g.minutes_present)) }),
        el("td", { text: String(Math.round(g.audio_only_minutes)) }),
        el("td", { text: String(g.drops) }),
        el("td", { text: qualityText(g.quality) }),
        el("td", { text: String(g.lessons_not_held) }),
      ),
    ),
  );
  $("reports-empty").hidden = report.groups.length > 0;
  const totals = report.totals;
  $("reports-summary").textContent = t("reports.summary", {
    lessons: totals.lessons_held,
    attended: totals.lessons_attended,
    invited: totals.lessons_invited,
    rate: percent(totals.attendance_rate),
    minutes: Math.round(totals.minutes_present),
    audio: Math.round(totals.audio_only_minutes),
  });
}

export async function loadReport() {
  const q = query();
  if (!q.from || !q.to) return;
  showError($("reports-error"), null);
  $("reports-summary").textContent = t("reports.loading");
  try {
    const report = await api.get("/api/reports/attendance", q);
    shown = report;
    renderChart(report);
    renderTable(report);
  } catch (error) {
    $("reports-summary").textContent = "";
    if (error instanceof ApiError && error.status === 401) return;
    showError($("reports-error"), error, t, "reports.failed");
  }
}

async function download(format) {
  const q = query();
  try {
    const blob = await api.get("/api/reports/attendance", { ...q, format }, { as: "blob" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `attendance-${q.by}-${q.from}-${q.to}.${format}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("reports-error"), error, t, "reports.failed");
  }
}

export function wireReports(pageApi, strings) {
  api = pageApi;
  t = strings;
  // The last four months until today: most of a term, whichever it is.
  const today = new Date();
  const from = new Date(today.getFullYear(), today.getMonth() - 4, 1);
  $("reports-from").value = isoDay(from);
  $("reports-to").value = isoDay(today);
  $("reports-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadReport();
  });
  $("reports-by").addEventListener("change", () => loadReport());
  $("reports-csv").addEventListener("click", () => download("csv"));
  $("reports-xlsx").addEventListener("click", () => download("xlsx"));
}
