// The admin page's "Archive" tab: who watched what (GET /api/access-log, its CSV export) for
// county and school admins (the hub keeps a school admin to their school's entries), and for
// the county the retention policies (/api/retention/policies, POST /api/retention/run) and the
// disk view (GET /api/disk).
import { confirmDialog, el, formatBytes, formatDateTime } from "./api.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

let api = null;
let t = (k) => k;
let lang = "en";
let report = () => {};
let say = () => {};
const state = { offset: 0, county: false, schools: [], subjects: [] };

function dayStart(value, plusDays = 0) {
  // A date picked in this browser's time zone, as an instant the hub compares.
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

function query() {
  const from = $("accesslog-from").value;
  const to = $("accesslog-to").value;
  const recording = $("accesslog-recording").value.trim();
  return {
    date_from: from ? dayStart(from) : undefined,
    date_to: to ? dayStart(to, 1) : undefined,
    school_id: state.county ? $("accesslog-school").value || undefined : undefined,
    recording_id: /^\d+$/.test(recording) ? recording : undefined,
  };
}

function schoolName(id) {
  if (id === null || id === undefined) return "—";
  return state.schools.find((s) => s.id === id)?.name || `#${id}`;
}

function what(entry) {
  const target = entry.capsule_id
    ? t("archive.capsuleNamed", { id: entry.capsule_id })
    : t("archive.recordingNamed", { id: entry.recording_id });
  return `${entry.title} (${target})`;
}

function actionText(action) {
  if (action === "replay") return t("archive.didReplay");
  if (action === "download") return t("archive.didDownload");
  return t("archive.didView");
}

async function loadLog(offset = state.offset) {
  state.offset = offset;
  const page = await api.get("/api/access-log", { ...query(), limit: PAGE_SIZE, offset });
  $("accesslog-body").replaceChildren(
    ...page.items.map((e) =>
      el(
        "tr",
        {},
        el("td", { text: formatDateTime(e.at, lang) }),
        el("td", { text: actionText(e.action) }),
        el("td", { text: e.who_name ? `${e.who_name} (${e.who})` : e.who }),
        el("td", { text: what(e) }),
        el("td", { text: schoolName(e.school_id) }),
        el("td", { text: e.client_ip }),
      ),
    ),
  );
  $("accesslog-empty").hidden = page.total > 0;
  const pager = $("accesslog-pager");
  pager.replaceChildren();
  if (page.total > PAGE_SIZE) {
    const last = Math.min(offset + PAGE_SIZE, page.total);
    pager.append(
      el("button", {
        type: "button",
        class: "secondary",
        text: t("pager.prev"),
        disabled: offset === 0,
        onclick: () => guard(() => loadLog(Math.max(0, offset - PAGE_SIZE))),
      }),
      el("span", { text: t("pager.range", { first: offset + 1, last, total: page.total }) }),
      el("button", {
        type: "button",
        class: "secondary",
        text: t("pager.next"),
        disabled: last >= page.total,
        onclick: () => guard(() => loadLog(offset + PAGE_SIZE)),
      }),
    );
  }
}

async function exportCsv() {
  const blob = await api.get("/api/access-log.csv", query(), { as: "blob" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "access-log.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(link.href);
}

function options(select, items, anyText) {
  const keep = select.value;
  select.replaceChildren(
    el("option", { value: "", text: anyText }),
    ...items.map((x) => el("option", { value: String(x.id), text: x.name })),
  );
  if (items.some((x) => String(x.id) === keep)) select.value = keep;
}

async function loadPolicies() {
  const policies = await api.get("/api/retention/policies");
  const subjectName = (id) =>
    id === null ? t("archive.anySubject") : state.subjects.find((s) => s.id === id)?.name || `#${id}`;
  $("retention-body").replaceChildren(
    ...policies.map((p) =>
      el(
        "tr",
        { dataset: { id: p.id } },
        el("td", { text: p.school_id === null ? t("archive.anySchool") : schoolName(p.school_id) }),
        el("td", { text: subjectName(p.subject_id) }),
        el("td", { text: String(p.keep_days) }),
        el(
          "td",
          { class: "actions" },
          el("button", {
            type: "button",
            class: "secondary small",
            text: t("common.delete"),
            onclick: () =>
              guard(async () => {
                await api.del(`/api/retention/policies/${p.id}`);
                await loadPolicies();
              }),
          }),
        ),
      ),
    ),
  );
}

async function addPolicy() {
  const days = Number($("retention-days").value);
  const body = { keep_days: days };
  if ($("retention-school").value) body.school_id = Number($("retention-school").value);
  if ($("retention-subject").value) body.subject_id = Number($("retention-subject").value);
  await api.post("/api/retention/policies", body);
  $("retention-days").value = "";
  await loadPolicies();
}

async function run(dryRun) {
  if (!dryRun && !(await confirmDialog($("confirm-dialog"), t("archive.confirmRun")))) return;
  const result = await api.post("/api/retention/run", { dry_run: dryRun });
  $("retention-result").replaceChildren(
    ...result.recordings.map((r) =>
      el("li", {
        text: t(r.deleted ? "archive.deletedItem" : "archive.expiredItem", {
          id: r.recording_id,
          title: r.title,
          ended: formatDateTime(r.ended_at, lang),
          days: r.keep_days,
        }),
      }),
    ),
  );
  say(
    dryRun
      ? t("archive.dryDone", { count: result.recordings.length })
      : t("archive.runDone", { count: result.deleted }),
  );
  if (!dryRun) await loadDisk();
}

async function loadDisk() {
  const disk = await api.get("/api/disk");
  $("disk-summary").textContent = t("archive.diskSummary", {
    recordings: formatBytes(disk.recordings_bytes),
    capsules: formatBytes(disk.capsules_bytes),
    other: formatBytes(disk.other_bytes),
    free: formatBytes(disk.free_bytes),
    disk: formatBytes(disk.disk_bytes),
  });
  const rows = (items, noneText) =>
    items.map((r) =>
      el(
        "tr",
        {},
        el("td", { text: r.id === null ? noneText : r.name || `#${r.id}` }),
        el("td", { text: formatBytes(r.bytes) }),
        el("td", { text: String(r.recordings) }),
      ),
    );
  $("disk-schools-body").replaceChildren(...rows(disk.by_school, t("archive.noSchool")));
  $("disk-subjects-body").replaceChildren(...rows(disk.by_subject, t("archive.noSubject")));
}

async function guard(fn) {
  try {
    await fn();
  } catch (error) {
    report(error);
  }
}

/** Load the tab: ``county`` shows retention and the disk (the hub refuses them to others). */
export async function loadArchive(county, schools) {
  state.county = county;
  state.schools = schools;
  $("accesslog-school-field").hidden = !county;
  $("retention-section").hidden = !county;
  options($("accesslog-school"), schools, t("archive.anySchool"));
  await loadLog(0);
  if (county) {
    state.subjects = await api.get("/api/subjects");
    options($("retention-school"), schools, t("archive.anySchool"));
    options($("retention-subject"), state.subjects, t("archive.anySubject"));
    await Promise.all([loadPolicies(), loadDisk()]);
  }
}

export function wireArchive(pageApi, strings, language, fail, status) {
  api = pageApi;
  t = strings;
  lang = language;
  report = fail;
  say = status;
  $("accesslog-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(() => loadLog(0));
  });
  $("accesslog-csv").addEventListener("click", () => guard(exportCsv));
  $("retention-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(addPolicy);
  });
  $("retention-dry").addEventListener("click", () => guard(() => run(true)));
  $("retention-run").addEventListener("click", () => guard(() => run(false)));
}
