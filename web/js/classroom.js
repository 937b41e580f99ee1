// Browser classroom, made for a projector: exchange the device credential for a lesson token,
// join, publish camera and microphone, show the lecturer full screen (the screen share as the
// main picture with the lecturer inset), the classroom on stage, raise hand, mute, full screen,
// reconnecting. Large type; stage, hand and chat news as banners that stay until read; a
// waiting card with the lesson, its time and lecturer; an ended card with the next lesson.
import { CLOSE, LiveSession, clearFragment, fragmentParams } from "./signaling.js";
import { ApiError, loadStrings, request } from "./api.js";
import { answersEnded, answersJoined, answersMessage, sendQuickReply, setUpAnswers } from "./classroom-answers.js";

const $ = (id) => document.getElementById(id);
let t = (key) => key;
let lang = "en";
const CREDENTIAL_KEY = "streamhub.classroom.credential";
const STATS_EVERY_MS = 5000;
const TIMETABLE_EVERY_MS = 15_000;
const BANNERS_SHOWN = 4;
const NEXT_LESSON_AFTER_MS = 30_000;

const state = {
  code: decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "next"),
  credential: null,
  stream: null,
  devices: { camera: "pending", microphone: "pending" },
  session: null,
  me: null,
  names: new Map(),
  hands: [],
  stage: null,
  screen: false,
  muted: false,
  waiting: false,
  lessonTitle: "",
  timetable: null,
  timetableAt: 0,
  statsTimer: null,
  ended: false,
  recording: false,
  lowering: false, // this room pressed "lower hand" (no banner for its own act)
  banners: [], // {id, kind, text, from}
  nextBanner: 1,
};

function showNotice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
  clearTimeout(showNotice.timer);
  if (text) showNotice.timer = setTimeout(() => (el.hidden = true), 8000);
}

function errorText(exc) {
  return exc && exc.message ? exc.message : String(exc);
}

function clock(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime())
    ? ""
    : at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hour12: false });
}

function when(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const today = new Date();
  const sameDay = at.toDateString() === today.toDateString();
  return sameDay ? clock(iso) : at.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

function takeCredential() {
  const fromLink = fragmentParams().get("credential");
  if (fromLink) {
    sessionStorage.setItem(CREDENTIAL_KEY, fromLink);
    clearFragment();
  }
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

/** What this PC's devices are, for the lecturer's roster. */
function deviceReport() {
  const of = (status) => (status === "ready" ? "ok" : status === "pending" ? "ok" : "missing");
  return { camera: of(state.devices.camera), microphone: of(state.devices.microphone), speaker: "ok", display: "ok" };
}

/** The token source of the session: a fresh lesson token for every (re)join. While the lesson
 * is not live, the timetable is polled instead (with the session's backoff): that tells the
 * hub this classroom is online and waiting, and the page what it waits for. */
async function lessonToken() {
  if (!state.ended && (await loadTimetable(true)) && !awaitedLive()) {
    state.waiting = true;
    updateView();
    throw Object.assign(new Error(t("state.waiting")), { code: "not_live" });
  }
  try {
    const out = await request("POST", "/api/device/token", {
      token: state.credential,
      body: { lesson_code: state.code === "next" ? null : state.code, devices: deviceReport() },
    });
    state.waiting = false;
    state.lessonTitle = out.lesson_title;
    $("lesson-name").textContent = out.lesson_title;
    $("lesson-name").title = out.lesson_title;
    $("lesson-title").textContent = out.lesson_title;
    document.title = t("page.title", { title: out.lesson_title });
    return out.token;
  } catch (exc) {
    if (exc instanceof ApiError) {
      if (["no_live_lesson", "lesson_not_live", "not_found"].includes(exc.code) || exc.status === 404) {
        state.waiting = true; // not live yet: keep trying with backoff
        loadTimetable();
        throw exc;
      }
      if (exc.status === 401 || exc.status === 403) {
        const message = exc.code === "not_invited" ? t("notice.notInvited") : t("notice.credentialRefused", { message: exc.message });
        throw Object.assign(new Error(message), { final: true, closeCode: CLOSE.unauthorized });
      }
    }
    state.waiting = false;
    throw exc;
  }
}

/** This classroom's timetable: the lesson the page waits for, and the one after the end. */
async function loadTimetable(force = false) {
  if (!force && Date.now() - state.timetableAt < TIMETABLE_EVERY_MS) return Boolean(state.timetable);
  state.timetableAt = Date.now();
  try {
    state.timetable = await request("GET", "/api/device/lessons", {
      token: state.credential,
      query: deviceReport(),
    });
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) {
      throw Object.assign(new Error(t("notice.credentialRefused", { message: exc.message })), { final: true, closeCode: CLOSE.unauthorized });
    }
    return false; // the token request says what is wrong; shown again with the next try
  }
  updateView();
  return true;
}

/** Whether the lesson this page waits for is live (a code outside the timetable: ask). */
function awaitedLive() {
  const lesson = awaitedLesson();
  if (state.code !== "next" && !lesson) return true;
  return Boolean(lesson) && lesson.status === "live";
}

function awaitedLesson() {
  const lessons = (state.timetable && state.timetable.lessons) || [];
  if (state.code !== "next") return lessons.find((x) => x.join_code === state.code.toUpperCase()) || null;
  return lessons.find((x) => x.status === "live") || lessons.find((x) => x.status === "scheduled") || null;
}

async function openDevices() {
  // Camera and microphone each on their own: one missing device never costs the other.
  const tracks = [];
  for (const [kind, constraints] of [
    ["camera", { video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 25 } } }],
    ["microphone", { audio: { echoCancellation: true, noiseSuppression: true } }],
  ]) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      tracks.push(...stream.getTracks());
      state.devices[kind] = "ready";
    } catch (exc) {
      state.devices[kind] = "failed";
      showNotice(t("notice.deviceFailed", { message: errorText(exc) }));
    }
  }
  state.stream = new MediaStream(tracks);
  const audio = state.stream.getAudioTracks()[0];
  if (audio) audio.enabled = !state.muted;
  $("self-view").srcObject = state.stream;
}

function stopDevices() {
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  $("self-view").srcObject = null;
}

// ------------------------------------------------------------------ session

function start() {
  const video = state.stream && state.stream.getVideoTracks()[0];
  const audio = state.stream && state.stream.getAudioTracks()[0];
  const session = new LiveSession({
    token: lessonToken,
    publish: { camera: video || null, microphone: audio || null },
  });
  state.session = session;
  session.addEventListener("state", (e) => onState(e.detail.state, e.detail.detail));
  session.addEventListener("joined", (e) => onJoined(e.detail.joined));
  session.addEventListener("media", () => attachMedia());
  session.addEventListener("message", (e) => onMessage(e.detail.message));
  session.start();
}

function onState(value, detail) {
  if (state.ended && value !== "ended") return;
  document.body.dataset.state = value === "reconnecting" || value === "connecting" ? (state.waiting ? "waiting" : value) : value;
  const live = value === "live";
  $("raise-hand").disabled = !live;
  $("toggle-mic").disabled = !live;
  clearInterval(state.statsTimer);
  if (live) {
    state.statsTimer = setInterval(sendStats, STATS_EVERY_MS);
    resync();
  }
  if (value === "ended") {
    lessonEnded();
    return;
  }
  if (value === "failed") {
    const code = detail && detail.code;
    const reason = detail && detail.reason;
    showOverlay(code === CLOSE.replaced ? t("notice.replaced") : t("notice.disconnected", { message: reason || code }));
    setBadge("failed");
    return;
  }
  updateView();
}

/** The lesson is over: camera and microphone off, no picture, no hands, an ended card. */
function lessonEnded() {
  if (state.ended) return;
  state.ended = true;
  clearInterval(state.statsTimer);
  if (state.session) state.session.stop({ leave: false });
  stopDevices();
  for (const id of ["lecturer-video", "screen-video", "stage-video", "lecturer-audio", "stage-audio"]) {
    $(id).srcObject = null;
    delete $(id).dataset.track;
  }
  state.stage = null;
  state.screen = false;
  state.hands = [];
  clearBanners();
  answersEnded();
  $("raise-hand").disabled = true;
  $("toggle-mic").disabled = true;
  document.body.dataset.state = "ended";
  loadTimetable(true);
  updateView();
  if (state.code === "next") setTimeout(restartForNext, NEXT_LESSON_AFTER_MS);
}

async function restartForNext() {
  state.ended = false;
  state.me = null;
  state.stage = null;
  state.screen = false;
  state.hands = [];
  await openDevices();
  start();
}

function resync() {
  const joined = state.session.joined;
  // The hub's view of our microphone wins (the lecturer may have muted us meanwhile).
  if (joined && joined.participant.muted !== state.muted) setMuted(joined.participant.muted);
}

function onJoined(joined) {
  state.me = joined.participant;
  state.names.clear();
  for (const p of joined.participants) state.names.set(p.id, p.name);
  state.hands = [...joined.hands];
  state.stage = joined.stage;
  state.screen = joined.screen_sharing;
  setRecording(joined.recording);
  if (joined.lesson_title) $("lesson-name").textContent = joined.lesson_title;
  answersJoined(joined);
  updateView();
}

function onMessage(m) {
  const me = state.me && state.me.id;
  if (answersMessage(m)) return;
  switch (m.type) {
    case "participant_joined":
      state.names.set(m.participant.id, m.participant.name);
      break;
    case "participant_left":
      state.hands = state.hands.filter((id) => id !== m.participant);
      break;
    case "hand_raised":
    case "hand_lowered": {
      const had = Boolean(me) && state.hands.includes(me);
      state.hands = [...m.hands];
      const has = Boolean(me) && state.hands.includes(me);
      if (!had && has) addBanner("hand", t("banner.handRaised"));
      if (had && !has && !state.lowering && state.stage !== me) addBanner("hand", t("banner.handLowered"));
      if (had && !has) state.lowering = false;
      break;
    }
    case "stage_changed": {
      const before = state.stage;
      state.stage = m.participant;
      if (m.participant && m.name) state.names.set(m.participant, m.name);
      if (m.participant && m.participant === me) addBanner("stage", t("banner.stageYou"));
      else if (m.participant) addBanner("stage", t("banner.stageOther", { name: m.name || state.names.get(m.participant) || "" }));
      else if (before) addBanner("stage", t("banner.stageOff"));
      break;
    }
    case "screen_share_changed":
      state.screen = m.on;
      break;
    case "mute_requested":
      setMuted(m.muted);
      addBanner("mute", t(m.muted ? "banner.mutedByLecturer" : "banner.unmutedByLecturer"));
      break;
    case "muted_changed":
      if (me && m.participant === me && m.muted !== state.muted) setMuted(m.muted);
      break;
    case "recording_changed":
      setRecording(m.recording);
      break;
    case "chat":
      addBanner("chat", m.text, m.sender_name);
      return;
    case "lesson_ended":
      return;
    case "error":
      showNotice(t("notice.actionFailed", { message: m.message }));
      return;
    default:
      return;
  }
  updateView();
}

function setMuted(muted, { tell = false } = {}) {
  state.muted = muted;
  const track = state.stream && state.stream.getAudioTracks()[0];
  if (track) track.enabled = !muted;
  const button = $("toggle-mic");
  button.setAttribute("aria-pressed", String(muted));
  $("toggle-mic-text").textContent = t(muted ? "self.unmute" : "self.mute");
  if (tell && state.session) state.session.send({ type: "set_muted", muted });
}

function setRecording(on) {
  $("recording").dataset.recording = String(on);
  state.recording = on;
}

// ------------------------------------------------------------------ banners

/** A message that stays until someone in the room presses OK (or H/M-free Enter on it). */
function addBanner(kind, text, from = "") {
  state.banners.push({ id: state.nextBanner++, kind, text, from });
  renderBanners();
}

function clearBanners() {
  state.banners = [];
  renderBanners();
}

function renderBanners() {
  const list = $("banners");
  list.replaceChildren();
  const shown = state.banners.slice(-BANNERS_SHOWN);
  const hidden = state.banners.length - shown.length;
  if (hidden > 0) {
    const more = document.createElement("li");
    more.className = "banner banner-more";
    more.textContent = t("banners.more", { n: hidden });
    const all = document.createElement("button");
    all.type = "button";
    all.textContent = t("banners.dismissAll");
    all.addEventListener("click", clearBanners);
    more.append(" ", all);
    list.append(more);
  }
  for (const banner of shown) {
    const li = document.createElement("li");
    li.className = "banner";
    li.dataset.kind = banner.kind;
    const icon = document.createElement("span");
    icon.className = `icon icon-${{ chat: "chat", stage: "stage", hand: "hand", mute: "mic-off" }[banner.kind] || "chat"}`;
    icon.setAttribute("aria-hidden", "true");
    const text = document.createElement("p");
    text.className = "banner-text";
    if (banner.from) {
      const who = document.createElement("strong");
      who.textContent = t("banner.from", { name: banner.from });
      text.append(who, " ");
    }
    text.append(banner.text);
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "banner-ok";
    ok.textContent = t("banner.ok");
    ok.setAttribute("aria-label", t("banner.okNamed", { text: banner.text.slice(0, 60) }));
    ok.addEventListener("click", () => {
      state.banners = state.banners.filter((b) => b.id !== banner.id);
      renderBanners();
    });
    li.append(icon, text, ok);
    list.append(li);
  }
}

// ------------------------------------------------------------------ view

function playQuietly(el) {
  const played = el.play();
  if (played) played.catch(() => {});
}

function attach(el, track) {
  if (!track) {
    if (el.srcObject) el.srcObject = null;
    delete el.dataset.track;
    return;
  }
  if (el.dataset.track === track.id) return;
  el.srcObject = new MediaStream([track]);
  el.dataset.track = track.id;
  if (el instanceof HTMLAudioElement) {
    el.play().catch(() => {
      $("enable-sound").hidden = false;
    });
  } else {
    playQuietly(el);
  }
}

function attachMedia() {
  const s = state.session;
  if (!s || state.ended) return;
  attach($("lecturer-video"), s.track("lecturer.video"));
  attach($("screen-video"), s.track("screen.video"));
  attach($("stage-video"), s.track("stage.video"));
  attach($("lecturer-audio"), s.track("lecturer.audio"));
  attach($("stage-audio"), s.track("stage.audio"));
  updateView();
}

function setBadge(shown) {
  const badge = $("connection");
  badge.dataset.state = shown;
  badge.textContent = t(`state.${shown}`);
}

function lecturerPlaying() {
  const video = $("lecturer-video");
  return video.readyState >= 2 && video.videoWidth > 0;
}

function updateView() {
  const me = state.me && state.me.id;
  const body = document.body;
  const live = Boolean(state.session) && state.session.state === "live" && !state.ended;
  const sessionState = state.session ? state.session.state : "loading";
  const waiting = !live && !state.ended && state.waiting;
  const screen = live && state.screen;
  body.dataset.screen = String(screen);
  const othersOnStage = live && Boolean(state.stage) && state.stage !== me;
  body.dataset.stage = String(othersOnStage);
  $("screen-video").hidden = !screen;
  $("lecturer-video").setAttribute("aria-label", t(screen ? "video.lecturerInset" : "video.lecturer"));
  $("stage-box").hidden = !othersOnStage;
  if (othersOnStage) {
    const name = state.names.get(state.stage) || "";
    $("stage-caption").textContent = t("stage.caption", { name });
    $("stage-video").setAttribute("aria-label", t("stage.caption", { name }));
  }
  $("on-stage").hidden = !(live && state.stage && state.stage === me);
  const raised = live && Boolean(me) && state.hands.includes(me);
  const hand = $("raise-hand");
  hand.setAttribute("aria-pressed", String(raised));
  $("raise-hand-text").textContent = t(raised ? "hand.lower" : "hand.raise");
  // Never two stories at once: "live" only with the lecturer's picture, "recording" only live.
  $("recording").hidden = !(live && state.recording);
  $("waiting-view").hidden = !waiting;
  $("ended-view").hidden = !state.ended;
  if (state.ended) {
    setBadge("ended");
    hideOverlay();
    renderEnded();
  } else if (waiting) {
    setBadge("waiting");
    hideOverlay();
    renderWaiting();
  } else if (live) {
    const playing = lecturerPlaying() || screen;
    setBadge(playing ? "live" : "no_picture");
    if (playing) hideOverlay();
    else showOverlay(t("overlay.waitingLecturer"));
  } else {
    setBadge(sessionState === "idle" ? "loading" : sessionState);
    showOverlay(t(`state.${sessionState === "idle" ? "loading" : sessionState}`));
  }
}

function renderWaiting() {
  const lesson = awaitedLesson();
  $("waiting-title").textContent = lesson ? lesson.title : state.code === "next" ? t("waiting.noLesson") : t("waiting.lessonCode", { code: state.code });
  const parts = [];
  if (lesson) parts.push(t("waiting.startsAt", { time: when(lesson.scheduled_start) }));
  if (lesson && lesson.lecturer_name) parts.push(t("waiting.lecturer", { name: lesson.lecturer_name }));
  $("waiting-when").textContent = parts.join(" · ");
  for (const [kind, id] of [["camera", "check-camera"], ["microphone", "check-mic"]]) {
    const el = $(id);
    el.dataset.status = state.devices[kind];
    el.textContent = t(`check.${kind}.${state.devices[kind]}`);
  }
}

function renderEnded() {
  const lessons = (state.timetable && state.timetable.lessons) || [];
  const next = lessons.find((x) => x.status === "scheduled");
  $("ended-next").textContent = next
    ? t("ended.next", { title: next.title, time: when(next.scheduled_start) })
    : t("ended.noNext");
}

function showOverlay(text) {
  $("overlay-text").textContent = text;
  $("overlay").hidden = false;
}

function hideOverlay() {
  $("overlay").hidden = true;
}

async function sendStats() {
  const s = state.session;
  if (!s || s.state !== "live") return;
  try {
    const stats = await s.collectStats("lecturer.video");
    if (stats && Object.keys(stats).length) s.send({ type: "stats", ...stats });
  } catch {
    // Stats are best effort.
  }
}

async function toggleFullscreen() {
  try {
    if (document.fullscreenElement) await document.exitFullscreen();
    else await document.documentElement.requestFullscreen();
  } catch (exc) {
    showNotice(t("notice.actionFailed", { message: errorText(exc) }));
  }
}

function onFullscreenChange() {
  const on = Boolean(document.fullscreenElement);
  const button = $("fullscreen");
  button.setAttribute("aria-pressed", String(on));
  button.textContent = t(on ? "fullscreen.exit" : "fullscreen.enter");
}

function toggleHand() {
  const me = state.me && state.me.id;
  if (!state.session || state.session.state !== "live") return;
  const raised = Boolean(me) && state.hands.includes(me);
  state.lowering = raised;
  state.session.request({ type: raised ? "lower_hand" : "raise_hand" }).catch((exc) => {
    if (exc.code !== "closed") showNotice(t("notice.actionFailed", { message: errorText(exc) }));
  });
}

// The agent's quick-reply keys (classroom_agent/window.py): F1..F5.
const REPLY_KEYS = { F1: "cant_hear", F2: "cant_see", F3: "slower", F4: "done", F5: "help" };

/** The agent's keys work here too: H hand, M microphone, F full screen, F1-F5 quick replies. */
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  // F1-F5 type nothing, so they work in a text box too: there F5 would otherwise reload the
  // page (and leave the lesson) when the assistant asks for help while typing.
  if (REPLY_KEYS[event.key]) {
    event.preventDefault();
    sendQuickReply(REPLY_KEYS[event.key]);
    return;
  }
  const target = event.target;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  const key = event.key.toLowerCase();
  if (key === "h") toggleHand();
  else if (key === "m" && !$("toggle-mic").disabled) setMuted(!state.muted, { tell: true });
  else if (key === "f") toggleFullscreen();
  else return;
  event.preventDefault();
}

// ------------------------------------------------------------------ boot

async function main() {
  // Take the secret out of the address bar before anything else happens.
  state.credential = takeCredential();
  ({ t, lang } = await loadStrings("classroom"));

  setUpAnswers({ t, session: () => state.session, notice: showNotice });
  $("raise-hand").addEventListener("click", toggleHand);
  $("toggle-mic").addEventListener("click", () => setMuted(!state.muted, { tell: true }));
  $("fullscreen").addEventListener("click", toggleFullscreen);
  document.addEventListener("fullscreenchange", onFullscreenChange);
  document.addEventListener("keydown", onKey);
  $("enable-sound").addEventListener("click", () => {
    for (const id of ["lecturer-audio", "stage-audio"]) playQuietly($(id));
    $("enable-sound").hidden = true;
  });
  for (const id of ["lecturer-video", "screen-video", "stage-video"]) {
    $(id).addEventListener("playing", updateView);
    $(id).addEventListener("resize", updateView);
  }
  window.addEventListener("pagehide", () => {
    if (state.session) state.session.stop();
  });

  if (!state.credential) {
    document.body.dataset.state = "error";
    showOverlay(t("notice.noCredential"));
    return;
  }
  await openDevices();
  start();
}

main();
