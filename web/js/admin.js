// Administration page: schools, classrooms (with device credentials) and the lesson timetable.
import {
  Api,
  ApiError,
  confirmDialog,
  copyText,
  el,
  formatDateTime,
  fromLocalInput,
  loadStrings,
  showError,
  toLocalInput,
  wireSignIn,
  wireTabs,
} from "./api.js";
import { loadTimetableTab, wireTimetable } from "./timetable.js";
import { loadReport, wireReports } from "./admin-reports.js";
import {
  fillLessonPickers,
  lessonPicks,
  loadVocabulary,
  refreshVocabulary,
  wireVocabulary,
} from "./admin-subjects.js";
import { loadArchive, wireArchive } from "./admin-archive.js";

const PAGE_SIZE = 20;
const api = new Api("streamhub.admin.key");
const $ = (id) => document.getElementById(id);

let t = (k) => k;
let lang = "en";

const state = {
  schools: { offset: 0, total: 0, items: [] },
  classrooms: { offset: 0, total: 0, items: [] },
  lessons: { offset: 0, total: 0, items: [] },
  allSchools: [],
  allClassrooms: [],
  selectedClassroom: null,
  // Who is signed in (GET /api/me) and what the page hides from them.
  me: null,
  hiddenActions: new Set(),
};

const ACCOUNT_ROLES = ["county_admin", "school_admin", "lecturer", "staff"];
// What each role cannot do here (docs/roles.md); the hub refuses it all the same. The county
// (the admin key, county admins) sees everything.
const LIMITS = {
  school_admin: {
    tabs: ["tab-access", "tab-feed", "tab-timetable", "tab-reports", "tab-subjects"],
    forms: ["school-form"],
    actions: ["schools.editNamed", "schools.deleteNamed"],
    roles: ["lecturer", "staff"],
  },
  lecturer: {
    tabs: [
      "tab-schools",
      "tab-classrooms",
      "tab-access",
      "tab-fleet",
      "tab-feed",
      "tab-people",
      "tab-timetable",
      "tab-reports",
      "tab-subjects",
      "tab-archive",
    ],
    forms: ["lesson-form"],
    actions: ["lessons.editNamed", "lessons.deleteNamed"],
    roles: [],
  },
  staff: {
    tabs: [
      "tab-access",
      "tab-fleet",
      "tab-feed",
      "tab-people",
      "tab-timetable",
      "tab-subjects",
      "tab-archive",
    ],
    forms: ["school-form", "classroom-form", "lesson-form"],
    actions: [
      "schools.editNamed",
      "schools.deleteNamed",
      "classrooms.credentialsNamed",
      "classrooms.deleteNamed",
      "lessons.editNamed",
      "lessons.startNamed",
      "lessons.linkNamed",
      "lessons.endNamed",
      "lessons.deleteNamed",
    ],
    roles: [],
  },
};

// ------------------------------------------------------------------ status and errors

function say(message) {
  $("app-status").textContent = message;
}

function fail(error) {
  showError($("app-error"), error, t);
}

function clearError() {
  showError($("app-error"), null);
}

/** Run an action; report its failure in the page instead of the console. */
async function guarded(fn) {
  clearError();
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    fail(error);
    return undefined;
  }
}

// ------------------------------------------------------------------ sign in / out

function showSignedIn(on) {
  $("signin-view").hidden = on;
  $("app-view").hidden = !on;
  $("session").hidden = !on;
}

async function signIn(secret) {
  const login = $("signin-login").value.trim();
  if (login) {
    // A person: their email and password give a session token.
    const session = await api.post("/api/session", { login, password: secret }, { token: "" });
    api.token = session.token;
    $("signin-login").value = "";
    return;
  }
  // The admin key: an admin-only call without side effects proves it (a staff token gets 403).
  await api.get("/api/tokens", { kind: "staff" }, { token: secret });
  api.token = secret;
}

/** A one-time sign-in link (#signin=...) opens the page signed in, once. */
async function signInWithLink() {
  const secret = new URLSearchParams(location.hash.slice(1)).get("signin");
  if (!secret) return;
  // Out of the address bar and the history at once: the link works only once anyway.
  history.replaceState(null, "", location.pathname + location.search);
  try {
    const session = await api.post("/api/session/link", { secret }, { token: "" });
    api.token = session.token;
  } catch (error) {
    showError($("signin-error"), error, t, "signin.failed");
  }
}

/** Who is signed in, shown in the top bar; the tabs, forms and buttons their role cannot
 * use are hidden. */
async function applyRole() {
  const me = await api.get("/api/me");
  state.me = me;
  const limits = LIMITS[me.role] || { tabs: [], forms: [], actions: [], roles: ACCOUNT_ROLES };
  state.hiddenActions = new Set(limits.actions);
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.hidden = limits.tabs.includes(tab.id);
  }
  for (const id of ["school-form", "classroom-form", "lesson-form"]) {
    $(id).hidden = limits.forms.includes(id);
  }
  $("session-who").textContent = me.account
    ? t("session.person", {
        name: me.account.display_name || me.account.login,
        role: t(`people.role.${me.role}`),
      })
    : t("session.admin");
  $("person-role").replaceChildren(
    ...(limits.roles || ACCOUNT_ROLES).map((role) =>
      el("option", { value: role, text: t(`people.role.${role}`) }),
    ),
  );
  const current = document.querySelector('[role="tab"][aria-selected="true"]');
  if (current && current.hidden) {
    selectTab(document.querySelector('[role="tab"]:not([hidden])'), false);
  }
}

// ------------------------------------------------------------------ people

function schoolName(id) {
  const school = state.allSchools.find((s) => s.id === id);
  return school ? school.name : "—";
}

async function loadPeople() {
  const page = await api.get("/api/accounts", { limit: 500 });
  $("person-school").replaceChildren(
    el("option", { value: "", text: t("people.noSchool") }),
    ...state.allSchools.map((s) => el("option", { value: s.id, text: s.name })),
  );
  $("people-body").replaceChildren(
    ...page.items.map((person) => {
      const name = person.display_name || person.login;
      const toggle = () => setDisabled(person, !person.disabled);
      return el(
        "tr",
        { dataset: { id: person.id } },
        el("td", { text: person.login }),
        el("td", { text: person.display_name || "—" }),
        el("td", { text: t(`people.role.${person.role}`) }),
        el("td", { text: person.school_id ? schoolName(person.school_id) : "—" }),
        el("td", {
          text: person.disabled
            ? t("people.disabled")
            : formatDateTime(person.last_sign_in_at, lang) || t("people.never"),
        }),
        el(
          "td",
          { class: "row-actions" },
          person.disabled
            ? null
            : actionButton("people.linkAction", "people.linkNamed", name, () => signInLink(person)),
          dangerGroup(
            actionButton(
              person.disabled ? "people.enable" : "people.disable",
              person.disabled ? "people.enableNamed" : "people.disableNamed",
              name,
              toggle,
              person.disabled ? "small secondary" : "small danger",
            ),
          ),
        ),
      );
    }),
  );
  $("people-empty").hidden = page.total > 0;
}

async function addPerson(ev) {
  ev.preventDefault();
  await guarded(async () => {
    const password = $("person-password").value;
    const school = $("person-school").value;
    const made = await api.post("/api/accounts", {
      login: $("person-login").value.trim(),
      display_name: $("person-name").value.trim(),
      role: $("person-role").value,
      school_id: school ? Number(school) : null,
      password: password || null,
    });
    $("person-form").reset();
    say(t("people.added", { login: made.login }));
    await loadPeople();
  });
}

async function signInLink(person) {
  await guarded(async () => {
    const made = await api.post(`/api/accounts/${person.id}/sign-in-link`);
    $("people-link-url").value = made.link;
    $("people-link-for").textContent = t("people.linkFor", {
      login: person.login,
      minutes: Math.round(made.expires_in_s / 60),
    });
    $("people-link").hidden = false;
    $("people-link-url").select();
  });
}

async function setDisabled(person, disabled) {
  await guarded(async () => {
    await api.patch(`/api/accounts/${person.id}`, { disabled });
    await loadPeople();
  });
}

function signOut(error) {
  api.token = "";
  state.me = null;
  showSignedIn(false);
  if (error) showError($("signin-error"), error, t, "signin.expired");
  $("signin-login").focus();
}

// ------------------------------------------------------------------ pagers

function renderPager(container, page, onGo) {
  container.replaceChildren();
  if (page.total <= PAGE_SIZE) return;
  const first = page.offset + 1;
  const last = Math.min(page.offset + PAGE_SIZE, page.total);
  container.append(
    el("button", {
      type: "button",
      class: "secondary",
      text: t("pager.prev"),
      disabled: page.offset === 0,
      onclick: () => onGo(Math.max(0, page.offset - PAGE_SIZE)),
    }),
    el("span", { text: t("pager.range", { first, last, total: page.total }) }),
    el("button", {
      type: "button",
      class: "secondary",
      text: t("pager.next"),
      disabled: last >= page.total,
      onclick: () => onGo(page.offset + PAGE_SIZE),
    }),
  );
}

async function fetchAll(path, query = {}) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const page = await api.get(path, { ...query, limit: 500, offset });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

/** Destructive actions (delete, end) sit apart from the common ones, at the row's far end. */
function dangerGroup(...buttons) {
  return el("span", { class: "row-danger" }, ...buttons);
}

function actionButton(textKey, labelKey, name, onclick, cls = "small secondary") {
  // What the signed-in role cannot do is not offered.
  if (state.hiddenActions.has(labelKey)) return null;
  return el("button", {
    type: "button",
    class: cls,
    text: t(textKey),
    "aria-label": t(labelKey, { name }),
    onclick,
  });
}

// ------------------------------------------------------------------ schools

async function loadSchools() {
  const page = await api.get("/api/schools", {
    limit: PAGE_SIZE,
    offset: state.schools.offset,
  });
  state.schools = page;
  const body = $("schools-body");
  body.replaceChildren(
    ...page.items.map((s) =>
      el(
        "tr",
        { dataset: { id: s.id } },
        el("td", { text: s.name }),
        el("td", { text: s.region || "—" }),
        el("td", { text: formatDateTime(s.created_at, lang) }),
        el(
          "td",
          { class: "row-actions" },
          actionButton("common.edit", "schools.editNamed", s.name, () => editSchool(s)),
          actionButton("schools.classrooms", "schools.classroomsNamed", s.name, () =>
            showClassroomsOf(s.id),
          ),
          dangerGroup(
            actionButton(
              "common.delete",
              "schools.deleteNamed",
              s.name,
              () => deleteSchool(s),
              "small danger",
            ),
          ),
        ),
      ),
    ),
  );
  $("schools-empty").hidden = page.total > 0;
  renderPager($("schools-pager"), page, (offset) => {
    state.schools.offset = offset;
    guarded(loadSchools);
  });
}

async function loadAllSchools() {
  state.allSchools = await fetchAll("/api/schools");
  const options = (withAll) => [
    ...(withAll ? [el("option", { value: "", text: t("classrooms.allSchools") })] : []),
    ...state.allSchools.map((s) => el("option", { value: s.id, text: s.name })),
  ];
  const filter = $("classrooms-school-filter");
  const keep = filter.value;
  filter.replaceChildren(...options(true));
  filter.value = state.allSchools.some((s) => String(s.id) === keep) ? keep : "";
  const pick = $("classroom-school");
  const keepPick = pick.value;
  pick.replaceChildren(...options(false));
  if (state.allSchools.some((s) => String(s.id) === keepPick)) pick.value = keepPick;
  $("classroom-save").disabled = state.allSchools.length === 0;
}

function editSchool(school) {
  $("school-id").value = school.id;
  $("school-name").value = school.name;
  $("school-region").value = school.region || "";
  $("school-downloads").checked = school.downloads_allowed !== false;
  $("school-form-title").textContent = t("schools.editTitle", { name: school.name });
  $("school-name").focus();
}

function resetSchoolForm() {
  $("school-form").reset();
  $("school-id").value = "";
  $("school-form-title").textContent = t("schools.new");
}

async function saveSchool(ev) {
  ev.preventDefault();
  const name = $("school-name").value.trim();
  if (!name) {
    fail(new Error(t("schools.nameRequired")));
    $("school-name").focus();
    return;
  }
  await guarded(async () => {
    const body = {
      name,
      region: $("school-region").value.trim(),
      downloads_allowed: $("school-downloads").checked,
    };
    const id = $("school-id").value;
    if (id) await api.patch(`/api/schools/${id}`, body);
    else await api.post("/api/schools", body);
    say(t(id ? "schools.updated" : "schools.created", { name }));
    resetSchoolForm();
    await Promise.all([loadSchools(), loadAllSchools()]);
  });
}

async function deleteSchool(school) {
  if (!(await confirmDialog($("confirm-dialog"), t("schools.confirmDelete", { name: school.name }))))
    return;
  await guarded(async () => {
    await api.del(`/api/schools/${school.id}`);
    say(t("schools.deleted", { name: school.name }));
    if (state.schools.items.length === 1 && state.schools.offset > 0)
      state.schools.offset -= PAGE_SIZE;
    await Promise.all([loadSchools(), loadAllSchools(), loadClassrooms(), loadAllClassrooms()]);
  });
}

// ------------------------------------------------------------------ classrooms

async function loadClassrooms() {
  const schoolId = $("classrooms-school-filter").value;
  const page = await api.get("/api/classrooms", {
    limit: PAGE_SIZE,
    offset: state.classrooms.offset,
    school_id: schoolId || undefined,
  });
  state.classrooms = page;
  $("classrooms-body").replaceChildren(
    ...page.items.map((c) =>
      el(
        "tr",
        {
          dataset: { id: c.id },
          class: state.selectedClassroom?.id === c.id ? "selected" : undefined,
        },
        el("td", { text: c.name }),
        el("td", { text: c.school_name }),
        el("td", { text: c.region || "—" }),
        el(
          "td",
          { class: "row-actions" },
          actionButton("classrooms.credentials", "classrooms.credentialsNamed", c.name, () =>
            selectClassroom(c),
          ),
          dangerGroup(
            actionButton(
              "common.delete",
              "classrooms.deleteNamed",
              c.name,
              () => deleteClassroom(c),
              "small danger",
            ),
          ),
        ),
      ),
    ),
  );
  $("classrooms-empty").hidden = page.total > 0;
  renderPager($("classrooms-pager"), page, (offset) => {
    state.classrooms.offset = offset;
    guarded(loadClassrooms);
  });
}

async function loadAllClassrooms() {
  state.allClassrooms = await fetchAll("/api/classrooms");
  renderLessonClassroomChecks();
}

function showClassroomsOf(schoolId) {
  $("classrooms-school-filter").value = String(schoolId);
  $("classroom-school").value = String(schoolId);
  state.classrooms.offset = 0;
  selectTab($("tab-classrooms"), true);
}

async function saveClassroom(ev) {
  ev.preventDefault();
  const name = $("classroom-name").value.trim();
  const schoolId = Number($("classroom-school").value);
  if (!name || !schoolId) {
    fail(new Error(t(schoolId ? "classrooms.nameRequired" : "classrooms.schoolRequired")));
    (name ? $("classroom-school") : $("classroom-name")).focus();
    return;
  }
  await guarded(async () => {
    const room = await api.post("/api/classrooms", {
      name,
      school_id: schoolId,
      region: $("classroom-region").value.trim(),
    });
    say(t("classrooms.created", { name: room.name }));
    $("classroom-name").value = "";
    $("classroom-region").value = "";
    await Promise.all([loadClassrooms(), loadAllClassrooms()]);
    await selectClassroom(room);
  });
}

async function deleteClassroom(room) {
  const message = t("classrooms.confirmDelete", { name: room.name });
  if (!(await confirmDialog($("confirm-dialog"), message))) return;
  await guarded(async () => {
    await api.del(`/api/classrooms/${room.id}`);
    say(t("classrooms.deleted", { name: room.name }));
    if (state.selectedClassroom?.id === room.id) {
      state.selectedClassroom = null;
      $("credentials-pane").hidden = true;
    }
    await Promise.all([loadClassrooms(), loadAllClassrooms()]);
  });
}

async function selectClassroom(room) {
  state.selectedClassroom = room;
  for (const row of $("classrooms-body").rows) {
    row.classList.toggle("selected", row.dataset.id === String(room.id));
  }
  $("credentials-title").textContent = t("credentials.title", { name: room.name });
  $("credentials-pane").hidden = false;
  await guarded(loadCredentials);
  await guarded(loadConnectionCheck);
}

// The classroom PC's latest `classroom-agent doctor` result, as it sent it.
async function loadConnectionCheck() {
  const room = state.selectedClassroom;
  if (!room) return;
  const [latest] = await api.get(`/api/classrooms/${room.id}/connection-checks`, { limit: 1 });
  $("checks-empty").hidden = Boolean(latest);
  $("checks-latest").hidden = !latest;
  if (!latest) return;
  const verdict = $("checks-verdict");
  verdict.textContent = t(latest.ok ? "checks.ok" : "checks.problems");
  verdict.className = `badge ${latest.ok ? "active" : "revoked"}`;
  $("checks-summary").textContent = latest.summary;
  $("checks-when").textContent = t("checks.when", { when: formatDateTime(latest.checked_at, lang) });
  $("checks-lines").replaceChildren(
    ...latest.lines.map((line) =>
      el("li", { dataset: { check: line.check, status: line.status }, text: `${t(`checks.status.${line.status}`)} · ${line.detail}` }),
    ),
  );
}

async function loadCredentials() {
  const room = state.selectedClassroom;
  if (!room) return;
  const rows = await api.get(`/api/classrooms/${room.id}/device-credentials`);
  rows.sort((a, b) => b.id - a.id);
  $("credentials-body").replaceChildren(
    ...rows.map((c) => {
      const name = c.label || `#${c.id}`;
      return el(
        "tr",
        { dataset: { id: c.id } },
        el("td", { text: name }),
        el("td", { text: formatDateTime(c.created_at, lang) }),
        el("td", { text: c.last_used_at ? formatDateTime(c.last_used_at, lang) : "—" }),
        el(
          "td",
          {},
          el("span", {
            class: `badge ${c.revoked_at ? "revoked" : "active"}`,
            text: c.revoked_at
              ? t("credentials.revokedAt", { when: formatDateTime(c.revoked_at, lang) })
              : t("credentials.active"),
          }),
        ),
        el(
          "td",
          {},
          c.revoked_at
            ? ""
            : actionButton(
                "credentials.revoke",
                "credentials.revokeNamed",
                name,
                () => revokeCredential(c, name),
                "small danger",
              ),
        ),
      );
    }),
  );
  $("credentials-empty").hidden = rows.length > 0;
}

async function issueCredential(ev) {
  ev.preventDefault();
  const room = state.selectedClassroom;
  if (!room) return;
  await guarded(async () => {
    const label = $("credential-label").value.trim();
    const issued = await api.post(`/api/classrooms/${room.id}/device-credential`, { label });
    $("credential-label").value = "";
    const dialog = $("credential-dialog");
    $("issued-credential").value = issued.credential;
    $("issued-command").value = issued.agent_command;
    $("issued-page").value = issued.classroom_page;
    dialog.querySelector("[data-copy-status]").textContent = "";
    dialog.addEventListener(
      "close",
      () => {
        // The secret leaves the page once the dialog is closed.
        for (const id of ["issued-credential", "issued-command", "issued-page"]) $(id).value = "";
        $("credential-issue").focus();
      },
      { once: true },
    );
    dialog.showModal();
    $("issued-command").focus();
    $("issued-command").select();
    await loadCredentials();
  });
}

async function revokeCredential(cred, name) {
  const message = t("credentials.confirmRevoke", { name });
  if (!(await confirmDialog($("confirm-dialog"), message))) return;
  await guarded(async () => {
    await api.del(`/api/device-credentials/${cred.id}`);
    say(t("credentials.revoked", { name }));
    await loadCredentials();
  });
}

// ------------------------------------------------------------------ lessons

function classroomName(id) {
  const room = state.allClassrooms.find((c) => c.id === id);
  return room ? room.name : `#${id}`;
}

async function loadLessons() {
  const status = $("lessons-status-filter").value;
  const page = await api.get("/api/lessons", {
    limit: PAGE_SIZE,
    offset: state.lessons.offset,
    status: status || undefined,
  });
  state.lessons = page;
  $("lessons-body").replaceChildren(...page.items.map(lessonRow));
  $("lessons-empty").hidden = page.total > 0;
  renderPager($("lessons-pager"), page, (offset) => {
    state.lessons.offset = offset;
    guarded(loadLessons);
  });
}

function lessonState(lesson) {
  return lesson.missed ? "missed" : lesson.status;
}

function lessonRow(lesson) {
  const name = lesson.title;
  const actions = [];
  if (lesson.status !== "ended") {
    actions.push(actionButton("common.edit", "lessons.editNamed", name, () => editLesson(lesson)));
  }
  // A missed lesson (its end passed, never live) is rescheduled with Edit, not started.
  if (lesson.status === "scheduled" && !lesson.missed) {
    actions.push(
      actionButton(
        "lessons.startAction",
        "lessons.startNamed",
        name,
        () => setLive(lesson, "start"),
        "small",
      ),
    );
  }
  if (lesson.status !== "ended") {
    actions.push(
      actionButton("lessons.linkAction", "lessons.linkNamed", name, () => lecturerLink(lesson)),
    );
  }
  const dangerous = [];
  if (lesson.status === "live") {
    dangerous.push(
      actionButton(
        "lessons.endAction",
        "lessons.endNamed",
        name,
        () => setLive(lesson, "end"),
        "small danger",
      ),
    );
  }
  // A live lesson cannot be deleted (the hub refuses): no button that can only fail.
  if (lesson.status !== "live") {
    dangerous.push(
      actionButton(
        "common.delete",
        "lessons.deleteNamed",
        name,
        () => deleteLesson(lesson),
        "small danger",
      ),
    );
  }
  actions.push(dangerGroup(...dangerous));
  const rooms = lesson.classroom_ids.map(classroomName);
  return el(
    "tr",
    { dataset: { id: lesson.id, status: lessonState(lesson) } },
    el(
      "td",
      {},
      el("strong", { text: lesson.title }),
      el("div", {
        class: "sub",
        text: [lesson.subject, lesson.lecturer_name].filter(Boolean).join(" · "),
      }),
      el("div", { class: "sub mono", text: t("lessons.code", { code: lesson.join_code }) }),
    ),
    el(
      "td",
      {},
      el("div", { text: formatDateTime(lesson.scheduled_start, lang) }),
      el("div", { class: "sub", text: `→ ${formatDateTime(lesson.scheduled_end, lang)}` }),
    ),
    el(
      "td",
      {},
      el("span", {
        class: `badge ${lessonState(lesson)}`,
        text: t(`status.${lessonState(lesson)}`),
      }),
    ),
    el("td", { text: invitedText(lesson, rooms) }),
    el("td", { class: "row-actions" }, actions),
  );
}

function invitedText(lesson, rooms) {
  if (lesson.open_to_all) {
    return rooms.length ? `${t("lessons.open")} (${rooms.join(", ")})` : t("lessons.open");
  }
  return rooms.length ? rooms.join(", ") : t("lessons.nobody");
}

function renderLessonClassroomChecks() {
  const list = $("lesson-classroom-list");
  const checked = new Set(
    [...list.querySelectorAll("input:checked")].map((i) => Number(i.value)),
  );
  list.replaceChildren(
    ...state.allClassrooms.map((c) => {
      const id = `lesson-room-${c.id}`;
      return el(
        "div",
        {
          class: "check",
          dataset: {
            school: c.school_id,
            find: `${c.name} ${c.school_name} ${c.region || ""}`.toLocaleLowerCase(),
          },
        },
        el("input", {
          type: "checkbox",
          id,
          value: c.id,
          name: "classroom_ids",
          checked: checked.has(c.id),
        }),
        el("label", { for: id, text: `${c.name} (${c.school_name})` }),
      );
    }),
  );
  $("lesson-classrooms-empty").hidden = state.allClassrooms.length > 0;
  const school = $("lesson-room-school");
  const chosen = school.value;
  const schools = new Map(state.allClassrooms.map((c) => [String(c.school_id), c.school_name]));
  school.replaceChildren(
    school.options[0],
    ...[...schools].map(([value, text]) => el("option", { value, text })),
  );
  school.value = schools.has(chosen) ? chosen : "";
  filterLessonClassrooms();
}

// A county has hundreds of classrooms: the picker narrows the list by text (name, school,
// region) and school, and invites or uninvites what it shows at once. Hidden boxes keep their
// state: narrowing never changes who is invited.
function filterLessonClassrooms() {
  const words = $("lesson-room-search").value.trim().toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const school = $("lesson-room-school").value;
  for (const row of $("lesson-classroom-list").children) {
    const shown =
      (!school || row.dataset.school === school) &&
      words.every((word) => row.dataset.find.includes(word));
    row.hidden = !shown;
  }
  countLessonClassrooms();
}

function countLessonClassrooms() {
  const rows = [...$("lesson-classroom-list").children];
  $("lesson-room-count").textContent = t("lessons.pickCount", {
    invited: rows.filter((r) => r.querySelector("input").checked).length,
    shown: rows.filter((r) => !r.hidden).length,
    total: rows.length,
  });
}

function checkShownClassrooms(checked) {
  for (const row of $("lesson-classroom-list").children) {
    if (!row.hidden) row.querySelector("input").checked = checked;
  }
  countLessonClassrooms();
}

function setLessonChecks(ids) {
  const wanted = new Set(ids);
  for (const box of $("lesson-classroom-list").querySelectorAll("input")) {
    box.checked = wanted.has(Number(box.value));
  }
  countLessonClassrooms();
}

function editLesson(lesson) {
  $("lesson-id").value = lesson.id;
  $("lesson-title").value = lesson.title;
  fillLessonPickers(lesson);
  $("lesson-description").value = lesson.description || "";
  $("lesson-lecturer").value = lesson.lecturer_name || "";
  $("lesson-start").value = toLocalInput(lesson.scheduled_start);
  $("lesson-end").value = toLocalInput(lesson.scheduled_end);
  setLessonChecks(lesson.classroom_ids);
  $("lesson-open").checked = Boolean(lesson.open_to_all);
  $("lesson-form-title").textContent = t("lessons.editTitle", { name: lesson.title });
  $("lesson-title").focus();
}

function resetLessonForm() {
  $("lesson-form").reset();
  $("lesson-repeat-fields").hidden = true;
  $("lesson-id").value = "";
  fillLessonPickers({ subject_id: "", grade_id: "" });
  setLessonChecks([]);
  $("lesson-form-title").textContent = t("lessons.new");
}

// ------------------------------------------------------------------ lesson series

const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

function renderRepeatDays() {
  const box = $("lesson-repeat-days");
  if (box.querySelector("input")) return;
  box.append(
    ...WEEKDAYS.map((day) => {
      const id = `lesson-repeat-${day}`;
      return el(
        "div",
        { class: "check" },
        el("input", { type: "checkbox", id, value: day }),
        el("label", { for: id, text: t(`series.day.${day.toLowerCase()}`) }),
      );
    }),
  );
}

/** "2027-10-01" or "2027-10-01 – 2027-10-07" per line: every date they name. */
function skipDates(text) {
  const dates = [];
  for (const line of text.split(/\n|,/)) {
    const found = line.match(/\d{4}-\d{2}-\d{2}/g) || [];
    if (found.length === 1) dates.push(found[0]);
    if (found.length >= 2) {
      const day = new Date(`${found[0]}T00:00:00Z`);
      const last = new Date(`${found[1]}T00:00:00Z`);
      for (let n = 0; day <= last && n < 400; n++) {
        dates.push(day.toISOString().slice(0, 10));
        day.setUTCDate(day.getUTCDate() + 1);
      }
    }
  }
  return dates;
}

/** The series body for the form, or a key of what is missing. */
function seriesBody(base, startInput, endInput) {
  const days = [...$("lesson-repeat-days").querySelectorAll("input:checked")].map((i) => i.value);
  const until = $("lesson-repeat-until").value;
  if (!days.length) return { problem: ["series.daysRequired", "lesson-repeat-MO"] };
  if (!until) return { problem: ["series.untilRequired", "lesson-repeat-until"] };
  const minutes = Math.round((new Date(endInput) - new Date(startInput)) / 60000);
  return {
    body: {
      title: base.title,
      subject_id: base.subject_id,
      grade_id: base.grade_id,
      description: base.description,
      lecturer_name: base.lecturer_name,
      open_to_all: base.open_to_all,
      classroom_ids: base.classroom_ids,
      // The wall time as typed: the hub reads it in the county's time zone.
      first_start: `${startInput}:00`.slice(0, 19),
      duration_minutes: minutes,
      rule: `FREQ=WEEKLY;BYDAY=${days.join(",")};UNTIL=${until.replaceAll("-", "")}T235959`,
      skip_dates: skipDates($("lesson-repeat-skip").value),
    },
  };
}

async function saveSeries(body) {
  const planned = await api.post("/api/lessons/series", { ...body, dry_run: true });
  const times = planned.occurrences;
  const message = t("series.confirm", {
    count: times.length,
    first: formatDateTime(times[0].scheduled_start, lang),
    last: formatDateTime(times[times.length - 1].scheduled_start, lang),
  });
  if (!(await confirmDialog($("confirm-dialog"), message))) return false;
  const made = await api.post("/api/lessons/series", body);
  say(t("series.created", { count: made.lessons.length, name: body.title }));
  return true;
}

async function saveLesson(ev) {
  ev.preventDefault();
  const title = $("lesson-title").value.trim();
  const start = fromLocalInput($("lesson-start").value);
  const end = fromLocalInput($("lesson-end").value);
  let problem = null;
  if (!title) problem = ["lessons.titleRequired", "lesson-title"];
  else if (!start) problem = ["lessons.startRequired", "lesson-start"];
  else if (!end) problem = ["lessons.endRequired", "lesson-end"];
  else if (new Date(end) <= new Date(start)) problem = ["lessons.endAfterStart", "lesson-end"];
  if (problem) {
    fail(new Error(t(problem[0])));
    $(problem[1]).focus();
    return;
  }
  const body = {
    title,
    ...lessonPicks(),
    lecturer_name: $("lesson-lecturer").value.trim(),
    scheduled_start: start,
    scheduled_end: end,
    open_to_all: $("lesson-open").checked,
    classroom_ids: [...$("lesson-classroom-list").querySelectorAll("input:checked")].map((i) =>
      Number(i.value),
    ),
  };
  const id = $("lesson-id").value;
  if (!id && $("lesson-repeat").checked) {
    const series = seriesBody(body, $("lesson-start").value, $("lesson-end").value);
    if (series.problem) {
      fail(new Error(t(series.problem[0])));
      $(series.problem[1]).focus();
      return;
    }
    await guarded(async () => {
      if (!(await saveSeries(series.body))) return;
      resetLessonForm();
      await loadLessons();
    });
    return;
  }
  await guarded(async () => {
    if (id) await api.patch(`/api/lessons/${id}`, body);
    else await api.post("/api/lessons", body);
    say(t(id ? "lessons.updated" : "lessons.created", { name: title }));
    resetLessonForm();
    await loadLessons();
  });
}

async function setLive(lesson, action) {
  if (action === "end") {
    const message = t("lessons.confirmEnd", { name: lesson.title });
    if (!(await confirmDialog($("confirm-dialog"), message))) return;
  }
  await guarded(async () => {
    await api.post(`/api/lessons/${lesson.id}/${action}`);
    say(t(action === "start" ? "lessons.started" : "lessons.ended", { name: lesson.title }));
    await loadLessons();
  });
}

async function lecturerLink(lesson) {
  await guarded(async () => {
    const link = await api.post(`/api/lessons/${lesson.id}/lecturer-link`);
    const dialog = $("link-dialog");
    $("link-dialog-lesson").textContent = lesson.title;
    $("lecturer-link").value = link.url;
    // The same access publishes over WHIP: the URL on the link's own origin (the public URL).
    $("whip-url").value = new URL(`/whip/${encodeURIComponent(lesson.join_code)}`, link.url).href;
    $("whip-token").value = link.token;
    await showRtmpKey(lesson);
    const days = Math.round((link.expires_in_s / 86400) * 10) / 10;
    $("link-expiry").textContent = t("link.expires", { days });
    dialog.querySelector("[data-copy-status]").textContent = "";
    dialog.showModal();
    $("lecturer-link").select();
  });
}

/** The lesson's RTMP stream key (its current one, or a new one): hidden when the bridge is off. */
async function showRtmpKey(lesson) {
  const rtmp = await api.get(`/api/lessons/${lesson.id}/rtmp`);
  const key = !rtmp.enabled ? null : rtmp.key || (await api.post(`/api/lessons/${lesson.id}/rtmp-key`));
  $("rtmp-section").hidden = key === null;
  $("rtmp-url").value = key ? key.server_url : "";
  $("rtmp-key").value = key ? key.stream_key : "";
}

async function deleteLesson(lesson) {
  const message = t("lessons.confirmDelete", { name: lesson.title });
  if (!(await confirmDialog($("confirm-dialog"), message))) return;
  await guarded(async () => {
    await api.del(`/api/lessons/${lesson.id}`);
    say(t("lessons.deleted", { name: lesson.title }));
    if (state.lessons.items.length === 1 && state.lessons.offset > 0)
      state.lessons.offset -= PAGE_SIZE;
    await loadLessons();
  });
}

// ------------------------------------------------------------------ links and tokens

// ------------------------------------------------------------------ data feed

const EVENT_TYPES = [
  "lesson.started",
  "lesson.ended",
  "attendance.final",
  "recording.ready",
  "classroom.dropped",
  "replay.summary",
];

function renderEventChecks() {
  const box = $("webhook-events");
  if (box.querySelector("input")) return;
  box.append(
    ...EVENT_TYPES.map((type) => {
      const id = `webhook-event-${type.replace(".", "-")}`;
      return el(
        "div",
        { class: "check" },
        el("input", { type: "checkbox", id, value: type }),
        el("label", { for: id, text: type }),
      );
    }),
  );
}

async function loadWebhooks() {
  renderEventChecks();
  const hooks = await api.get("/api/webhooks");
  $("webhooks-body").replaceChildren(
    ...hooks.map((hook) => {
      const name = hook.description || hook.url;
      const all = hook.events.length === EVENT_TYPES.length;
      const log = () => guarded(() => loadDeliveries(hook));
      const remove = () => deleteWebhook(hook, name);
      return el(
        "tr",
        { dataset: { id: hook.id } },
        el("td", { text: hook.url }),
        el("td", { text: all ? t("feed.allEvents") : hook.events.join(", ") }),
        el("td", { text: hook.description || "—" }),
        el("td", { text: formatDateTime(hook.created_at, lang) }),
        el("td", { class: "row-actions" }, [
          actionButton("feed.log", "feed.logNamed", name, log),
          dangerGroup(actionButton("common.delete", "feed.deleteNamed", name, remove, "small danger")),
        ]),
      );
    }),
  );
  $("webhooks-empty").hidden = hooks.length > 0;
}

async function loadDeliveries(hook) {
  const rows = await api.get(`/api/webhooks/${hook.id}/deliveries`, { limit: 100 });
  $("deliveries-title").textContent = t("feed.logTitle", { name: hook.description || hook.url });
  $("deliveries-body").replaceChildren(
    ...rows.map((d) => {
      let when = "—";
      if (d.delivered_at) when = formatDateTime(d.delivered_at, lang);
      else if (d.next_attempt_at) when = formatDateTime(d.next_attempt_at, lang);
      return el(
        "tr",
        { dataset: { id: d.id, state: d.state } },
        el("td", { text: `#${d.id}` }),
        el("td", { text: d.event_type }),
        el("td", {
          class: d.state === "failed" ? "warn-text" : "",
          text: t(`feed.state.${d.state}`),
        }),
        el("td", { text: String(d.attempts) }),
        el("td", { text: d.last_error || (d.last_status ? `HTTP ${d.last_status}` : "—") }),
        el("td", { text: when }),
      );
    }),
  );
  $("deliveries-empty").hidden = rows.length > 0;
  $("deliveries-pane").hidden = false;
}

async function addWebhook(ev) {
  ev.preventDefault();
  const url = $("webhook-url").value.trim();
  if (!/^https?:\/\/\S+$/.test(url)) {
    fail(new Error(t("feed.urlRequired")));
    $("webhook-url").focus();
    return;
  }
  const events = [...$("webhook-events").querySelectorAll("input:checked")].map((i) => i.value);
  await guarded(async () => {
    const created = await api.post("/api/webhooks", {
      url,
      events,
      description: $("webhook-description").value.trim(),
    });
    $("webhook-form").reset();
    const dialog = $("webhook-dialog");
    $("webhook-secret").value = created.secret;
    dialog.querySelector("[data-copy-status]").textContent = "";
    dialog.addEventListener(
      "close",
      () => {
        $("webhook-secret").value = ""; // the secret leaves the page with the dialog
        $("webhook-url").focus();
      },
      { once: true },
    );
    dialog.showModal();
    await loadWebhooks();
  });
}

async function deleteWebhook(hook, name) {
  if (!(await confirmDialog($("confirm-dialog"), t("feed.confirmDelete", { name })))) return;
  await guarded(async () => {
    await api.del(`/api/webhooks/${hook.id}`);
    say(t("feed.deleted", { name }));
    $("deliveries-pane").hidden = true;
    await loadWebhooks();
  });
}

// ------------------------------------------------------------------ fleet board

const FLEET_DEVICES = ["camera", "microphone", "speaker", "display"];

async function loadFleet() {
  const school = $("fleet-school");
  const chosen = school.value;
  const [board, schools] = await Promise.all([
    api.get("/api/fleet", {
      school_id: chosen || undefined,
      problem: $("fleet-problem").value || undefined,
    }),
    fetchAll("/api/schools"),
  ]);
  school.replaceChildren(
    school.options[0],
    ...schools.map((s) => el("option", { value: String(s.id), text: s.name })),
  );
  school.value = chosen;
  const rows = board.classrooms;
  $("fleet-body").replaceChildren(...rows.map(fleetRow));
  $("fleet-empty").hidden = rows.length > 0;
  $("fleet-summary").textContent = t("fleet.summary", {
    shown: rows.length,
    online: rows.filter((r) => r.online).length,
    problems: rows.filter((r) => r.problems.length).length,
  });
}

function fleetRow(row) {
  let state;
  if (row.problems.includes("not_enrolled")) state = t("fleet.notEnrolled");
  else if (row.online) state = t("fleet.online");
  else if (row.last_seen_at) {
    state = t("fleet.lastSeen", { when: formatDateTime(row.last_seen_at, lang) });
  } else state = t("fleet.neverSeen");
  const missing = row.devices ? FLEET_DEVICES.filter((d) => row.devices[d] === "missing") : [];
  let devices = "—";
  if (missing.length) {
    const names = missing.map((d) => t(`fleet.device.${d}`)).join(", ");
    devices = t("fleet.missing", { devices: names });
  } else if (row.devices) {
    devices = t("fleet.devicesOk");
  }
  const check = row.check
    ? [
        t(row.check.ok ? "fleet.checkOk" : "fleet.checkFailed"),
        row.check.summary,
        formatDateTime(row.check.checked_at, lang),
      ].join(" · ")
    : "—";
  const next = row.next_lesson
    ? `${row.next_lesson.title} · ${
        row.next_lesson.status === "live"
          ? t("status.live")
          : formatDateTime(row.next_lesson.scheduled_start, lang)
      }`
    : "—";
  return el(
    "tr",
    { dataset: { id: row.classroom_id, problems: row.problems.join(" ") } },
    el("th", { scope: "row", text: row.classroom }),
    el("td", { text: row.school }),
    el("td", { class: row.online ? "" : "warn-text", text: state }),
    el("td", { text: row.agent || "—" }),
    el("td", { class: missing.length ? "warn-text" : "", text: devices }),
    el("td", { class: row.check && !row.check.ok ? "warn-text" : "", text: check }),
    el("td", { text: next }),
  );
}

async function loadAccess() {
  const active = !$("access-all").checked;
  // Each link names its lesson (lesson_title): a term's thousand lessons are not fetched.
  const rows = await api.get("/api/tokens", { active });
  const now = Date.now();
  $("access-body").replaceChildren(
    ...rows.map((row) => {
      const who =
        row.kind === "lecturer_link" || row.kind === "rtmp_key"
          ? t("access.lessonNamed", { name: row.lesson_title || `#${row.lesson_id}` })
          : row.label || t("access.staff");
      const expired = new Date(row.expires_at).getTime() <= now;
      let stateKey = "access.active";
      if (row.revoked_at) stateKey = "access.revoked";
      else if (expired) stateKey = "access.expired";
      const actions = [];
      if (stateKey === "access.active") {
        const revoke = () => revokeToken(row, who);
        actions.push(
          actionButton("access.revoke", "access.revokeNamed", who, revoke, "small danger"),
        );
      }
      return el(
        "tr",
        { dataset: { id: row.id, kind: row.kind } },
        el("td", { text: t(`access.kind.${row.kind}`) }),
        el("td", { text: who }),
        el("td", { text: formatDateTime(row.created_at, lang) }),
        el("td", { text: formatDateTime(row.expires_at, lang) }),
        el("td", { text: t(stateKey) }),
        el("td", { class: "row-actions" }, actions),
      );
    }),
  );
  $("access-empty").hidden = rows.length > 0;
}

async function revokeToken(row, who) {
  const message = t("access.confirmRevoke", { name: who });
  if (!(await confirmDialog($("confirm-dialog"), message))) return;
  await guarded(async () => {
    await api.del(`/api/tokens/${row.id}`);
    say(t("access.revokedNamed", { name: who }));
    await loadAccess();
  });
}

// ------------------------------------------------------------------ tabs and start-up

let selectTab = () => {};

async function refreshTab(tab) {
  await guarded(async () => {
    if (tab.id === "tab-schools") await loadSchools();
    if (tab.id === "tab-classrooms") {
      await loadAllSchools();
      await loadClassrooms();
    }
    if (tab.id === "tab-lessons") {
      // A lecturer sees their own lessons, not the county's classrooms.
      if (state.me?.role !== "lecturer") await loadAllClassrooms();
      await loadVocabulary();
      if (!$("lesson-id").value) fillLessonPickers();
      await loadLessons();
    }
    if (tab.id === "tab-access") await loadAccess();
    if (tab.id === "tab-fleet") await loadFleet();
    if (tab.id === "tab-feed") await loadWebhooks();
    if (tab.id === "tab-timetable") {
      await loadAllClassrooms();
      await loadTimetableTab();
    }
    if (tab.id === "tab-reports") await loadReport();
    if (tab.id === "tab-subjects") await refreshVocabulary();
    if (tab.id === "tab-archive") {
      await loadAllSchools();
      await loadArchive(!state.me?.account || state.me.role === "county_admin", state.allSchools);
    }
    if (tab.id === "tab-people") {
      await loadAllSchools();
      await loadPeople();
    }
  });
}

async function enter() {
  showSignedIn(true);
  showError($("signin-error"), null);
  await guarded(async () => {
    await applyRole();
    if (!LIMITS[state.me.role]?.tabs.includes("tab-schools")) {
      await Promise.all([loadAllSchools(), loadAllClassrooms()]);
    }
    const current = document.querySelector('[role="tab"][aria-selected="true"]');
    await refreshTab(current || $("tab-schools"));
  });
}

function wireCopyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = $(button.dataset.copy);
      const ok = await copyText(field.value, field);
      const status = button.closest("dialog").querySelector("[data-copy-status]");
      status.textContent = t(ok ? "copy.done" : "copy.failed");
    });
  }
}

async function main() {
  ({ t, lang } = await loadStrings("admin"));
  api.onUnauthorized = (error) => signOut(error);
  selectTab = wireTabs(document.querySelector('[role="tablist"]'), (tab) => refreshTab(tab));
  wireCopyButtons();

  wireSignIn($("admin-key"), signIn, enter, t);
  $("sign-out").addEventListener("click", () => signOut());

  $("school-form").addEventListener("submit", saveSchool);
  $("school-cancel").addEventListener("click", resetSchoolForm);
  $("classroom-form").addEventListener("submit", saveClassroom);
  $("credential-form").addEventListener("submit", issueCredential);
  $("classrooms-school-filter").addEventListener("change", () => {
    state.classrooms.offset = 0;
    guarded(loadClassrooms);
  });
  $("lesson-form").addEventListener("submit", saveLesson);
  $("lesson-cancel").addEventListener("click", resetLessonForm);
  $("access-all").addEventListener("change", () => guarded(loadAccess));
  $("webhook-form").addEventListener("submit", addWebhook);
  wireTimetable({
    api,
    t,
    lang,
    guarded,
    say,
    confirm: $("confirm-dialog"),
    classrooms: () => state.allClassrooms,
  });
  renderRepeatDays();
  wireReports(api, t);
  wireVocabulary(api, t, fail);
  wireArchive(api, t, lang, fail, say);
  $("lesson-repeat").addEventListener("change", () => {
    $("lesson-repeat-fields").hidden = !$("lesson-repeat").checked;
  });
  $("fleet-school").addEventListener("change", () => guarded(loadFleet));
  $("fleet-problem").addEventListener("change", () => guarded(loadFleet));
  $("fleet-refresh").addEventListener("click", () => guarded(loadFleet));
  $("lesson-room-search").addEventListener("input", filterLessonClassrooms);
  $("lesson-room-school").addEventListener("change", filterLessonClassrooms);
  $("lesson-room-all").addEventListener("click", () => checkShownClassrooms(true));
  $("lesson-room-none").addEventListener("click", () => checkShownClassrooms(false));
  $("lesson-classroom-list").addEventListener("change", countLessonClassrooms);
  $("lessons-status-filter").addEventListener("change", () => {
    state.lessons.offset = 0;
    guarded(loadLessons);
  });

  $("person-form").addEventListener("submit", addPerson);
  $("people-link-copy").addEventListener("click", async () => {
    const ok = await copyText($("people-link-url").value, $("people-link-url"));
    say(t(ok ? "copy.done" : "copy.failed"));
  });

  await signInWithLink();
  document.body.dataset.ready = "true";
  if (api.bearer()) await enter();
  else $("signin-login").focus();
}

main().catch((error) => {
  showError($("signin-error"), error);
});
