// The capsule shelf (/capsules): knowledge capsules as cards, filtered by subject, grade,
// knowledge point and tag; a capsule opens in a player with its replay data, download, a link
// to share with staff (this page's URL: whoever opens it signs in, and sees it if they may) and,
// for whoever may, delete.
import {
  Api,
  ApiError,
  confirmDialog,
  copyText,
  el,
  formatDateTime,
  formatDuration,
  loadStrings,
  showError,
  wireSignIn,
} from "./api.js";
import { WatchReporter, renderHeat, replaySummary } from "./replay-data.js";

const PAGE_SIZE = 24;
// The library's key: a tab signed in there is signed in here.
const api = new Api("streamhub.library.token");
const $ = (id) => document.getElementById(id);
const FILTERS = { "f-subject": "subject", "f-grade": "grade", "f-point": "knowledge_point", "f-tag": "tag" };

let t = (k) => k;
let lang = "en";
const state = { offset: 0, current: null, reporter: null };

async function signIn(token) {
  const login = $("signin-login").value.trim();
  if (login) {
    const session = await api.post("/api/session", { login, password: token }, { token: "" });
    api.token = session.token;
    $("signin-login").value = "";
    return;
  }
  await api.get("/api/capsules", { limit: 1 }, { token });
  api.token = token;
}

function signOut(error) {
  api.token = "";
  stopPlayer();
  for (const id of ["list-view", "player-view", "session"]) $(id).hidden = true;
  $("signin-view").hidden = false;
  showError($("signin-error"), error || null, t, error ? "signin.expired" : undefined);
  $("token").focus();
}

async function enter() {
  $("signin-view").hidden = true;
  $("session").hidden = false;
  showError($("signin-error"), null);
  const me = await api.get("/api/me");
  $("session-who").textContent = me.account
    ? t("session.person", { name: me.account.display_name || me.account.login })
    : t(me.role === "county_admin" ? "session.admin" : "session.staff");
  loadFacets().catch((error) => showError($("list-error"), error, t));
  await route();
}

// ------------------------------------------------------------------ shelf

async function loadFacets() {
  const facets = await api.get("/api/capsules/facets");
  const lists = {
    "f-subject": facets.subjects,
    "f-grade": facets.grades,
    "f-point": facets.knowledge_points,
    "f-tag": facets.tags,
  };
  for (const [id, values] of Object.entries(lists)) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(
      el("option", { value: "", text: t("filters.any") }),
      ...values.map((v) => el("option", { value: v, text: v })),
    );
    select.value = values.includes(keep) ? keep : "";
  }
}

function query() {
  const q = { q: $("f-q").value.trim(), limit: PAGE_SIZE, offset: state.offset };
  for (const [id, name] of Object.entries(FILTERS)) q[name] = $(id).value;
  return q;
}

async function loadList() {
  showError($("list-error"), null);
  let page;
  try {
    page = await api.get("/api/capsules", query());
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("list-error"), error, t, "list.failed");
    return;
  }
  $("cards").replaceChildren(...page.items.map(card));
  $("empty").hidden = page.total > 0;
  const filtered = Object.values(query()).some((v) => typeof v === "string" && v);
  $("empty-text").textContent = t(filtered ? "list.noMatch" : "list.empty");
  $("results-count").textContent = t("list.count", { total: page.total });
  const pager = $("pager");
  pager.replaceChildren();
  if (page.total > PAGE_SIZE) {
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
      el("button", {
        type: "button",
        class: "secondary",
        text: t("pager.next"),
        disabled: page.offset + PAGE_SIZE >= page.total,
        onclick: () => {
          state.offset = page.offset + PAGE_SIZE;
          loadList();
        },
      }),
    );
  }
}

function details(c) {
  return [c.subject, c.grade, c.knowledge_point].filter(Boolean).join(" · ");
}

function tags(c) {
  return c.tags.map((x) => el("span", { class: "tag", text: x }));
}

function card(c) {
  const open = () => {
    location.hash = `capsule=${c.id}`;
  };
  const poster = el(
    "div",
    { class: "poster", onclick: open },
    c.thumb_url ? el("img", { src: c.thumb_url, alt: "", loading: "lazy" }) : null,
    el("span", { class: "duration", text: formatDuration(c.duration_s) }),
  );
  poster.style.cursor = "pointer";
  return el(
    "li",
    { class: "rec-card", dataset: { id: c.id } },
    poster,
    el(
      "div",
      { class: "body" },
      el("h3", {}, el("button", { type: "button", text: c.title, onclick: open })),
      el("div", { class: "meta", text: details(c) }),
      el("div", { class: "meta", text: t("card.from", { lesson: c.lesson_title, lecturer: c.lecturer_name }) }),
      el("div", { class: "meta", text: t("card.views", { views: c.views, time: formatDuration(c.watch_s) }) }),
      el("div", { class: "tags" }, tags(c)),
    ),
  );
}

// ------------------------------------------------------------------ player

function capsuleFromHash() {
  const m = /^#capsule=(\d+)$/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

function stopPlayer() {
  state.reporter?.close();
  state.reporter = null;
  const video = $("video");
  video.pause();
  video.removeAttribute("src");
  video.removeAttribute("poster");
  video.load();
}

async function openPlayer(id) {
  showError($("player-error"), null);
  $("share-status").textContent = "";
  let c;
  try {
    c = await api.get(`/api/capsules/${id}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    $("player-title").textContent = t("player.unknown");
    showError($("player-error"), error, t, "player.failed");
    return;
  }
  state.current = c;
  $("player-title").textContent = c.title;
  $("player-title").focus?.();
  document.title = `${c.title} · ${t("page.title")}`;
  $("player-meta").textContent = [
    details(c),
    t("card.from", { lesson: c.lesson_title, lecturer: c.lecturer_name }),
    `${formatDuration(c.start_s)}–${formatDuration(c.end_s)}`,
    formatDateTime(c.created_at, lang),
  ]
    .filter(Boolean)
    .join(" · ");
  $("player-tags").replaceChildren(...tags(c));
  const video = $("video");
  stopPlayer();
  state.reporter = new WatchReporter(api, video, { capsule_id: c.id });
  video.src = c.media_url;
  if (c.poster_url) video.poster = c.poster_url;
  // No link when the capsule's school turned downloads off.
  $("download").hidden = !c.download_url;
  if (c.download_url) $("download").href = c.download_url;
  $("source").hidden = c.recording_id === null;
  if (c.recording_id !== null) $("source").href = `/library#recording=${c.recording_id}`;
  $("delete").hidden = !c.can_delete;
  try {
    const replay = await api.get(`/api/capsules/${c.id}/replay`);
    $("replay-summary").textContent = replaySummary(replay, t);
    renderHeat($("heat"), replay, t, (s) => {
      video.currentTime = s;
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    $("replay-summary").textContent = t("replay.failed");
  }
}

async function share() {
  const c = state.current;
  if (!c) return;
  const link = new URL(c.share_url, location.origin).href;
  const ok = await copyText(link);
  $("share-status").textContent = ok ? t("player.shared", { link }) : link;
}

async function remove() {
  const c = state.current;
  if (!c) return;
  if (!(await confirmDialog($("confirm-dialog"), t("player.confirmDelete", { name: c.title })))) {
    return;
  }
  try {
    await api.del(`/api/capsules/${c.id}`);
    stopPlayer();
    state.current = null;
    location.hash = "";
    loadFacets().catch(() => {});
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showError($("player-error"), error, t, "player.deleteFailed");
  }
}

async function route() {
  if ($("session").hidden) return;
  const id = capsuleFromHash();
  $("list-view").hidden = Boolean(id);
  $("player-view").hidden = !id;
  if (id) {
    await openPlayer(id);
  } else {
    stopPlayer();
    document.title = t("page.title");
    await loadList();
  }
}

// ------------------------------------------------------------------ start-up

async function main() {
  ({ t, lang } = await loadStrings("capsules"));
  api.onUnauthorized = (error) => signOut(error);
  wireSignIn($("token"), signIn, enter, t);
  $("sign-out").addEventListener("click", () => signOut());
  let debounce = null;
  $("f-q").addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.offset = 0;
      loadList();
    }, 400);
  });
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());
  for (const id of Object.keys(FILTERS)) {
    $(id).addEventListener("change", () => {
      state.offset = 0;
      loadList();
    });
  }
  $("f-reset").addEventListener("click", () => {
    $("filters").reset();
    state.offset = 0;
    loadList();
  });
  $("back").addEventListener("click", () => {
    location.hash = "";
  });
  $("share").addEventListener("click", share);
  $("delete").addEventListener("click", remove);
  window.addEventListener("hashchange", () => route());
  document.body.dataset.ready = "true";
  if (api.bearer()) await enter();
  else $("token").focus();
}

main().catch((error) => showError($("signin-error"), error));
