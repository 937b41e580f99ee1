// Lecturer console: camera and microphone (go live only with them, or knowingly without), the
// roster of every invited classroom before and during the lesson, classroom tiles with their
// health, hands (pinned first, a chime), stage, screen share, chat, the own uplink, a guarded
// end, and a page that ends with the lesson.
import { CLOSE, LiveSession, clearFragment, fragmentParams } from "./signaling.js";
import { ApiError, copyText, loadStrings, request } from "./api.js";
import { runConnectionCheck } from "./netcheck.js";
import { LocalMedia } from "./lesson-media.js";
import { Grid, clock, renderHands } from "./lesson-grid.js";
import { describeUplink } from "./health.js";
import { Chime } from "./chime.js";
import { answersJoined, answersMessage, decorateTiles, mark, setUpAnswers } from "./lesson-answers.js";

const $ = (id) => document.getElementById(id);
let t = (key) => key;
let lang = "en";

const ROSTER_EVERY_MS = 3000;
// How long a device may keep the lecturer waiting before "go live without it" is offered.
const OFFER_ANYWAY_AFTER_MS = 2000;
const SLOT = { camera: "camera", microphone: "microphone" };

const state = {
  code: decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || ""),
  token: null,
  lesson: null,
  insecure: false,
  screenTrack: null,
  session: null,
  me: null,
  participants: new Map(), // classroom participant id -> ParticipantInfo (from signaling)
  whip: new Set(), // ids of WHIP publishers of the lesson's camera and microphone
  rtmp: new Set(), // ids of RTMP pushes holding them (streamhub/rtmp)
  roster: null,
  rosterTimer: null,
  rosterSoon: null,
  hands: [],
  handSince: new Map(),
  stage: null,
  listening: null,
  stats: new Map(), // participant id -> ParticipantStats
  recording: false,
  micMuted: false,
  cameraOff: false,
  ended: false,
  offerAnyway: false,
};
let media;
let grid;
const chime = new Chime();

function showNotice(text, kind = "error") {
  const el = $("notice");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

function errorText(exc) {
  return exc && exc.message ? exc.message : String(exc);
}

function isLive() {
  return Boolean(state.session) && state.session.state === "live";
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
  const lesson = await request("GET", `/api/lessons/by-code/${encodeURIComponent(state.code)}`, {
    token: state.token,
  });
  state.lesson = lesson;
  $("lesson-title").textContent = lesson.title;
  $("lesson-title").title = lesson.title;
  $("lesson-title").removeAttribute("data-i18n");
  document.title = t("page.title", { title: lesson.title });
  $("lesson-meta").textContent = t("lesson.meta", {
    subject: lesson.subject || "",
    lecturer: lesson.lecturer_name || "",
    code: lesson.join_code,
    time: clock(lesson.scheduled_start, lang),
  });
  return lesson;
}

// ------------------------------------------------------------------ roster

async function refreshRoster() {
  if (!state.lesson || state.ended) return;
  try {
    state.roster = await request("GET", `/api/lessons/${state.lesson.id}/roster`, { token: state.token });
    if (state.roster.status === "ended" && !state.ended) lessonEnded();
  } catch (exc) {
    if (exc instanceof ApiError && (exc.status === 401 || exc.status === 403)) {
      showNotice(t("notice.loadFailed", { message: exc.message }));
    }
    return; // a missed poll is retried with the next one
  }
  renderAll();
}

/** Soon, once: presence news from the hub makes the roster stale. */
function rosterSoon() {
  clearTimeout(state.rosterSoon);
  state.rosterSoon = setTimeout(refreshRoster, 250);
}

function startRoster() {
  clearInterval(state.rosterTimer);
  state.rosterTimer = setInterval(refreshRoster, ROSTER_EVERY_MS);
  refreshRoster();
}

/** Tiles in order: raised hands first (in the order raised), then the timetable's order. */
function tileModels() {
  const byClassroom = new Map();
  for (const p of state.participants.values()) {
    if (p.classroom_id != null) byClassroom.set(p.classroom_id, p);
  }
  const entries = state.roster ? [...state.roster.classrooms] : [];
  const listed = new Set(entries.map((e) => e.classroom_id));
  for (const p of byClassroom.values()) {
    // Here before the roster knows (it is polled): listed at once.
    if (!listed.has(p.classroom_id)) {
      entries.push({ classroom_id: p.classroom_id, name: p.name, state: "joining", problems: [] });
    }
  }
  const models = entries.map((entry, index) => {
    const here = byClassroom.get(entry.classroom_id);
    const participant = here ? here.id : entry.participant || null;
    let shown = entry.state;
    if (here && !["in_lesson", "audio_only", "joining"].includes(shown)) shown = "joining";
    if (here && shown === "in_lesson" && here.audio_only) shown = "audio_only";
    const stats = participant ? state.stats.get(participant) || null : null;
    const devices = (stats && stats.devices) || (here && here.devices) || null;
    return {
      key: `c${entry.classroom_id}`,
      classroomId: entry.classroom_id,
      name: entry.name,
      state: shown,
      since: entry.since || null,
      participant,
      index,
      handOrder: participant ? state.hands.indexOf(participant) + 1 : 0,
      stage: Boolean(participant) && state.stage === participant,
      listening: Boolean(participant) && state.listening === participant,
      muted: Boolean(here && here.muted),
      problems: devices ? problemsOf(devices) : entry.problems || [],
      stats,
    };
  });
  return models.sort((a, b) => {
    if (a.handOrder && b.handOrder) return a.handOrder - b.handOrder;
    if (a.handOrder || b.handOrder) return a.handOrder ? -1 : 1;
    return a.index - b.index;
  });
}

// A classroom agent reports its devices; the lecturer sees which room has no picture
// (projector), no sound (loudspeaker), no camera or no microphone.
const DEVICE_PROBLEMS = [
  ["display", "no_picture"],
  ["speaker", "no_sound"],
  ["camera", "no_camera"],
  ["microphone", "no_microphone"],
];

function problemsOf(devices) {
  return DEVICE_PROBLEMS.filter(([name]) => devices[name] && devices[name] !== "ok").map(([, p]) => p);
}

// ------------------------------------------------------------------ devices

function deviceLine(kind) {
  const status = media.status(kind);
  const name = t(kind === "camera" ? "devices.camera" : "devices.microphone");
  if (status === "ready") return t("devices.ready", { name });
  if (status === "pending") return t("devices.pending", { name });
  const error = media.error(kind);
  const why = error && error.name === "NotAllowedError" ? t("devices.denied") : error && error.name === "silent" ? t(kind === "camera" ? "devices.noPicture" : "devices.noSound") : errorText(error);
  return t("devices.failedNamed", { name, message: why });
}

function renderMedia() {
  for (const [kind, id] of [["camera", "camera-status"], ["microphone", "mic-status"]]) {
    const el = $(id);
    el.dataset.status = media.status(kind);
    el.textContent = deviceLine(kind);
  }
  const camera = media.status("camera");
  $("preview-placeholder").hidden = camera === "ready";
  $("preview-placeholder").textContent = camera === "pending" ? t("devices.waitingCamera") : t("devices.noCameraPicture");
  const failed = ["camera", "microphone"].some((k) => media.status(k) === "failed");
  $("retry-devices").hidden = !failed || state.ended;
  refreshGoLive();
  updateMediaWarning();
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
      option.textContent = d.label || t("devices.default", { n });
      if (d.deviceId === current) option.selected = true;
      select.append(option);
    }
  };
  const video = media.track("camera");
  const audio = media.track("microphone");
  fill($("camera-select"), "videoinput", video && video.getSettings().deviceId);
  fill($("mic-select"), "audioinput", audio && audio.getSettings().deviceId);
}

function onMediaChange(kind, track) {
  if (track && state.session) {
    // A device that became ready (or was switched) joins the running session as it is.
    state.session.replaceTrack(SLOT[kind], track).catch((exc) => {
      showNotice(t("notice.deviceFailed", { message: errorText(exc) }));
    });
  }
  if (track) fillDeviceLists().catch(() => {});
  renderMedia();
}

function setMicMuted(muted, { tell = true } = {}) {
  state.micMuted = muted;
  media.setEnabled("microphone", !muted);
  const button = $("toggle-mic");
  button.setAttribute("aria-pressed", String(muted));
  button.textContent = t(muted ? "self.unmute" : "self.mute");
  if (tell && isLive()) state.session.send({ type: "set_muted", muted });
}

function setCameraOff(off) {
  state.cameraOff = off;
  media.setEnabled("camera", !off);
  const button = $("toggle-camera");
  button.setAttribute("aria-pressed", String(off));
  button.textContent = t(off ? "self.cameraOn" : "self.cameraOff");
}

// ------------------------------------------------------------------ going live

function missingDevices() {
  return ["camera", "microphone"].filter((k) => !media.ready(k));
}

/** The last part of the keys that name what is missing: "camera", "microphone" or "both". */
function missingKey(missing) {
  return missing.length > 1 ? "both" : missing[0];
}

function refreshGoLive() {
  const button = $("go-live");
  const anyway = $("go-live-anyway");
  const before = !state.session && !state.ended && state.lesson && state.lesson.status !== "ended";
  const missing = missingDevices();
  button.hidden = !before;
  button.disabled = !before || state.insecure || missing.length > 0;
  button.title = missing.length ? t(`goLive.waitFor.${missingKey(missing)}`) : "";
  const offer = before && !state.insecure && missing.length > 0 && (state.offerAnyway || missing.some((k) => media.status(k) === "failed"));
  anyway.hidden = !offer;
  if (offer) anyway.textContent = t(`goLive.without.${missingKey(missing)}`);
}

function updateMediaWarning() {
  const el = $("media-warning");
  const missing = state.session && !state.ended ? missingDevices() : [];
  el.hidden = missing.length === 0;
  if (missing.length) $("media-warning-text").textContent = t(`liveWithout.${missingKey(missing)}`);
  document.body.dataset.missing = missing.join(" ");
}

async function goLive() {
  if (state.session || state.ended) return;
  chime.unlock();
  const button = $("go-live");
  button.disabled = true;
  $("go-live-anyway").hidden = true;
  button.textContent = t("goLive.going");
  try {
    if (state.lesson.status === "scheduled") {
      state.lesson = await request("POST", `/api/lessons/${state.lesson.id}/start`, {
        token: state.token,
      });
    }
    if (state.lesson.status === "ended") throw new ApiError(409, { code: "ended", detail: t("notice.lessonEnded") });
  } catch (exc) {
    button.textContent = t("goLive.button");
    refreshGoLive();
    showNotice(t("notice.actionFailed", { message: errorText(exc) }));
    return;
  }
  button.textContent = t("goLive.button");
  showNotice("");
  const session = new LiveSession({
    token: async () => state.token,
    publish: {
      camera: media.track("camera"),
      microphone: media.track("microphone"),
      screen: state.screenTrack,
    },
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
  $("share-screen").hidden = false;
  refreshGoLive();
  updateMediaWarning();
  rosterSoon();
}

function onState(value, detail) {
  if (state.ended) return;
  document.body.dataset.state = value;
  const badge = $("connection");
  badge.dataset.state = value;
  badge.textContent = t(`state.${value}`);
  const live = value === "live";
  $("share-screen").disabled = !live;
  $("chat-input").disabled = !live;
  $("chat-send").disabled = !live;
  $("end-lesson").disabled = !state.lesson || state.lesson.status !== "live";
  $("uplink").hidden = !live;
  if (live) {
    showNotice("");
    resync();
  } else if (value === "ended") {
    lessonEnded();
    return;
  } else if (value === "failed") {
    const message = detail && detail.reason ? detail.reason : String(detail && detail.code);
    showNotice(t(detail && detail.code === CLOSE.replaced ? "notice.replaced" : "notice.disconnected", { message }));
  }
  renderAll();
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
  state.whip = new Set(joined.participants.filter((p) => p.whip === "camera").map((p) => p.id));
  state.rtmp = new Set(joined.participants.filter((p) => p.rtmp).map((p) => p.id));
  renderWhip();
  setHands(joined.hands);
  state.stage = joined.stage;
  setRecording(joined.recording, joined.recording_note);
  answersJoined(joined);
  rosterSoon();
  renderAll();
}

function setHands(hands) {
  const now = new Date().toISOString();
  const fresh = hands.filter((id) => !state.hands.includes(id));
  for (const id of fresh) state.handSince.set(id, now);
  for (const id of state.handSince.keys()) if (!hands.includes(id)) state.handSince.delete(id);
  state.hands = [...hands];
  return fresh;
}

function setRecording(on, reason) {
  state.recording = on;
  const el = $("recording");
  el.dataset.recording = String(on);
  $("recording-text").textContent = on
    ? t("recording.on")
    : reason
      ? t("recording.stopped", { reason })
      : t("recording.off");
}

function onMessage(m) {
  if (answersMessage(m)) return;
  switch (m.type) {
    case "participant_joined":
      if (m.participant.role === "classroom") state.participants.set(m.participant.id, { ...m.participant });
      if (m.participant.whip === "camera") state.whip.add(m.participant.id);
      if (m.participant.rtmp) state.rtmp.add(m.participant.id);
      renderWhip();
      rosterSoon();
      break;
    case "participant_left":
      state.participants.delete(m.participant);
      state.whip.delete(m.participant);
      state.rtmp.delete(m.participant);
      renderWhip();
      setHands(state.hands.filter((id) => id !== m.participant));
      if (state.stage === m.participant) state.stage = null;
      if (state.listening === m.participant) state.listening = null;
      state.stats.delete(m.participant);
      rosterSoon();
      break;
    case "hand_raised":
    case "hand_lowered": {
      const fresh = setHands(m.hands);
      if (m.type === "hand_raised" && fresh.length) chime.play();
      break;
    }
    case "stage_changed":
      state.stage = m.participant;
      break;
    case "muted_changed": {
      const p = state.participants.get(m.participant);
      if (p) p.muted = m.muted;
      break;
    }
    case "stats_summary":
      state.stats = new Map(m.participants.map((s) => [s.participant, s]));
      for (const s of m.participants) {
        const p = state.participants.get(s.participant);
        if (p) p.audio_only = s.audio_only;
      }
      renderUplink();
      break;
    case "recording_changed":
      setRecording(m.recording, m.reason);
      return;
    case "chat":
      addChat(m);
      return;
    case "lesson_ended":
      lessonEnded();
      return;
    case "error":
      showNotice(t("notice.actionFailed", { message: m.message }));
      return;
    default:
      return;
  }
  renderAll();
}

// ------------------------------------------------------------------ rendering

function renderAll() {
  if (state.ended) return;
  const tiles = tileModels();
  grid.render(tiles, { live: isLive() });
  attachMedia();
  renderCount();
  renderHandList(tiles);
  decorateTiles();
  $("stage-off").hidden = !state.stage;
  $("stage-off").disabled = !isLive();
}

function renderCount() {
  const roster = state.roster;
  $("no-classrooms").hidden = !roster || roster.total > 0;
  if (!roster) return;
  const count = $("ready-count");
  count.textContent = t("classrooms.readyCount", { ready: roster.ready, total: roster.total });
  count.dataset.complete = String(roster.ready === roster.total);
  const wanted = roster.status === "live" ? ["in_lesson", "audio_only"] : ["waiting", "joining", "in_lesson", "audio_only"];
  const missing = roster.classrooms.filter((c) => !wanted.includes(c.state)).map((c) => c.name);
  const shown = missing.slice(0, 3).join(t("classrooms.listSeparator"));
  $("missing").textContent = missing.length
    ? t(missing.length > 3 ? "classrooms.missingMore" : "classrooms.missing", { names: shown, more: missing.length - 3 })
    : "";
  $("missing").title = missing.length ? t("classrooms.missing", { names: missing.join(t("classrooms.listSeparator")) }) : "";
}

function renderHandList(tiles) {
  const names = new Map(tiles.filter((x) => x.participant).map((x) => [x.participant, x.name]));
  const hands = state.hands.map((id) => ({
    participant: id,
    name: names.get(id) || (state.participants.get(id) || {}).name || id,
    since: state.handSince.get(id),
  }));
  renderHands($("hands"), hands, {
    t,
    lang,
    live: isLive(),
    onStage: (id) => send({ type: "stage_on", participant: id }),
    onLower: (id) => send({ type: "lower_hand", participant: id }),
  });
  $("no-hands").hidden = hands.length > 0;
  $("hand-count").textContent = hands.length ? String(hands.length) : "";
}

function renderUplink() {
  const mine = state.me ? state.stats.get(state.me.id) : null;
  const described = describeUplink(mine, t);
  const button = $("uplink");
  button.dataset.quality = described.quality;
  $("uplink-text").textContent = described.text;
  button.title = described.numbers.join("\n");
  $("uplink-numbers").textContent = described.numbers.join(" · ");
}

function send(message) {
  if (!state.session) return;
  state.session.request(message).catch((exc) => {
    if (exc.code !== "closed") showNotice(t("notice.actionFailed", { message: errorText(exc) }));
  });
}

const tileActions = {
  listen(id) {
    state.listening = state.listening === id ? null : id;
    send(state.listening ? { type: "listen", participant: id } : { type: "listen" });
    renderAll();
  },
  stage(id) {
    if (state.stage === id) send({ type: "stage_off" });
    else send({ type: "stage_on", participant: id });
  },
  mute(id) {
    const info = state.participants.get(id);
    if (info) send({ type: "mute_request", participant: id, muted: !info.muted });
  },
};

function playQuietly(el) {
  const played = el.play();
  if (played) played.catch(() => {});
}

/** Tiles' pictures, and classroom sound: one audio element per classroom, of which the hub
 * forwards the one listened to (and the stage). */
function attachMedia() {
  const tracks = state.session ? state.session.tileTracks() : new Map();
  grid.attach(tracks);
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
  who.textContent = state.me && m.sender === state.me.id ? t("chat.you") : m.sender_name;
  const when = document.createElement("time");
  const at = new Date(m.at * 1000);
  when.dateTime = at.toISOString();
  when.textContent = clock(at.toISOString(), lang);
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
    $("share-text").textContent = t("screen.stop");
    $("share-screen").setAttribute("aria-pressed", "true");
  } catch (exc) {
    if (exc && exc.name !== "NotAllowedError") showNotice(t("notice.shareFailed", { message: errorText(exc) }));
  }
}

async function stopScreen() {
  const track = state.screenTrack;
  if (!track) return;
  state.screenTrack = null;
  track.stop();
  if (state.session && !state.ended) {
    await state.session.replaceTrack("screen", null);
    send({ type: "screen_share", on: false });
  }
  $("screen-preview").srcObject = null;
  $("screen-preview").hidden = true;
  $("share-text").textContent = t("screen.share");
  $("share-screen").setAttribute("aria-pressed", "false");
}

/** A styled confirmation that names what ends: the lesson, for how many, and its recording. */
function confirmEnd() {
  const dialog = $("end-dialog");
  const roster = state.roster;
  const inLesson = roster ? roster.classrooms.filter((c) => ["in_lesson", "audio_only", "joining"].includes(c.state)).length : state.participants.size;
  $("end-dialog-text").textContent = t("end.confirmText", { title: state.lesson.title });
  const lines = [
    t(inLesson === 1 ? "end.confirmClassroom" : "end.confirmClassrooms", { n: inLesson }),
    t(state.recording ? "end.confirmRecording" : "end.confirmNoRecording"),
    t("end.confirmFinal"),
  ];
  $("end-dialog-list").replaceChildren(
    ...lines.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }),
  );
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "end"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("end-keep").focus();
  });
}

async function endLesson() {
  if (state.ended || !state.lesson || state.lesson.status !== "live") return;
  if (!(await confirmEnd())) return;
  $("end-lesson").disabled = true;
  try {
    state.lesson = await request("POST", `/api/lessons/${state.lesson.id}/end`, {
      token: state.token,
    });
    lessonEnded();
  } catch (exc) {
    $("end-lesson").disabled = false;
    showNotice(t("notice.actionFailed", { message: errorText(exc) }));
  }
}

/** The lesson is over: nothing on this page may look live any more. */
function lessonEnded() {
  if (state.ended) return;
  state.ended = true;
  clearInterval(state.rosterTimer);
  clearTimeout(state.rosterSoon);
  if (state.lesson) state.lesson = { ...state.lesson, status: "ended" };
  if (state.session) state.session.stop({ leave: false });
  media.stop();
  if (state.screenTrack) {
    state.screenTrack.stop();
    state.screenTrack = null;
  }
  $("screen-preview").srcObject = null;
  for (const video of document.querySelectorAll("#tiles video")) video.srcObject = null;
  $("tiles").replaceChildren();
  $("tile-audio").replaceChildren();
  $("hands").replaceChildren();
  state.hands = [];
  state.stage = null;
  document.body.dataset.state = "ended";
  $("connection").dataset.state = "ended";
  $("connection").textContent = t("state.ended");
  $("recording").hidden = true;
  $("uplink").hidden = true;
  $("uplink-numbers").hidden = true;
  $("media-warning").hidden = true;
  $("whip-active").hidden = true;
  for (const id of ["go-live", "go-live-anyway", "share-screen", "end-lesson", "chime"]) $(id).hidden = true;
  for (const id of ["chat-input", "chat-send"]) $(id).disabled = true;
  showNotice("");
  $("console").hidden = true;
  $("ended-view").hidden = false;
  $("ended-lesson").textContent = state.lesson ? t("ended.lesson", { title: state.lesson.title, time: clock(new Date().toISOString(), lang) }) : "";
  showFollowup();
}

async function showFollowup() {
  if (!state.lesson) return;
  let after;
  try {
    after = await request("GET", `/api/lessons/${state.lesson.id}/followup`, { token: state.token });
  } catch {
    $("ended-next").textContent = t("ended.unknown");
    $("ended-recording").textContent = t("ended.unknown");
    return;
  }
  const next = after.next_lesson;
  $("ended-next").textContent = next
    ? t("ended.next", { title: next.title, when: new Date(next.scheduled_start).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) })
    : t("ended.noNext");
  const place = $("ended-recording");
  place.replaceChildren();
  if (!after.recording_enabled && !after.recordings.length) {
    place.textContent = t("ended.notRecorded");
    return;
  }
  const anchor = (href, text) => {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    return link;
  };
  place.append(t("ended.recording", { title: state.lesson.title }), " ");
  const recordings = after.recordings;
  if (recordings.length <= 1) {
    place.append(anchor(recordings[0] ? recordings[0].library_url : after.library_url, t("ended.library")));
    return;
  }
  // A recording a full disk cut short leaves parts: each has its own page.
  recordings.forEach((rec, i) => place.append(anchor(rec.library_url, t("ended.recordingPart", { n: i + 1 })), " "));
  place.append("· ", anchor(after.library_url, t("ended.allRecordings")));
}

// ------------------------------------------------------------------ secure context, check

// Over plain HTTP from another PC, getUserMedia does not exist: say why, instead of an error
// about an undefined property.
function explainInsecureContext() {
  if (window.isSecureContext) return false;
  $("insecure-url").textContent = window.location.origin;
  $("insecure").hidden = false;
  $("device-error").textContent = t("insecure.title");
  $("device-error").hidden = false;
  document.body.dataset.secure = "false";
  return true;
}

async function checkConnection() {
  const button = $("check-connection");
  const list = $("check-lines");
  button.disabled = true;
  list.replaceChildren();
  const stream = new MediaStream(["camera", "microphone"].map((k) => media.track(k)).filter(Boolean));
  try {
    await runConnectionCheck({
      token: state.token,
      t,
      stream,
      onLine: ({ check, status, text }) => {
        const item = document.createElement("li");
        item.dataset.check = check;
        item.dataset.status = status;
        item.textContent = `${t(`check.status.${status}`)} · ${text}`;
        list.append(item);
      },
    });
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ WHIP

/** While a WHIP publisher holds the camera and microphone, this page's own are not sent. */
function renderWhip() {
  $("whip-active").hidden = state.ended || state.whip.size + state.rtmp.size === 0;
  $("whip-active-text").textContent = t(state.rtmp.size ? "rtmp.active" : "whip.active");
}

/** The lesson's RTMP stream key, when the hub has the bridge on and the admin issued one. */
async function showRtmp() {
  let rtmp;
  try {
    rtmp = await request("GET", `/api/lessons/${state.lesson.id}/rtmp`, { token: state.token });
  } catch {
    return; // the panel is a convenience: without it the page works as before
  }
  if (!rtmp.key) return;
  $("rtmp-url").value = rtmp.key.server_url;
  $("rtmp-key").value = rtmp.key.stream_key;
  $("rtmp").hidden = false;
}

/** The same access publishes over WHIP (OBS, a lecture-capture box): its URL and token. */
function showWhip() {
  $("whip-url").value = new URL(`/whip/${encodeURIComponent(state.code)}`, window.location.origin).href;
  $("whip-token").value = state.token || "";
  for (const [button, field, status] of [
    ["copy-whip-url", "whip-url", "whip-status"],
    ["copy-whip-token", "whip-token", "whip-status"],
    ["copy-rtmp-url", "rtmp-url", "rtmp-status"],
    ["copy-rtmp-key", "rtmp-key", "rtmp-status"],
  ]) {
    $(button).addEventListener("click", async () => {
      const ok = await copyText($(field).value, $(field));
      $(status).textContent = t(ok ? "copy.done" : "copy.failed");
    });
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || state.ended) return;
  const target = event.target;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  if ((event.key === "k" || event.key === "K") && isLive()) {
    event.preventDefault();
    mark();
    return;
  }
  if (event.key === "h" || event.key === "H") {
    const first = document.querySelector("#hands .hand-stage");
    if (first) {
      event.preventDefault();
      first.focus();
    }
  }
}

function renderChime() {
  const button = $("chime");
  button.setAttribute("aria-pressed", String(chime.enabled));
  button.querySelector(".icon").className = `icon ${chime.enabled ? "icon-bell" : "icon-bell-off"}`;
  const label = t(chime.enabled ? "hands.chimeOn" : "hands.chimeOff");
  button.setAttribute("aria-label", label);
  button.title = label;
}

// ------------------------------------------------------------------ boot

async function main() {
  // Take the secret out of the address bar before anything else happens.
  state.token = takeToken();
  ({ t, lang } = await loadStrings("lesson"));
  media = new LocalMedia($("preview"));
  media.addEventListener("change", (e) => onMediaChange(e.detail.kind, e.detail.track));
  grid = new Grid({ list: $("tiles"), template: $("tile-template"), t, lang, actions: tileActions });

  showWhip();
  $("go-live").addEventListener("click", goLive);
  $("go-live-anyway").addEventListener("click", goLive);
  $("share-screen").addEventListener("click", toggleScreen);
  $("end-lesson").addEventListener("click", endLesson);
  $("toggle-mic").addEventListener("click", () => setMicMuted(!state.micMuted));
  $("toggle-camera").addEventListener("click", () => setCameraOff(!state.cameraOff));
  $("camera-select").addEventListener("change", () => media.open("camera", $("camera-select").value));
  $("mic-select").addEventListener("change", () => media.open("microphone", $("mic-select").value));
  $("retry-devices").addEventListener("click", () => {
    for (const kind of ["camera", "microphone"]) if (media.status(kind) === "failed") media.open(kind);
  });
  $("stage-off").addEventListener("click", () => send({ type: "stage_off" }));
  setUpAnswers({ t, send });
  $("chime").addEventListener("click", () => {
    chime.setEnabled(!chime.enabled);
    chime.unlock();
    renderChime();
  });
  $("uplink").addEventListener("click", () => {
    const open = $("uplink").getAttribute("aria-expanded") !== "true";
    $("uplink").setAttribute("aria-expanded", String(open));
    $("uplink-numbers").hidden = !open;
  });
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text });
    input.value = "";
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => {
    if (state.session) state.session.stop();
  });
  $("check-connection").addEventListener("click", checkConnection);
  renderChime();

  if (!state.token) {
    document.body.dataset.state = "error";
    $("lesson-title").textContent = t("page.title", { title: "" }).replace(/^ · /, "");
    showNotice(t("notice.noToken"));
    renderMedia();
    return;
  }
  state.insecure = explainInsecureContext();
  if (!state.insecure) {
    media.open("camera");
    media.open("microphone");
    setTimeout(() => {
      state.offerAnyway = true;
      refreshGoLive();
    }, OFFER_ANYWAY_AFTER_MS);
  }
  renderMedia();
  try {
    const lesson = await loadLesson();
    if (lesson.status === "ended") {
      lessonEnded();
      return;
    }
    document.body.dataset.state = "ready";
    $("end-lesson").disabled = lesson.status !== "live";
    startRoster();
    showRtmp();
  } catch (exc) {
    document.body.dataset.state = "error";
    showNotice(t("notice.loadFailed", { message: errorText(exc) }));
  }
  refreshGoLive();
  renderAll();
}

main();
