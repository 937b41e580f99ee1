// The admin page's "Subjects and grades" tab (the county's lists, GET/POST/PATCH /api/subjects
// and /api/grades: add, rename, retire, bring back) and the lesson form's pickers fed by them.
import { el } from "./api.js";

const $ = (id) => document.getElementById(id);
const KINDS = ["subjects", "grades"];

let api = null;
let t = (k) => k;
let report = () => {};
// The lists as last read: { subjects: [...], grades: [...] }.
const lists = { subjects: [], grades: [] };

export async function loadVocabulary() {
  const [subjects, grades] = await Promise.all(KINDS.map((kind) => api.get(`/api/${kind}`)));
  lists.subjects = subjects;
  lists.grades = grades;
  return lists;
}

function renderTable(kind) {
  const rows = lists[kind].map((item) => {
    const nameCell = el("td", { text: item.name });
    if (item.retired) nameCell.append(" ", el("span", { class: "badge", text: t("vocab.retired") }));
    const rename = el("button", {
      type: "button",
      class: "secondary small",
      text: t("vocab.rename"),
      "aria-label": t("vocab.renameNamed", { name: item.name }),
      onclick: () => startRename(kind, item, nameCell),
    });
    const retire = el("button", {
      type: "button",
      class: "secondary small",
      text: t(item.retired ? "vocab.restore" : "vocab.retire"),
      "aria-label": t(item.retired ? "vocab.restoreNamed" : "vocab.retireNamed", {
        name: item.name,
      }),
      onclick: () => change(kind, item.id, { retired: !item.retired }),
    });
    return el(
      "tr",
      { dataset: { id: item.id } },
      nameCell,
      el("td", { text: String(item.lessons) }),
      el("td", { class: "actions" }, rename, retire),
    );
  });
  $(`${kind}-body`).replaceChildren(...rows);
}

function startRename(kind, item, cell) {
  const input = el("input", {
    value: item.name,
    maxlength: 120,
    "aria-label": t("vocab.newName", { name: item.name }),
  });
  const save = el("button", {
    type: "button",
    class: "small",
    text: t("common.save"),
    onclick: () => change(kind, item.id, { name: input.value.trim() }),
  });
  cell.replaceChildren(input, " ", save);
  input.focus();
}

async function change(kind, id, body) {
  try {
    await api.patch(`/api/${kind}/${id}`, body);
    await refreshVocabulary();
  } catch (error) {
    report(error);
  }
}

async function add(kind) {
  const input = $(`${kind}-name`);
  const name = input.value.trim();
  if (!name) {
    input.focus();
    return;
  }
  try {
    await api.post(`/api/${kind}`, { name });
    input.value = "";
    await refreshVocabulary();
  } catch (error) {
    report(error);
  }
}

export async function refreshVocabulary() {
  await loadVocabulary();
  for (const kind of KINDS) renderTable(kind);
  fillLessonPickers();
}

/** The lesson form's subject and grade choices: those in use, and a lesson's own retired one. */
export function fillLessonPickers(current = {}) {
  const fill = (id, items, keep) => {
    const select = $(id);
    const value = keep ?? select.value;
    select.replaceChildren(
      el("option", { value: "", text: t("lessons.none") }),
      ...items
        .filter((x) => !x.retired || String(x.id) === String(value))
        .map((x) => el("option", { value: String(x.id), text: x.name })),
    );
    select.value = value ? String(value) : "";
  };
  fill("lesson-subject", lists.subjects, current.subject_id);
  fill("lesson-grade", lists.grades, current.grade_id);
}

/** What the lesson form sends for its subject, grade and description. */
export function lessonPicks() {
  const subject = Number($("lesson-subject").value);
  const grade = Number($("lesson-grade").value);
  return {
    // No subject chosen: "" takes a lesson's away (a new lesson simply has none).
    ...(subject ? { subject_id: subject } : { subject: "" }),
    ...(grade ? { grade_id: grade } : {}),
    description: $("lesson-description").value.trim(),
  };
}

export function wireVocabulary(pageApi, strings, fail) {
  api = pageApi;
  t = strings;
  report = fail;
  for (const kind of KINDS) {
    $(`${kind}-form`).addEventListener("submit", (ev) => {
      ev.preventDefault();
      add(kind);
    });
  }
}
