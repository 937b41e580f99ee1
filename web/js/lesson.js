// Lecturer console: preview and device choice, go live, classroom tiles, hands, stage,
// screen share, chat, recording indicator, reconnecting by itself.
import {
  LiveSession,
  apiFetch,
  clearFragment,
  fragmentParams,
} from "./signaling.js";
import { ApiError, applyStrings, loadStrings } from "./api.js";
import { runConnectionCheck } from "./netcheck.js";

const $ = (id) => document.getElementById(id);
let t = (key) => key;

const state = {
  code: decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || ""),
  token: null,
  lesson: null,
  stream: null, // camera + microphone
  screenTrack: null,
  session: null,
  me: null,
  participants: new Map(), // classroom participant id -> info
  hands: [],
  stage: null,
  listening: null,
  quality: new Map(),
  recording: false,
  micMuted: false,
  cameraOff: false,
  ended: false,
};

function showNotice(text, kind = "error") {
  const el = $("notice");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

function errorText(exc) {
  return exc && exc.message ? exc.message : String(exc);
}

// ------------------------------------------------------------------ token and lesson

function takeToken() {
  const key = `streamhub.lecturer.${state.code}`;
  const fromLink = fragmentParams().get("token");
  if (fromLink) {
    sessionStorage.setItem(key, fromLink);
    clearFragment();
  }
  return sessionStorage.getItem(key);
}

async function loadLesson() {
  const lesson = await apiFetch(`/api/lessons/by-code/${encodeURIComponent(state.code)}`, {
    token: state.token,
  });
  state.lesson = lesson;
  $("lesson-title").textContent = lesson.title;
  $("lesson-title").removeAttribute("data-i18n");
  document.title = t("page_title", { title: lesson.title });
  $("lesson-meta").textContent = t("lesson_meta", {
    subject: lesson.subject || "",
    lecturer: lesson.lecturer_name || "",
    code: lesson.join_code,
  });
  return lesson;
}

// ------------------------------------------------------------------ devices

async function openDevices({ cameraId = null, micId = null } = {}) {
  const constraints = {
    video: {
      width: { ideal: 1280 },
      height: { ideal: 720 },
      frameRate: { ideal: 30 },
      ...(cameraId ? { deviceId: { exact: cameraId } } : {}),
    },
    audio: {
      echoCancellation: true,
      noiseSuppression: true,
      ...(micId ? { deviceId: { exact: micId } } : {}),
    },
  };
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  return stream;
}

async function fillDeviceLists() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind, current) => {
    select.replaceChildren();
    let n = 0;
    for (const d of devices.filter((x) => x.kind === kind)) {
      n += 1;
      const option = document.createElement("option");
      option.value = d.deviceId;
      option.textContent = d.label || t("device_default", { n });
      if (d.deviceId === current) option.selected = true;
      select.append(option);
    }
  };
  const video = state.stream && state.stream.getVideoTracks()[0];
  const audio = state.stream && state.stream.getAudioTracks()[0];
  fill($("camera-select"), "videoinput", video && video.getSettings().deviceId);
  fill($("mic-select"), "audioinput", audio && audio.getSettings().deviceId);
}

async function startPreview() {
  try {
    state.stream = await openDevices();
    $("preview").srcObject = state.stream;
    await fillDeviceLists();
    $("device-error").hidden = true;
  } catch (exc) {
    $("device-error").textContent = t("device_failed", { message: errorText(exc) });
    $("device-error").hidden = false;
  }
}

async function switchDevice(kind) {
  const id = kind === "video" ? $("camera-select").value : $("mic-select").value;
  try {
    const fresh = await navigator.mediaDevices.getUserMedia(
      kind === "video"
        ? { video: { deviceId: { exact: id }, width: { ideal: 1280 }, height: { ideal: 720 } } }
        : { audio: { deviceId: { exact: id }, echoCancellation: true, noiseSuppression: true } },
    );
    const track = kind === "video" ? fresh.getVideoTracks()[0] : fresh.getAudioTracks()[0];
    const old = kind === "video" ? state.stream.getVideoTracks()[0] : state.stream.getAudioTracks()[0];
    if (old) {
      state.stream.removeTrack(old);
      old.stop();
    }
    track.enabled = kind === "video" ? !state.cameraOff : !state.micMuted;
    state.stream.addTrack(track);
    $("preview").srcObject = state.stream;
    if (state.session) await state.session.replaceTrack(kind === "video" ? "camera" : "microphone", track);
    $("device-error").hidden = true;
  } catch (exc) {
    $("device-error").textContent = t("device_failed", { message: errorText(exc) });
    $("device-error").hidden = false;
  }
}

function setMicMuted(muted, { tell = true } = {}) {
  state.micMuted = muted;
  const track = state.stream && state.stream.getAudioTracks()[0];
  if (track) track.enabled = !muted;
  const button = $("toggle-mic");
  button.setAttribute("aria-pressed", String(muted));
  button.textContent = t(muted ? "unmute_me" : "mute_me");
  if (tell && state.session && state.session.state === "live") {
    state.session.send({ type: "set_muted", muted });
  }
}

function setCameraOff(off) {
  state.cameraOff = off;
  const track = state.stream && state.stream.getVideoTracks()[0];
  if (track) track.enabled = !off;
  const button = $("toggle-camera");
  button.setAttribute("aria-pressed", String(off));
  button.textContent = t(off ? "camera_on" : "camera_off");
}

// ------------------------------------------------------------------ going live

async function goLive() {
  const button = $("go-live");
  button.disabled = true;
  button.textContent = t("going_live");
  try {
    if (!state.lesson || state.lesson.status === "scheduled") {
      state.lesson = await apiFetch(`/api/lessons/${state.lesson.id}/start`, {
        method: "POST",
        token: state.token,
      });
    }
    if (state.lesson.status === "ended") throw new ApiError(409, { code: "ended", detail: t("lesson_ended") });
  } catch (exc) {
    button.disabled = false;
    button.textContent = t("go_live");
    showNotice(t("action_failed", { message: errorText(exc) }));
    return;
  }
  showNotice("");
  const video = state.stream && state.stream.getVideoTracks()[0];
  const audio = state.stream && state.stream.getAudioTracks()[0];
  const session = new LiveSession({
    token: async () => state.token,
    publish: { camera: video || null, microphone: audio || null, screen: state.screenTrack },
    lesson: state.lesson.id,
    // Every classroom and the recording get this one encoding: keep its resolution steady.
    degradation: { camera: "maintain-resolution", screen: "maintain-resolution" },
  });
  state.session = session;
  session.addEventListener("state", (e) => onState(e.detail.state, e.detail.detail));
  session.addEventListener("joined", (e) => onJoined(e.detail.joined));
  session.addEventListener("media", () => attachMedia());
  session.addEventListener("message", (e) => onMessage(e.detail.message));
  session.start();
  button.hidden = true;
}

function onState(value, detail) {
  if (state.ended) return;
  document.body.dataset.state = value;
  const badge = $("connection");
  badge.dataset.state = value;
  badge.textContent = t(`state_${value}`);
  const live = value === "live";
  $("share-screen").disabled = !live;
  $("chat-input").disabled = !live;
  $("chat-send").disabled = !live;
  $("end-lesson").disabled = state.ended || !state.lesson || state.lesson.status === "ended";
  if (live) {
    showNotice("");
    resync();
  } else if (value === "ended") {
    lessonEnded();
  } else if (value === "failed") {
    const message = detail && detail.reason ? detail.reason : String(detail && detail.code);
    showNotice(t("disconnected", { message }));
  }
  renderTiles();
}

/** After a (re)join, tell the hub what this page still believes. */
function resync() {
  const session = state.session;
  const joined = session.joined;
  if (!joined) return;
  const sharing = state.screenTrack !== null;
  if (joined.screen_sharing !== sharing) session.send({ type: "screen_share", on: sharing });
  if (joined.participant.muted !== state.micMuted) session.send({ type: "set_muted", muted: state.micMuted });
  if (state.listening && state.participants.has(state.listening)) {
    session.send({ type: "listen", participant: state.listening });
  }
}

function onJoined(joined) {
  state.me = joined.participant;
  state.participants.clear();
  for (const p of joined.participants) if (p.role === "classroom") state.participants.set(p.id, { ...p });
  state.hands = [...joined.hands];
  state.stage = joined.stage;
  setRecording(joined.recording, null);
  renderAll();
}

function setRecording(on, reason) {
  state.recording = on;
  const el = $("recording");
  el.dataset.recording = String(on);
  el.textContent = on ? t("recording") : reason ? t("recording_stopped", { reason }) : t("not_recording");
}

function onMessage(m) {
  switch (m.type) {
    case "participant_joined":
      if (m.participant.role === "classroom") state.participants.set(m.participant.id, { ...m.participant });
      break;
    case "participant_left":
      state.participants.delete(m.participant);
      state.hands = state.hands.filter((id) => id !== m.participant);
      if (state.stage === m.participant) state.stage = null;
      if (state.listening === m.participant) state.listening = null;
      state.quality.delete(m.participant);
      break;
    case "hand_raised":
    case "hand_lowered":
      state.hands = [...m.hands];
      break;
    case "stage_changed":
      state.stage = m.participant;
      break;
    case "muted_changed": {
      const p = state.participants.get(m.participant);
      if (p) p.muted = m.muted;
      break;
    }
    case "stats_summary":
      for (const s of m.participants) {
        state.quality.set(s.participant, s.quality);
        const p = state.participants.get(s.participant);
        if (p && s.devices) p.devices = s.devices;
      }
      break;
    case "recording_changed":
      setRecording(m.recording, m.reason);
      break;
    case "chat":
      addChat(m);
      return;
    case "lesson_ended":
      lessonEnded();
      return;
    case "error":
      showNotice(t("action_failed", { message: m.message }));
      return;
    default:
      return;
  }
  renderAll();
}

// ------------------------------------------------------------------ rendering

function renderAll() {
  renderTiles();
  renderHands();
  attachMedia();
}

function nameOf(id) {
  const p = state.participants.get(id);
  return p ? p.name : id;
}

function makeTile(p) {
  const node = $("tile-template").content.firstElementChild.cloneNode(true);
  applyStrings(node, t);
  node.dataset.participant = p.id;
  const video = node.querySelector("video");
  // The placeholder stays until pictures arrive (a classroom may publish no camera).
  const showing = () => node.classList.toggle("has-video", video.videoWidth > 0);
  video.addEventListener("resize", showing);
  video.addEventListener("loadeddata", showing);
  video.addEventListener("emptied", showing);
  node.querySelector(".listen").addEventListener("click", () => {
    const id = node.dataset.participant;
    state.listening = state.listening === id ? null : id;
    state.session.send(state.listening ? { type: "listen", participant: id } : { type: "listen" });
    renderTiles();
  });
  node.querySelector(".stage").addEventListener("click", () => toggleStage(node.dataset.participant));
  node.querySelector(".mute").addEventListener("click", () => {
    const info = state.participants.get(node.dataset.participant);
    if (!info) return;
    send({ type: "mute_request", participant: info.id, muted: !info.muted });
  });
  return node;
}

function send(message) {
  if (!state.session) return;
  state.session.request(message).catch((exc) => {
    if (exc.code !== "closed") showNotice(t("action_failed", { message: errorText(exc) }));
  });
}

function toggleStage(id) {
  if (state.stage === id) send({ type: "stage_off" });
  else send({ type: "stage_on", participant: id });
}

function renderTiles() {
  const list = $("tiles");
  const existing = new Map([...list.children].map((li) => [li.dataset.participant, li]));
  const live = state.session && state.session.state === "live";
  for (const [id, li] of existing) {
    if (!state.participants.has(id)) li.remove();
  }
  for (const p of state.participants.values()) {
    let li = existing.get(p.id);
    if (!li) {
      li = makeTile(p);
      list.append(li);
    }
    const hand = state.hands.includes(p.id);
    const onStage = state.stage === p.id;
    const listening = state.listening === p.id;
    const quality = state.quality.get(p.id) || "unknown";
    li.dataset.name = p.name;
    li.dataset.hand = String(hand);
    li.dataset.muted = String(Boolean(p.muted));
    li.dataset.stage = String(onStage);
    li.dataset.listening = String(listening);
    li.querySelector(".tile-body").setAttribute("aria-label", p.name);
    li.querySelector(".tile-name").textContent = p.name;
    li.querySelector("video").setAttribute("aria-label", t("tile_video", { name: p.name }));
    li.querySelector(".hand-badge").hidden = !hand;
    li.querySelector(".stage-badge").hidden = !onStage;
    li.querySelector(".muted-badge").hidden = !p.muted;
    renderDevices(li, p.devices);
    const q = li.querySelector(".quality");
    q.dataset.quality = quality;
    q.textContent = t(`quality_${quality}`);
    const listen = li.querySelector(".listen");
    listen.textContent = t(listening ? "listening" : "listen");
    listen.setAttribute("aria-pressed", String(listening));
    listen.setAttribute("aria-label", t("listen_named", { name: p.name }));
    const stage = li.querySelector(".stage");
    stage.textContent = t(onStage ? "off_stage" : "bring_on_stage");
    stage.setAttribute("aria-pressed", String(onStage));
    stage.setAttribute("aria-label", t(onStage ? "off_stage_named" : "stage_named", { name: p.name }));
    const mute = li.querySelector(".mute");
    mute.textContent = t(p.muted ? "unmute" : "mute");
    mute.setAttribute("aria-pressed", String(Boolean(p.muted)));
    mute.setAttribute("aria-label", t(p.muted ? "unmute_named" : "mute_named", { name: p.name }));
    for (const b of li.querySelectorAll("button")) b.disabled = !live;
  }
  const n = state.participants.size;
  $("no-classrooms").hidden = n > 0;
  $("tile-count").textContent = n ? t("classroom_count", { n }) : "";
  list.dataset.count = String(n);
  $("stage-off").hidden = !state.stage;
  $("stage-off").disabled = !live;
}

// A classroom agent reports its devices; the lecturer sees at a glance which room has no
// picture (projector), no sound (loudspeaker), no camera or no microphone.
const DEVICE_PROBLEMS = [
  ["display", "no_picture"],
  ["speaker", "no_sound"],
  ["camera", "no_camera"],
  ["microphone", "no_microphone"],
];

function renderDevices(li, devices) {
  let badge = li.querySelector(".devices-badge");
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "muted-badge devices-badge";
    li.querySelector(".tile-info").append(badge);
  }
  const problems = DEVICE_PROBLEMS.filter(([name]) => devices && devices[name] && devices[name] !== "ok");
  badge.hidden = problems.length === 0;
  badge.dataset.devices = problems.map(([name]) => name).join(" ");
  badge.textContent = problems.map(([, key]) => t(key)).join(" · ");
}

function renderHands() {
  const list = $("hands");
  list.replaceChildren();
  const live = state.session && state.session.state === "live";
  for (const id of state.hands) {
    const name = nameOf(id);
    const li = document.createElement("li");
    li.dataset.participant = id;
    const label = document.createElement("span");
    label.className = "hand-name";
    label.textContent = name;
    const stage = document.createElement("button");
    stage.type = "button";
    stage.textContent = t("bring_on_stage");
    stage.setAttribute("aria-label", t("stage_named", { name }));
    stage.disabled = !live;
    stage.addEventListener("click", () => send({ type: "stage_on", participant: id }));
    const lower = document.createElement("button");
    lower.type = "button";
    lower.textContent = t("lower_hand");
    lower.setAttribute("aria-label", t("lower_named", { name }));
    lower.disabled = !live;
    lower.addEventListener("click", () => send({ type: "lower_hand", participant: id }));
    li.append(label, stage, lower);
    list.append(li);
  }
  $("no-hands").hidden = state.hands.length > 0;
}

function playQuietly(el) {
  const played = el.play();
  if (played) played.catch(() => {});
}

function attachMedia() {
  const session = state.session;
  const tracks = session ? session.tileTracks() : new Map();
  for (const li of $("tiles").children) {
    const pid = li.dataset.participant;
    const video = li.querySelector("video");
    const entry = tracks.get(pid);
    const track = entry && entry.video;
    if (track && video.dataset.track !== track.id) {
      video.srcObject = new MediaStream([track]);
      video.dataset.track = track.id;
      playQuietly(video);
    } else if (!track && video.dataset.track) {
      video.srcObject = null;
      delete video.dataset.track;
    }
    if (!track) li.classList.remove("has-video");
  }
  // One audio element per classroom; the hub only forwards the one listened to (and the stage).
  const box = $("tile-audio");
  const seen = new Set();
  for (const [pid, entry] of tracks) {
    if (!entry.audio) continue;
    seen.add(pid);
    let audio = box.querySelector(`audio[data-participant="${CSS.escape(pid)}"]`);
    if (!audio) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.participant = pid;
      box.append(audio);
    }
    if (audio.dataset.track !== entry.audio.id) {
      audio.srcObject = new MediaStream([entry.audio]);
      audio.dataset.track = entry.audio.id;
      playQuietly(audio);
    }
  }
  for (const audio of box.querySelectorAll("audio")) {
    if (!seen.has(audio.dataset.participant)) audio.remove();
  }
}

function addChat(m) {
  const li = document.createElement("li");
  const who = document.createElement("strong");
  who.textContent = state.me && m.sender === state.me.id ? t("you") : m.sender_name;
  const when = document.createElement("time");
  const at = new Date(m.at * 1000);
  when.dateTime = at.toISOString();
  when.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const text = document.createElement("span");
  text.className = "chat-text";
  text.textContent = m.text;
  li.append(who, " ", when, " ", text);
  const log = $("chat-log");
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

// ------------------------------------------------------------------ screen share and ending

async function toggleScreen() {
  const button = $("share-screen");
  if (state.screenTrack) {
    await stopScreen();
    return;
  }
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    const track = display.getVideoTracks()[0];
    if ("contentHint" in track) track.contentHint = "detail";
    track.addEventListener("ended", () => stopScreen());
    state.screenTrack = track;
    await state.session.replaceTrack("screen", track);
    send({ type: "screen_share", on: true });
    const preview = $("screen-preview");
    preview.srcObject = new MediaStream([track]);
    preview.hidden = false;
    button.textContent = t("stop_sharing");
    button.setAttribute("aria-pressed", "true");
  } catch (exc) {
    if (exc && exc.name !== "NotAllowedError") showNotice(t("share_failed", { message: errorText(exc) }));
  }
}

async function stopScreen() {
  const track = state.screenTrack;
  if (!track) return;
  state.screenTrack = null;
  track.stop();
  if (state.session) {
    await state.session.replaceTrack("screen", null);
    send({ type: "screen_share", on: false });
  }
  $("screen-preview").srcObject = null;
  $("screen-preview").hidden = true;
  const button = $("share-screen");
  button.textContent = t("share_screen");
  button.setAttribute("aria-pressed", "false");
}

async function endLesson() {
  if (!window.confirm(t("confirm_end"))) return;
  $("end-lesson").disabled = true;
  try {
    state.lesson = await apiFetch(`/api/lessons/${state.lesson.id}/end`, {
      method: "POST",
      token: state.token,
    });
    lessonEnded();
  } catch (exc) {
    $("end-lesson").disabled = false;
    showNotice(t("action_failed", { message: errorText(exc) }));
  }
}

function lessonEnded() {
  if (state.ended) return;
  state.ended = true;
  if (state.lesson) state.lesson = { ...state.lesson, status: "ended" };
  if (state.session) state.session.stop({ leave: false });
  if (state.screenTrack) {
    state.screenTrack.stop();
    state.screenTrack = null;
  }
  document.body.dataset.state = "ended";
  $("connection").dataset.state = "ended";
  $("connection").textContent = t("state_ended");
  for (const id of ["go-live", "share-screen", "end-lesson", "chat-input", "chat-send"]) $(id).disabled = true;
  showNotice(t("lesson_ended"), "info");
  // Nothing more is recorded; the notice says where the recording is.
  setRecording(false);
  showRecordingWhere();
}

// What comes next: where the lesson's recording is (its page in the staff library).
async function showRecordingWhere() {
  if (!state.lesson) return;
  let recordings;
  try {
    recordings = await apiFetch(`/api/lessons/${state.lesson.id}/recordings`, { token: state.token });
  } catch {
    return; // the lesson has ended either way; the library still lists the recording
  }
  const notice = $("notice");
  const where = document.createElement("p");
  where.id = "recording-where";
  if (!recordings.length) {
    where.textContent = t("not_recorded");
  } else {
    const ready = recordings.every((rec) => rec.state === "ready");
    where.append(t(ready ? "recording_ready" : "recording_where"), " ");
    recordings.forEach((rec, i) => {
      const link = document.createElement("a");
      link.href = rec.page;
      link.target = "_blank";
      link.textContent = recordings.length > 1 ? t("recording_part", { n: i + 1 }) : t("recording_open");
      where.append(link, " ");
    });
    const library = document.createElement("a");
    library.href = "/library";
    library.target = "_blank";
    library.textContent = t("library_open");
    where.append("· ", library);
  }
  notice.append(where);
}

// ------------------------------------------------------------------ secure context, check

// Over plain HTTP from another PC, getUserMedia does not exist: say why, instead of an error
// about an undefined property.
function explainInsecureContext() {
  if (window.isSecureContext) return false;
  $("insecure-url").textContent = window.location.origin;
  $("insecure").hidden = false;
  $("device-error").textContent = t("insecure_title");
  $("device-error").hidden = false;
  document.body.dataset.secure = "false";
  return true;
}

async function checkConnection() {
  const button = $("check-connection");
  const list = $("check-lines");
  button.disabled = true;
  list.replaceChildren();
  try {
    await runConnectionCheck({
      token: state.token,
      t,
      stream: state.stream,
      onLine: ({ check, status, text }) => {
        const item = document.createElement("li");
        item.dataset.check = check;
        item.dataset.status = status;
        item.textContent = `${t(`check_status_${status}`)} · ${text}`;
        list.append(item);
      },
    });
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ boot

async function main() {
  // Take the secret out of the address bar before anything else happens.
  state.token = takeToken();
  ({ t } = await loadStrings("lesson"));

  $("go-live").addEventListener("click", goLive);
  $("share-screen").addEventListener("click", toggleScreen);
  $("end-lesson").addEventListener("click", endLesson);
  $("toggle-mic").addEventListener("click", () => setMicMuted(!state.micMuted));
  $("toggle-camera").addEventListener("click", () => setCameraOff(!state.cameraOff));
  $("camera-select").addEventListener("change", () => switchDevice("video"));
  $("mic-select").addEventListener("change", () => switchDevice("audio"));
  $("stage-off").addEventListener("click", () => send({ type: "stage_off" }));
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text });
    input.value = "";
  });
  window.addEventListener("pagehide", () => {
    if (state.session) state.session.stop();
  });
  $("check-connection").addEventListener("click", checkConnection);

  if (!state.token) {
    document.body.dataset.state = "error";
    $("lesson-title").textContent = t("page_title", { title: "" }).replace(/^ · /, "");
    showNotice(t("no_token"));
    return;
  }
  const insecure = explainInsecureContext();
  const preview = insecure ? Promise.resolve() : startPreview();
  try {
    const lesson = await loadLesson();
    if (lesson.status === "ended") {
      lessonEnded();
    } else {
      // Live without a camera or microphone would be a lesson nobody sees or hears.
      $("go-live").disabled = insecure;
      $("end-lesson").disabled = false;
      document.body.dataset.state = "ready";
    }
  } catch (exc) {
    document.body.dataset.state = "error";
    showNotice(t("load_failed", { message: errorText(exc) }));
  }
  await preview;
  renderAll();
}

main();
