// Lesson library: recorded lessons as cards with filters, and a player with chapters,
// a thumbnail strip, the on-stage timeline, the attendance table and a quality summary.
import {
  Api,
  ApiError,
  confirmDialog,
  copyText,
  el,
  formatBytes,
  formatDateTime,
  formatDuration,
  loadStrings,
  showError,
  wireSignIn,
} from "./api.js";
import { CapsuleForm } from "./capsule-form.js";
import { WatchReporter, renderHeat, replaySummary } from "./replay-data.js";

const PAGE_SIZE = 24;
/** Where a search found words (streamhub/catalog/search.py's sources; a newer one: "other"). */
function sourceName(source) {
  if (source === "title") return t("card.sourceTitle");
  if (source === "description") return t("card.sourceDescription");
  if (source === "chapter") return t("card.sourceChapter");
  if (source === "mark") return t("card.sourceMark");
  if (source === "question") return t("card.sourceQuestion");
  if (source === "capsule") return t("card.sourceCapsule");
  if (source === "capsule_topic") return t("card.sourceCapsuleTopic");
  return t("card.sourceOther");
}
const POLL_MS = 5000;
const api = new Api("streamhub.library.token");
const $ = (id) => document.getElementById(id);

let t = (k) => k;
let lang = "en";

const state = {
  offset: 0,
  page: null,
  pollTimer: null,
  current: null, // the recording open in the player
  // What the player is set up for ({ id, state }): null once closed, so opening the same
  // recording again sets it up again (its video, replay report, heat and capsule form).
  shown: null,
  manifest: null,
  playerPoll: null,
  listAbort: null,
  reporter: null, // replay data of the recording playing (WatchReporter)
};
let capsuleForm = null;

// The signed-in role (GET /api/me): county_admin for the admin key and county admins.
let role = "";
const isAdmin = () => role === "county_admin";

// ------------------------------------------------------------------ sign in / out

async function signIn(token) {
  const login = $("signin-login").value.trim();
  if (login) {
    // A person: their email and password give a session token (docs/roles.md).
    const session = await api.post("/api/session", { login, password: token }, { token: "" });
    api.token = session.token;
    $("signin-login").value = "";
    return;
  }
  // A staff-or-admin read proves the token; a lecturer/classroom token gets 403.
  await api.get("/api/lessons", { limit: 1 }, { token });
  api.token = token;
}

function signOut(error) {
  api.token = "";
  role = "";
  stopPolling();
  for (const id of ["list-view", "player-view", "session"]) $(id).hidden = true;
  $("signin-view").hidden = false;
  showError($("signin-error"), error || null, t, error ? "signin.expired" : undefined);
  stopVideos();
  $("token").focus();
}

async function enter() {
  $("signin-view").hidden = true;
  $("session").hidden = false;
  showError($("signin-error"), null);
  const me = await api.get("/api/me");
  role = me.role;
  $("session-who").textContent = me.account
    ? t("session.person", { name: me.account.display_name || me.account.login })
    : t(isAdmin() ? "session.admin" : "session.staff");
  $("mint-staff").hidden = !isAdmin();
  loadFilterChoices().catch((error) => showError($("list-error"), error, t));
  await route();
}

// ------------------------------------------------------------------ filters

/** Replace a select's options after its first ("any …"), keeping what was chosen. */
function fillSelect(id, options) {
  const select = $(id);
  const keep = select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...options.map(([value, text]) => el("option", { value, text })));
  select.value = keep;
}

async function loadFilterChoices() {
  const lecturer = role === "lecturer";
  const [rooms, lessons, subjects, grades, schools] = await Promise.all([
    // A lecturer's account lists its own lessons, and no classrooms or schools.
    lecturer ? { items: [] } : api.get("/api/classrooms", { limit: 500 }),
    api.get("/api/lessons", { limit: 500 }),
    api.get("/api/subjects"),
    api.get("/api/grades"),
    lecturer ? { items: [] } : api.get("/api/schools", { limit: 500 }),
  ]);
  fillSelect("f-subject", subjects.map((s) => [String(s.id), s.name]));
  fillSelect("f-grade", grades.map((g) => [String(g.id), g.name]));
  fillSelect("f-school", schools.items.map((s) => [String(s.id), s.name]));
  const select = $("f-classroom");
  const keep = select.value;
  select.replaceChildren(
    el("option", { value: "", text: t("filters.anyClassroom") }),
    ...rooms.items.map((c) => el("option", { value: c.id, text: `${c.name} · ${c.school_name}` })),
  );
  select.value = keep;
  const distinct = (key) =>
    [...new Set(lessons.items.map((x) => x[key]).filter(Boolean))].sort((a, b) =>
      a.localeCompare(b, lang),
    );
  $("lecturers").replaceChildren(
    ...distinct("lecturer_name").map((v) => el("option", { value: v })),
  );
}

function filterQuery() {
  return {
    q: $("f-q").value.trim(),
    subject_id: $("f-subject").value,
    grade_id: $("f-grade").value,
    school_id: $("f-school").value,
    weekday: $("f-weekday").value,
    period: $("f-period").value,
    // "newest" is the hub's default: left out of the query.
    sort: $("f-sort").value === "newest" ? "" : $("f-sort").value,
    lecturer: $("f-lecturer").value.trim(),
    classroom_id: $("f-classroom").value,
    date_from: dayStart($("f-from").value, 0),
    date_to: dayStart($("f-to").value, 1), // exclusive: the start of the next day
  };
}

/** A date input's day (local time), shifted by `days`, as an ISO instant; "" when empty. */
function dayStart(value, days) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
  if (!m) return "";
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days).toISOString();
}

function applyFilters() {
  state.offset = 0;
  loadList();
}

let debounce = null;
function applySoon() {
  clearTimeout(debounce);
  debounce = setTimeout(applyFilters, 400);
}

// ------------------------------------------------------------------ list

function stopPolling() {
  clearTimeout(state.pollTimer);
  clearTimeout(state.playerPoll);
  state.pollTimer = null;
  state.playerPoll = null;
}

async function loadList({ quiet = false } = {}) {
  clearTimeout(state.pollTimer);
  if (state.listAbort) state.listAbort.abort();
  const abort = new AbortController();
  state.listAbort = abort;
  if (!quiet) $("cards").setAttribute("aria-busy", "true");
  try {
    const filters = filterQuery();
    const page = await api.get(
      "/api/recordings",
      { ...filters, limit: PAGE_SIZE, offset: state.offset },
      { signal: abort.signal },
    );
    state.page = page;
    showError($("list-error"), null);
    renderList(page, Object.entries(filters).some(([key, value]) => key !== "sort" && value));
    // Recordings still being written or finalized: refresh until they settle.
    if (page.items.some((r) => ["recording", "stopped", "finalizing"].includes(r.state))) {
      state.pollTimer = setTimeout(() => {
        if (!$("list-view").hidden) loadList({ quiet: true });
      }, POLL_MS);
    }
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error instanceof ApiError && error.status === 401) return;
    showError($("list-error"), error, t, "list.failed");
  } finally {
    if (state.listAbort === abort) $("cards").removeAttribute("aria-busy");
  }
}

function renderList(page, filtered) {
  $("cards").replaceChildren(...page.items.map(card));
  $("empty").hidden = page.total > 0;
  $("empty-text").textContent = t(filtered ? "list.noMatch" : "list.empty");
  const count = t("list.count", { total: page.total });
  // What "last week" or "this term" meant: days in the county's time zone.
  const span = page.period
    ? t("list.period", { first: page.period.first_day, last: page.period.last_day })
    : "";
  $("results-count").textContent = [count, span].filter(Boolean).join(" · ");
  const pager = $("pager");
  pager.replaceChildren();
  if (page.total > PAGE_SIZE) {
    const first = page.offset + 1;
    const last = Math.min(page.offset + PAGE_SIZE, page.total);
    pager.append(
      el("button", {
        type: "button",
        class: "secondary",
        text: t("pager.prev"),
        disabled: page.offset === 0,
        onclick: () => {
          state.offset = Math.max(0, page.offset - PAGE_SIZE);
          loadList();
        },
      }),
      el("span", { text: t("pager.range", { first, last, total: page.total }) }),
      el("button", {
        type: "button",
        class: "secondary",
        text: t("pager.next"),
        disabled: last >= page.total,
        onclick: () => {
          state.offset = page.offset + PAGE_SIZE;
          loadList();
        },
      }),
    );
  }
}

function stateBadge(rec) {
  return el("span", { class: `badge ${rec.state}`, text: t(`state.${rec.state}`) });
}

function progressOf(rec) {
  const p = Math.max(0, Math.min(1, Number(rec.progress) || 0));
  return el("progress", {
    max: 1,
    value: p,
    "aria-label": t("card.progressNamed", { name: rec.title, pct: Math.round(p * 100) }),
  });
}

function card(rec) {
  const ready = rec.state === "ready";
  const open = () => openRecording(rec.id);
  const poster = el(
    "div",
    { class: "poster", onclick: ready ? open : undefined },
    rec.poster_url && ready
      ? el("img", { src: rec.poster_url, alt: "", loading: "lazy" })
      : el("div", { class: "placeholder", text: t(`state.${rec.state}`) }),
    rec.duration_s ? el("span", { class: "duration", text: formatDuration(rec.duration_s) }) : null,
  );
  if (ready) poster.style.cursor = "pointer";
  // Every card opens the player: a recording not ready shows its state there (and an admin
  // can delete a failed one).
  const title = el("button", {
    type: "button",
    text: rec.title,
    "aria-label": t(ready ? "card.playNamed" : "card.openNamed", {
      name: rec.title,
      state: t(`state.${rec.state}`),
    }),
    onclick: open,
  });
  const when = rec.started_at ? formatDateTime(rec.started_at, lang) : "";
  const details = [
    rec.subject,
    rec.grade,
    rec.lecturer_name ? t("card.lecturer", { name: rec.lecturer_name }) : "",
  ].filter(Boolean);
  const body = el(
    "div",
    { class: "body" },
    el("h3", {}, title),
    el("div", { class: "meta", text: details.join(" · ") }),
    el(
      "div",
      { class: "meta" },
      [when, rec.duration_s ? formatDuration(rec.duration_s) : ""].filter(Boolean).join(" · "),
    ),
    // Replay data: how often it was played back, and for how long (re-watches included).
    ready
      ? el("div", {
          class: "meta views",
          text: t("card.views", { views: rec.views || 0, time: formatDuration(rec.watch_s || 0) }),
        })
      : null,
    ...(rec.matches || []).map((m) =>
      el("div", {
        class: "meta match",
        text: t(m.at_s === null ? "card.match" : "card.matchAt", {
          where: sourceName(m.source),
          text: m.text,
          at: formatDuration(m.at_s || 0),
        }),
      }),
    ),
    ready ? null : el("div", {}, stateBadge(rec)),
    // A recording that stopped before the lesson ended (a full disk) keeps what it has.
    rec.partial
      ? el("div", {}, el("span", { class: "badge partial", text: t("card.partial") }))
      : null,
    rec.note ? el("div", { class: "meta note", text: rec.note.trim() }) : null,
    rec.state === "recording" || rec.state === "finalizing" ? progressOf(rec) : null,
    rec.state === "failed" && rec.failure_reason
      ? el("div", { class: "meta quality-poor", text: rec.failure_reason })
      : null,
  );
  return el("li", { class: "rec-card", dataset: { id: rec.id, state: rec.state } }, poster, body);
}

// ------------------------------------------------------------------ routing

function recordingFromHash() {
  const m = /^#recording=(\d+)$/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

function openRecording(id) {
  location.hash = `recording=${id}`;
}

async function route() {
  if ($("session").hidden) return;
  const id = recordingFromHash();
  if (id) {
    $("list-view").hidden = true;
    $("player-view").hidden = false;
    clearTimeout(state.pollTimer);
    await openPlayer(id);
  } else {
    const wasPlayer = !$("player-view").hidden;
    closePlayer();
    $("player-view").hidden = true;
    $("list-view").hidden = false;
    await loadList();
    if (wasPlayer && state.current) {
      const back = document.querySelector(`.rec-card[data-id="${state.current.id}"] h3 button`);
      if (back) back.focus();
    }
  }
}

// ------------------------------------------------------------------ player

function stopVideos() {
  state.shown = null;
  state.reporter?.close();
  state.reporter = null;
  capsuleForm?.close();
  for (const v of [$("video"), $("screen")]) {
    v.pause();
    v.removeAttribute("src");
    v.removeAttribute("poster");
    v.load();
  }
}

function closePlayer() {
  clearTimeout(state.playerPoll);
  if (!$("player-view").hidden) stopVideos();
}

async function openPlayer(id) {
  clearTimeout(state.playerPoll);
  showError($("player-error"), null);
  let rec;
  try {
    rec = await api.get(`/api/recordings/${id}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("player-error"), error, t, "player.failed");
    $("player-title").textContent = t("player.unknown");
    return;
  }
  const same = state.shown?.id === rec.id && state.shown.state === rec.state;
  state.current = rec;
  state.shown = { id: rec.id, state: rec.state };
  $("player-title").textContent = rec.title;
  $("player-title").focus?.();
  $("player-state").replaceChildren(rec.state === "ready" ? "" : stateBadge(rec));
  const meta = [
    rec.subject,
    rec.lecturer_name ? t("card.lecturer", { name: rec.lecturer_name }) : "",
    rec.started_at ? formatDateTime(rec.started_at, lang) : "",
    rec.duration_s ? formatDuration(rec.duration_s) : "",
    rec.size_bytes ? formatBytes(rec.size_bytes) : "",
    rec.join_code ? t("player.code", { code: rec.join_code }) : "",
  ].filter(Boolean);
  if (rec.partial) meta.push(t("card.partial"));
  $("player-meta").textContent = meta.join(" · ");
  $("danger-zone").hidden = !isAdmin();
  document.title = `${rec.title} · ${t("page.title")}`;

  const ready = rec.state === "ready";
  $("not-ready").hidden = ready;
  $("videos").hidden = !ready;
  $("thumbstrip").hidden = !ready;
  $("download").hidden = !ready || !rec.download_url;
  $("speed").disabled = !ready;
  if (!ready) {
    $("not-ready-text").textContent =
      rec.state === "failed"
        ? t("player.failedState", { reason: rec.failure_reason || t("player.noReason") })
        : t(`player.${rec.state}`, {
            pct: Math.round((Number(rec.progress) || 0) * 100),
            note: (rec.note || "").trim(),
          });
    $("not-ready-progress").hidden = rec.state === "failed";
    $("not-ready-progress").value = Math.max(0, Math.min(1, Number(rec.progress) || 0));
    if (rec.state !== "failed") {
      state.playerPoll = setTimeout(() => {
        if (recordingFromHash() === id) openPlayer(id);
      }, POLL_MS);
    }
  }
  if (ready && !same) setupVideos(rec);
  if (!same) {
    renderChapters([]);
    renderStage([]);
    renderThumbs([]);
    $("heat").replaceChildren();
    $("replay-summary").textContent = "";
    $("suggestions").replaceChildren();
  }
  if (!ready) capsuleForm.close();
  const tasks = [loadAttendance(rec)];
  if (ready && !same) tasks.push(loadManifest(rec), loadReplay(rec));
  await Promise.all(tasks);
}

function setupVideos(rec) {
  const video = $("video");
  const screen = $("screen");
  state.reporter?.close();
  state.reporter = new WatchReporter(api, video, { recording_id: rec.id });
  video.src = rec.media_url;
  if (rec.poster_url) video.poster = rec.poster_url;
  video.playbackRate = Number($("speed").value);
  $("download").href = rec.download_url || rec.media_url;
  const hasScreen = Boolean(rec.has_screen && rec.screen_url);
  $("screen-wrap").hidden = !hasScreen;
  $("swap").hidden = !hasScreen;
  $("videos").classList.toggle("with-screen", hasScreen);
  if (hasScreen) {
    screen.src = rec.screen_url;
    screen.playbackRate = video.playbackRate;
  } else {
    screen.removeAttribute("src");
  }
}

async function loadManifest(rec) {
  if (!rec.manifest_url) return;
  try {
    const manifest = await api.get(rec.manifest_url);
    if (state.current?.id !== rec.id) return;
    state.manifest = manifest;
    capsuleForm.open(rec, manifest);
    renderChapters(manifest.chapters || []);
    renderStage(manifest.stage_periods || []);
    renderThumbs(manifest.thumbnails || []);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    capsuleForm.open(rec, null);
    showError($("player-error"), error, t, "player.manifestFailed");
  }
}

// ------------------------------------------------------------------ replay data

async function loadReplay(rec) {
  let replay;
  try {
    replay = await api.get(`/api/recordings/${rec.id}/replay`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    $("replay-summary").textContent = t("replay.failed");
    return;
  }
  if (state.current?.id !== rec.id) return;
  $("replay-summary").textContent = replaySummary(replay, t);
  renderHeat($("heat"), replay, t, seek);
  $("suggestions").replaceChildren(
    ...replay.suggestions.map((s) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "secondary small",
            "aria-label": t("replay.useNamed", {
              from: formatDuration(s.start_s),
              to: formatDuration(s.end_s),
            }),
            onclick: () => {
              seek(s.start_s);
              capsuleForm.setEnds(s.start_s, s.end_s);
            },
          },
          el("span", { class: "time", text: `${formatDuration(s.start_s)}–${formatDuration(s.end_s)}` }),
          el("span", { text: t("replay.played", { plays: s.plays }) }),
        ),
      ),
    ),
  );
  $("suggestions-empty").hidden = replay.suggestions.length > 0;
}

function seek(seconds) {
  const video = $("video");
  video.currentTime = Math.max(0, Number(seconds) || 0);
  syncScreen(true);
}

function renderChapters(chapters) {
  const list = $("chapters");
  list.replaceChildren(
    ...chapters.map((c) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            // A lesson's own chapters (a question, the lecturer's mark) say so.
            dataset: { start: c.start_s, kind: c.kind || "recording" },
            "aria-label": t("player.chapterNamed", {
              name: c.title,
              time: formatDuration(c.start_s),
            }),
            onclick: () => seek(c.start_s),
          },
          el("span", { class: "time", text: formatDuration(c.start_s) }),
          el("span", { text: c.title }),
        ),
      ),
    ),
  );
  $("chapters-empty").hidden = chapters.length > 0;
}

function renderStage(periods) {
  $("stage").replaceChildren(
    ...periods.map((p) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            "aria-label": t("player.stageNamed", {
              name: p.name || p.participant,
              from: formatDuration(p.start_s),
              to: formatDuration(p.end_s),
            }),
            onclick: () => seek(p.start_s),
          },
          el("span", {
            class: "time",
            text: `${formatDuration(p.start_s)}–${formatDuration(p.end_s)}`,
          }),
          el("span", { text: p.name || p.participant }),
        ),
      ),
    ),
  );
  $("stage-empty").hidden = periods.length > 0;
}

function renderThumbs(thumbs) {
  $("thumbstrip").replaceChildren(
    ...thumbs.map((th) =>
      el(
        "button",
        {
          type: "button",
          dataset: { t: th.t_s },
          "aria-label": t("player.seekTo", { time: formatDuration(th.t_s) }),
          onclick: () => seek(th.t_s),
        },
        el("img", { src: th.url, alt: "", loading: "lazy" }),
        el("span", { text: formatDuration(th.t_s), "aria-hidden": "true" }),
      ),
    ),
  );
}

function highlightTime() {
  const now = $("video").currentTime;
  let currentChapter = null;
  for (const b of $("chapters").querySelectorAll("button")) {
    if (Number(b.dataset.start) <= now + 0.25) currentChapter = b;
  }
  for (const b of $("chapters").querySelectorAll("button")) {
    b.classList.toggle("current", b === currentChapter);
    if (b === currentChapter) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
  let currentThumb = null;
  for (const b of $("thumbstrip").querySelectorAll("button")) {
    if (Number(b.dataset.t) <= now + 0.25) currentThumb = b;
  }
  for (const b of $("thumbstrip").querySelectorAll("button")) {
    b.classList.toggle("current", b === currentThumb);
  }
}

/** Keep the screen-share video on the main player's clock. */
function syncScreen(force = false) {
  const video = $("video");
  const screen = $("screen");
  if ($("screen-wrap").hidden || !screen.src) return;
  if (force || Math.abs(screen.currentTime - video.currentTime) > 0.35) {
    try {
      screen.currentTime = video.currentTime;
    } catch {
      /* not seekable yet */
    }
  }
  screen.playbackRate = video.playbackRate;
  if (video.paused !== screen.paused) {
    if (video.paused) screen.pause();
    else screen.play().catch(() => {});
  }
}

async function loadAttendance(rec) {
  if (!rec.lesson_id) return;
  try {
    const [rows, register] = await Promise.all([
      api.get(`/api/lessons/${rec.lesson_id}/attendance`),
      api.get(`/api/lessons/${rec.lesson_id}/attendance/classrooms`),
    ]);
    if (state.current?.id !== rec.id) return;
    renderRegister(register);
    renderAttendance(rows);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("player-error"), error, t, "attendance.failed");
  }
}

function qualityClass(q) {
  if (q === null || q === undefined) return "";
  if (q >= 0.8) return "quality-good";
  if (q >= 0.5) return "quality-fair";
  return "quality-poor";
}

function qualityText(q) {
  if (q === null || q === undefined) return "—";
  const word = q >= 0.8 ? "good" : q >= 0.5 ? "fair" : "poor";
  return `${Math.round(q * 100)}% · ${t(`quality.${word}`)}`;
}

function renderRegister(lines) {
  $("register-body").replaceChildren(
    ...lines.map((line) =>
      el(
        "tr",
        { dataset: { classroom: line.classroom_id, status: line.status } },
        el("th", { scope: "row", text: line.name }),
        el("td", { text: line.school || "—" }),
        el("td", {
          class: line.status === "present" ? "" : "warn-text",
          text: t(`register.status.${line.status}`),
        }),
        el("td", {
          text: line.first_joined_at ? formatDateTime(line.first_joined_at, lang) : "—",
        }),
        el("td", { text: String(line.minutes_present) }),
        el("td", { text: String(line.drops) }),
        el("td", { text: String(line.audio_only_minutes) }),
        el("td", { class: qualityClass(line.quality), text: qualityText(line.quality) }),
      ),
    ),
  );
  $("register-empty").hidden = lines.length > 0;
}

async function downloadRegister() {
  const rec = state.current;
  if (!rec || !rec.lesson_id) return;
  try {
    const csv = await api.get(
      `/api/lessons/${rec.lesson_id}/attendance/classrooms`,
      { format: "csv" },
      { as: "text" },
    );
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    link.download = `lesson-${rec.lesson_id}-attendance.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("player-error"), error, t, "attendance.failed");
  }
}

function renderAttendance(rows) {
  rows.sort((a, b) => String(a.joined_at).localeCompare(String(b.joined_at)));
  $("attendance-body").replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        {},
        el("td", { text: r.name }),
        el("td", { text: t(`role.${r.role}`) }),
        el("td", { text: formatDateTime(r.joined_at, lang) }),
        el("td", { text: r.left_at ? formatDateTime(r.left_at, lang) : "—" }),
        el("td", { text: r.duration_s === null ? "—" : formatDuration(r.duration_s) }),
        el("td", { class: qualityClass(r.quality), text: qualityText(r.quality) }),
      ),
    ),
  );
  $("attendance-empty").hidden = rows.length > 0;

  // Quality summary: per participant, time-weighted where durations are known.
  const names = new Set(rows.map((r) => r.participant_id || r.name));
  const rooms = new Set(rows.filter((r) => r.role === "classroom").map((r) => r.classroom_id ?? r.name));
  const rated = rows.filter((r) => r.quality !== null && r.quality !== undefined);
  let avg = null;
  if (rated.length) {
    const weight = (r) => (r.duration_s && r.duration_s > 0 ? r.duration_s : 1);
    const total = rated.reduce((s, r) => s + weight(r), 0);
    avg = rated.reduce((s, r) => s + r.quality * weight(r), 0) / total;
  }
  const poor = new Set(rated.filter((r) => r.quality < 0.5).map((r) => r.participant_id || r.name));
  const worst = rated.length ? Math.min(...rated.map((r) => r.quality)) : null;
  const item = (key, value, cls) =>
    el("div", {}, el("dt", { text: t(key) }), el("dd", { class: cls || "", text: value }));
  $("quality-summary").replaceChildren(
    item("summary.participants", String(names.size)),
    item("summary.classrooms", String(rooms.size)),
    item("summary.average", avg === null ? "—" : qualityText(avg), qualityClass(avg)),
    item(
      "summary.poor",
      worst === null ? "—" : t("summary.poorValue", { n: poor.size, worst: Math.round(worst * 100) }),
      poor.size ? "quality-poor" : "",
    ),
  );
}

async function deleteCurrent() {
  const rec = state.current;
  if (!rec) return;
  const ok = await confirmDialog($("confirm-dialog"), t("player.confirmDelete", { name: rec.title }));
  if (!ok) return;
  try {
    await api.del(`/api/recordings/${rec.id}`);
    stopVideos();
    state.current = null;
    location.hash = "";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("player-error"), error, t, "player.deleteFailed");
  }
}

// ------------------------------------------------------------------ admin: mint a staff token

async function mintStaffToken() {
  try {
    const minted = await api.post("/api/tokens/staff");
    $("minted-token").value = minted.token;
    $("mint-expiry").textContent = t("mint.expires", {
      hours: Math.round((minted.expires_in_s / 3600) * 10) / 10,
    });
    $("mint-status").textContent = "";
    $("mint-dialog").showModal();
    $("minted-token").select();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("list-error"), error, t, "mint.failed");
  }
}

// ------------------------------------------------------------------ start-up

async function main() {
  ({ t, lang } = await loadStrings("library"));
  capsuleForm = new CapsuleForm(api, t, $("video"));
  api.onUnauthorized = (error) => signOut(error);

  wireSignIn($("token"), signIn, enter, t);
  $("sign-out").addEventListener("click", () => signOut());
  $("mint-staff").addEventListener("click", mintStaffToken);
  $("register-csv").addEventListener("click", downloadRegister);
  $("copy-minted").addEventListener("click", async () => {
    const ok = await copyText($("minted-token").value, $("minted-token"));
    $("mint-status").textContent = t(ok ? "copy.done" : "copy.failed");
  });
  $("mint-dialog").addEventListener("close", () => {
    $("minted-token").value = "";
  });

  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearTimeout(debounce);
    applyFilters();
  });
  for (const id of ["f-q", "f-lecturer"]) $(id).addEventListener("input", applySoon);
  for (const id of ["f-subject", "f-grade", "f-classroom", "f-school", "f-weekday", "f-period", "f-sort"]) {
    $(id).addEventListener("change", applyFilters);
  }
  for (const id of ["f-from", "f-to"]) $(id).addEventListener("change", applyFilters);
  $("f-reset").addEventListener("click", () => {
    $("filters").reset();
    applyFilters();
  });

  const video = $("video");
  $("speed").addEventListener("change", () => {
    video.playbackRate = Number($("speed").value);
    syncScreen();
  });
  video.addEventListener("timeupdate", () => {
    highlightTime();
    syncScreen();
  });
  for (const ev of ["play", "pause", "seeked", "ratechange"]) {
    video.addEventListener(ev, () => syncScreen(ev === "seeked"));
  }
  video.addEventListener("error", () => {
    if (video.getAttribute("src")) showError($("player-error"), new Error(t("player.mediaError")));
  });
  $("swap").addEventListener("click", () => {
    $("videos").classList.toggle("swapped");
  });
  $("back").addEventListener("click", () => {
    location.hash = "";
  });
  $("delete-recording").addEventListener("click", deleteCurrent);
  window.addEventListener("hashchange", () => route());

  document.body.dataset.ready = "true";
  if (api.bearer()) await enter();
  else $("token").focus();
}

main().catch((error) => showError($("signin-error"), error));
