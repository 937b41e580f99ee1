// Browser classroom: exchange the device credential for a lesson token, join, publish camera
// and microphone, show the lecturer full screen (the screen share as the main picture with the
// lecturer inset), the classroom on stage, raise hand, mute, full screen, reconnecting.
import {
  LiveSession,
  apiFetch,
  clearFragment,
  fragmentParams,
} from "./signaling.js";
import { ApiError, loadStrings } from "./api.js";

const $ = (id) => document.getElementById(id);
let t = (key) => key;
const CREDENTIAL_KEY = "streamhub.classroom.credential";
const STATS_EVERY_MS = 5000;

const state = {
  code: decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "next"),
  credential: null,
  stream: null,
  session: null,
  me: null,
  names: new Map(),
  hands: [],
  stage: null,
  screen: false,
  muted: false,
  waiting: false,
  lessonTitle: "",
  statsTimer: null,
  ended: false,
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

function takeCredential() {
  const fromLink = fragmentParams().get("credential");
  if (fromLink) {
    sessionStorage.setItem(CREDENTIAL_KEY, fromLink);
    clearFragment();
  }
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

/** The token source of the session: a fresh lesson token for every (re)join. */
async function lessonToken() {
  try {
    const out = await apiFetch("/api/device/token", {
      method: "POST",
      token: state.credential,
      body: { lesson_code: state.code === "next" ? null : state.code },
    });
    state.waiting = false;
    state.lessonTitle = out.lesson_title;
    $("lesson-name").textContent = out.lesson_title;
    $("lesson-title").textContent = out.lesson_title;
    document.title = t("page_title", { title: out.lesson_title });
    return out.token;
  } catch (exc) {
    if (exc instanceof ApiError) {
      if (["no_live_lesson", "lesson_not_live", "not_found"].includes(exc.code) || exc.status === 404) {
        state.waiting = true; // not live yet: keep trying with backoff
        throw exc;
      }
      if (exc.status === 401 || exc.status === 403) {
        const message = exc.code === "not_invited" ? t("not_invited") : t("credential_refused", { message: exc.message });
        throw Object.assign(new Error(message), { final: true, closeCode: 4401 });
      }
    }
    state.waiting = false;
    throw exc;
  }
}

async function openDevices() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 25 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
    $("self-view").srcObject = state.stream;
  } catch (exc) {
    showNotice(t("device_failed", { message: errorText(exc) }));
  }
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
  let shown = value;
  if ((value === "reconnecting" || value === "connecting") && state.waiting) shown = "waiting";
  document.body.dataset.state = shown;
  const badge = $("connection");
  badge.dataset.state = shown;
  badge.textContent = t(`state_${shown}`);
  const live = value === "live";
  $("raise-hand").disabled = !live;
  $("toggle-mic").disabled = !live;
  clearInterval(state.statsTimer);
  if (live) {
    state.statsTimer = setInterval(sendStats, STATS_EVERY_MS);
    resync();
  }
  if (value === "ended") {
    state.ended = true;
    showOverlay(t("state_ended"));
    if (state.code === "next") setTimeout(restartForNext, 30_000);
    return;
  }
  if (value === "failed") {
    const code = detail && detail.code;
    const reason = detail && detail.reason;
    showOverlay(code === 4409 ? t("replaced") : t("disconnected", { message: reason || code }));
    return;
  }
  updateView();
}

function restartForNext() {
  state.ended = false;
  state.stage = null;
  state.screen = false;
  state.hands = [];
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
  updateView();
}

function onMessage(m) {
  switch (m.type) {
    case "participant_joined":
      state.names.set(m.participant.id, m.participant.name);
      break;
    case "participant_left":
      state.hands = state.hands.filter((id) => id !== m.participant);
      break;
    case "hand_raised":
    case "hand_lowered":
      state.hands = [...m.hands];
      break;
    case "stage_changed":
      state.stage = m.participant;
      if (m.participant && m.name) state.names.set(m.participant, m.name);
      break;
    case "screen_share_changed":
      state.screen = m.on;
      break;
    case "mute_requested":
      setMuted(m.muted);
      showNotice(t(m.muted ? "muted_by_lecturer" : "unmuted_by_lecturer"));
      break;
    case "muted_changed":
      if (state.me && m.participant === state.me.id && m.muted !== state.muted) setMuted(m.muted);
      break;
    case "recording_changed":
      setRecording(m.recording);
      break;
    case "chat":
      addChat(m);
      return;
    case "lesson_ended":
      return;
    case "error":
      showNotice(t("action_failed", { message: m.message }));
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
  button.textContent = t(muted ? "unmute_me" : "mute_me");
  if (tell && state.session) state.session.send({ type: "set_muted", muted });
}

function setRecording(on) {
  $("recording").hidden = !on;
  $("recording").dataset.recording = String(on);
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
  attach($("lecturer-video"), s.track("lecturer.video"));
  attach($("screen-video"), s.track("screen.video"));
  attach($("stage-video"), s.track("stage.video"));
  attach($("lecturer-audio"), s.track("lecturer.audio"));
  attach($("stage-audio"), s.track("stage.audio"));
  updateView();
}

function updateView() {
  const me = state.me && state.me.id;
  const body = document.body;
  body.dataset.screen = String(state.screen);
  const othersOnStage = Boolean(state.stage) && state.stage !== me;
  body.dataset.stage = String(othersOnStage);
  $("screen-video").hidden = !state.screen;
  $("lecturer-video").setAttribute("aria-label", t(state.screen ? "lecturer_inset" : "lecturer_video"));
  $("stage-box").hidden = !othersOnStage;
  if (othersOnStage) {
    const name = state.names.get(state.stage) || "";
    $("stage-caption").textContent = t("stage_caption", { name });
    $("stage-video").setAttribute("aria-label", t("stage_caption", { name }));
  }
  $("on-stage").hidden = !(state.stage && state.stage === me);
  const raised = Boolean(me) && state.hands.includes(me);
  const hand = $("raise-hand");
  hand.setAttribute("aria-pressed", String(raised));
  hand.textContent = t(raised ? "lower_hand" : "raise_hand");
  const live = state.session && state.session.state === "live";
  if (live) {
    const video = $("lecturer-video");
    const playing = video.readyState >= 2 && video.videoWidth > 0;
    if (playing) hideOverlay();
    else showOverlay(t("waiting_lecturer"));
  } else if (!state.ended) {
    showOverlay($("connection").textContent);
  }
}

function showOverlay(text) {
  $("overlay-text").textContent = text;
  $("overlay").hidden = false;
}

function hideOverlay() {
  $("overlay").hidden = true;
}

function addChat(m) {
  const box = $("chat-ticker");
  const p = document.createElement("p");
  const who = document.createElement("strong");
  who.textContent = `${m.sender_name}: `;
  p.append(who, m.text);
  box.append(p);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => p.remove(), 20_000);
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
    showNotice(t("action_failed", { message: errorText(exc) }));
  }
}

function onFullscreenChange() {
  const on = Boolean(document.fullscreenElement);
  const button = $("fullscreen");
  button.setAttribute("aria-pressed", String(on));
  button.textContent = t(on ? "exit_fullscreen" : "fullscreen");
}

// ------------------------------------------------------------------ boot

async function main() {
  // Take the secret out of the address bar before anything else happens.
  state.credential = takeCredential();
  ({ t } = await loadStrings("classroom"));

  $("raise-hand").addEventListener("click", () => {
    const me = state.me && state.me.id;
    const raised = Boolean(me) && state.hands.includes(me);
    state.session.request({ type: raised ? "lower_hand" : "raise_hand" }).catch((exc) => {
      if (exc.code !== "closed") showNotice(t("action_failed", { message: errorText(exc) }));
    });
  });
  $("toggle-mic").addEventListener("click", () => setMuted(!state.muted, { tell: true }));
  $("fullscreen").addEventListener("click", toggleFullscreen);
  document.addEventListener("fullscreenchange", onFullscreenChange);
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
    showOverlay(t("no_credential"));
    return;
  }
  await openDevices();
  start();
}

main();
