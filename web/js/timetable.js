// Administration page, "Timetable file" tab: import a term's timetable (the file is checked
// with a dry run first, every error listed by row and column, and only a clean file can be
// imported), export it in the same format, and make or revoke the calendar (.ics) links of
// classrooms and lecturers. The format: docs/timetable.md.
import { ApiError, confirmDialog, copyText, el, formatDateTime } from "./api.js";

const $ = (id) => document.getElementById(id);
// streamhub/timetable/columns.py Column: an unknown column's header is shown as written.
const COLUMNS = [
  "title", "subject", "grade", "lecturer", "date", "weekday", "from", "until", "start", "end",
  "classrooms", "repeat", "skip_dates", "series",
];

let ctx = null; // { api, t, lang, guarded, say, confirm, classrooms }
const t = (...args) => ctx.t(...args);

/** Wire the tab's controls once; ``context`` gives the page's API, strings and helpers. */
export function wireTimetable(context) {
  ctx = context;
  $("timetable-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.guarded(checkFile);
  });
  $("timetable-file").addEventListener("change", () => {
    resetCheck();
    if ($("timetable-file").files.length) ctx.guarded(checkFile);
  });
  $("timetable-import").addEventListener("click", () => ctx.guarded(importFile));
  $("export-csv").addEventListener("click", () => ctx.guarded(() => exportFile("csv")));
  $("export-xlsx").addEventListener("click", () => ctx.guarded(() => exportFile("xlsx")));
  $("calendar-kind").addEventListener("change", showCalendarTarget);
  $("calendar-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.guarded(makeFeed);
  });
  $("calendar-copy").addEventListener("click", async () => {
    const ok = await copyText($("calendar-url").value, $("calendar-url"));
    $("calendar-copy-status").textContent = t(ok ? "copy.done" : "copy.failed");
  });
}

/** The tab was opened: its classroom and lecturer choices and the calendar links. */
export async function loadTimetableTab() {
  const select = $("calendar-classroom");
  const chosen = select.value;
  select.replaceChildren(
    ...ctx.classrooms().map((c) =>
      el("option", { value: c.id, text: `${c.school_name}/${c.name}` }),
    ),
  );
  if (chosen) select.value = chosen;
  const lessons = await ctx.api.get("/api/lessons", { limit: 500 });
  const names = [...new Set(lessons.items.map((x) => x.lecturer_name).filter(Boolean))].sort();
  $("calendar-lecturers").replaceChildren(...names.map((n) => el("option", { value: n })));
  await loadFeeds();
}

// ------------------------------------------------------------------ import

function resetCheck() {
  $("timetable-import").disabled = true;
  $("timetable-summary").textContent = "";
  $("timetable-errors-wrap").hidden = true;
  $("timetable-errors-body").replaceChildren();
}

function chosenFile() {
  const file = $("timetable-file").files[0];
  if (!file) throw new Error(t("timetable.noFile"));
  return file;
}

async function checkFile() {
  const file = chosenFile();
  resetCheck();
  const report = await ctx.api.post("/api/timetable/import", file, {
    query: { dry_run: true },
  });
  showReport(file, report);
  $("timetable-import").disabled = report.errors.length > 0;
}

async function importFile() {
  const file = chosenFile();
  $("timetable-import").disabled = true;
  let report;
  try {
    report = await ctx.api.post("/api/timetable/import", file);
  } catch (error) {
    // Rows went wrong since the check (someone else changed the timetable): list them.
    if (error instanceof ApiError && error.code === "timetable_invalid") {
      showReport(file, error.problem);
      return;
    }
    throw error;
  }
  const { create, update } = report.lessons;
  $("timetable-summary").textContent = t("timetable.imported", { create, update });
  ctx.say(t("timetable.imported", { create, update }));
  $("timetable-file").value = "";
}

function showReport(file, report) {
  const { create, update, unchanged, kept } = report.lessons;
  const errors = report.errors;
  $("timetable-summary").textContent = errors.length
    ? t("timetable.hasErrors", { name: file.name, count: errors.length, rows: report.rows })
    : t("timetable.ready", {
        name: file.name,
        rows: report.rows,
        create,
        update,
        same: unchanged + kept,
      });
  $("timetable-errors-caption").textContent = t("timetable.errorsCaption", {
    count: errors.length,
  });
  $("timetable-errors-body").replaceChildren(...errors.map(errorRow));
  $("timetable-errors-wrap").hidden = errors.length === 0;
}

function errorRow(error) {
  const column = COLUMNS.includes(error.column)
    ? t(`timetable.column.${error.column}`)
    : error.column;
  let other = "";
  if (error.other_row) other = t("timetable.otherRow", { row: error.other_row });
  else if (error.other_lesson) other = t("timetable.otherLesson", { id: error.other_lesson });
  const problem = t(`timetable.problem.${error.code}`, { other });
  const cell = [error.cell, error.value].filter(Boolean).join(" · ");
  return el(
    "tr",
    { dataset: { row: error.row, column: error.column, code: error.code } },
    el("td", { text: error.row }),
    el("td", { text: column }),
    el("td", { text: cell }),
    el("td", { text: problem, title: error.message }),
  );
}

// ------------------------------------------------------------------ export

async function exportFile(format) {
  const query = {
    format,
    from: $("export-from").value,
    to: $("export-to").value,
    lang: ctx.lang === "zh-CN" ? "zh-CN" : "en",
  };
  const blob = await ctx.api.get("/api/timetable/export", query, { as: "blob" });
  const name = `timetable-${query.from || "start"}-${query.to || "end"}.${format}`;
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  ctx.say(t("timetable.exported", { name }));
}

// ------------------------------------------------------------------ calendar links

function showCalendarTarget() {
  const lecturer = $("calendar-kind").value === "lecturer";
  $("calendar-lecturer-field").hidden = !lecturer;
  $("calendar-classroom-field").hidden = lecturer;
}

async function makeFeed() {
  const kind = $("calendar-kind").value;
  const body = { kind };
  if (kind === "lecturer") {
    body.lecturer = $("calendar-lecturer").value.trim();
    if (!body.lecturer) throw new Error(t("calendar.lecturerRequired"));
  } else {
    body.classroom_id = Number($("calendar-classroom").value);
    if (!body.classroom_id) throw new Error(t("calendar.classroomRequired"));
  }
  const made = await ctx.api.post("/api/calendar-feeds", body);
  $("calendar-made").hidden = false;
  $("calendar-url").value = made.url;
  $("calendar-copy-status").textContent = "";
  $("calendar-url").focus();
  $("calendar-url").select();
  await loadFeeds();
}

function feedName(feed) {
  if (feed.kind === "lecturer") return feed.lecturer_name;
  const room = ctx.classrooms().find((c) => c.id === feed.classroom_id);
  return room ? `${room.school_name}/${room.name}` : `#${feed.classroom_id}`;
}

async function loadFeeds() {
  const feeds = await ctx.api.get("/api/calendar-feeds");
  $("calendar-body").replaceChildren(
    ...feeds.map((feed) => {
      const name = feedName(feed);
      const who = `${t(`calendar.kind.${feed.kind}`)}: ${name}`;
      return el(
        "tr",
        { dataset: { id: feed.id } },
        el("td", { text: who }),
        el("td", {
          text: feed.last_used_at
            ? formatDateTime(feed.last_used_at, ctx.lang)
            : t("calendar.never"),
        }),
        el(
          "td",
          { class: "row-actions" },
          el("button", {
            type: "button",
            class: "small danger",
            text: t("calendar.revoke"),
            "aria-label": t("calendar.revokeNamed", { name: who }),
            onclick: () => ctx.guarded(() => revokeFeed(feed, who)),
          }),
        ),
      );
    }),
  );
  $("calendar-empty").hidden = feeds.length > 0;
}

async function revokeFeed(feed, who) {
  if (!(await confirmDialog(ctx.confirm, t("calendar.confirmRevoke", { name: who })))) return;
  await ctx.api.del(`/api/calendar-feeds/${feed.id}`);
  $("calendar-made").hidden = true;
  $("calendar-url").value = "";
  ctx.say(t("calendar.revoked", { name: who }));
  await loadFeeds();
}
