// A small browser client of the StreamHub wire protocol (docs/protocol.md), shared by the
// lecturer console and the browser classroom. It mirrors streamhub/client/session.py:
// join, create transceivers in `joined.layout` order, only the client offers, grow the
// lecturer's tiles on `renegotiate`, map mids to slots (`answer.slots`) and to classrooms
// (`tiles`). LiveSession adds what a page needs on top: reconnecting with backoff.

export const PUBLISH_SLOTS = new Set(["camera", "microphone", "screen"]);
export const SLOT_KIND = {
  camera: "video",
  microphone: "audio",
  screen: "video",
  "lecturer.video": "video",
  "lecturer.audio": "audio",
  "screen.video": "video",
  "stage.video": "video",
  "stage.audio": "audio",
  "tile.video": "video",
  "tile.audio": "audio",
};
export const TILE_SLOTS = new Set(["tile.video", "tile.audio"]);
// A classroom's quick replies to the lecturer (streamhub/protocol.py REPLY_KINDS), in order.
export const REPLY_KINDS = ["cant_hear", "cant_see", "slower", "done", "help"];
// The hub's close codes this client acts on, by the code that ends the session (the table in
// docs/protocol.md; tests/web/test_js_constants.py compares them with streamhub/protocol.py).
export const CLOSE = {
  unauthorized: 4401,
  forbidden: 4403,
  heartbeat_timeout: 4408,
  replaced: 4409,
  lesson_ended: 4410,
  too_large: 4413,
  no_usable_codec: 4415,
};
// Close codes after which trying again cannot help.
const FINAL_CLOSE = new Set([
  CLOSE.unauthorized,
  CLOSE.forbidden,
  CLOSE.replaced,
  CLOSE.lesson_ended,
  CLOSE.too_large,
  CLOSE.no_usable_codec,
]);
// Error codes of a refused join after which trying again cannot help.
const FINAL_ERRORS = new Set(["unauthorized", "forbidden", "wrong_lesson", "no_usable_codec"]);
const VIDEO_MAX_BITRATE = { camera: 1_500_000, screen: 2_500_000 };

/** Read `#key=value&...` from the fragment. */
export function fragmentParams() {
  const hash = window.location.hash.replace(/^#/, "");
  return new URLSearchParams(hash);
}

/** Drop the fragment (it carries a secret) from the address bar and the history entry. */
export function clearFragment() {
  const url = new URL(window.location.href);
  url.hash = "";
  history.replaceState(history.state, "", url.pathname + url.search);
}

/** The signaling socket of this page's hub, or of the hub node at `base` (a redirect). */
export function signalingUrl(base = null) {
  const where = base ? new URL(base) : window.location;
  const scheme = where.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${where.host}/ws`;
}

const MAX_REDIRECTS = 3;

/** One WebSocket: requests with ids, replies matched to them, events to listeners. */
export class Signaling {
  constructor(url, { requestTimeoutMs = 10_000, silenceMs = 35_000 } = {}) {
    this.url = url;
    this.requestTimeoutMs = requestTimeoutMs;
    // The hub pings every few seconds: this much silence means the link is dead even if the
    // browser has not noticed (a pulled cable can leave a socket "open" for minutes).
    this.silenceMs = silenceMs;
    this.lastReceived = 0;
    this.watchdog = null;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.onmessage = () => {};
    this.onclose = () => {};
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.lastReceived = performance.now();
        this.watchdog = setInterval(() => {
          if (performance.now() - this.lastReceived > this.silenceMs) {
            this._closed(CLOSE.heartbeat_timeout, "no message from the hub");
            ws.close();
          }
        }, 5000);
        resolve();
      };
      ws.onmessage = (event) => {
        this.lastReceived = performance.now();
        this._receive(event.data);
      };
      ws.onclose = (event) => {
        if (!opened) reject(Object.assign(new Error("cannot connect"), { code: "closed" }));
        this._closed(event.code, event.reason);
      };
    });
  }

  _closed(code, reason) {
    if (this.ws === null) return;
    clearInterval(this.watchdog);
    this.ws.onclose = null;
    this.ws.onmessage = null;
    this.ws = null;
    for (const { reject: fail, timer } of this.pending.values()) {
      clearTimeout(timer);
      fail(Object.assign(new Error(reason || "connection closed"), { code: "closed" }));
    }
    this.pending.clear();
    this.onclose(code, reason);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (this.isOpen) this.ws.send(JSON.stringify(message));
  }

  /** Send with an id; resolve with the reply (ack, joined, answer), reject on `error`. */
  request(message) {
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(Object.assign(new Error("not connected"), { code: "closed" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error(`${message.type}: no reply`), { code: "timeout" }));
      }, this.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...message, id }));
    });
  }

  close(code = 1000, reason = "") {
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
    this._closed(code, reason);
  }

  _receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    if (message.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    const waiting = message.id != null ? this.pending.get(message.id) : undefined;
    if (waiting) {
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "error") {
        waiting.reject(
          Object.assign(new Error(message.message), { code: message.code, url: message.url }),
        );
      } else {
        waiting.resolve(message);
      }
      if (message.type !== "joined" && message.type !== "answer") return;
    }
    this.onmessage(message);
  }
}

/** The codecs this browser can both send and receive (H.264 first when it can: the hub's
 * lessons prefer it, since their recordings are remuxed rather than transcoded). */
export function supportedCodecs() {
  const both = (mime) =>
    [RTCRtpSender, RTCRtpReceiver].every((side) => {
      const caps = side.getCapabilities ? side.getCapabilities("video") : null;
      return !!caps && caps.codecs.some((c) => c.mimeType.toLowerCase() === mime);
    });
  const video = [];
  if (typeof RTCRtpSender !== "undefined" && both("video/h264")) video.push("H264");
  return [...video, "VP8", "opus"];
}

function codecPreferences(kind, videoCodec) {
  const wanted = kind === "video" ? [`video/${videoCodec}`.toLowerCase(), "video/rtx"] : ["audio/opus"];
  const caps = RTCRtpReceiver.getCapabilities ? RTCRtpReceiver.getCapabilities(kind) : null;
  if (!caps) return null;
  const codecs = caps.codecs.filter((c) => wanted.includes(c.mimeType.toLowerCase()));
  return codecs.some((c) => c.mimeType.toLowerCase() === wanted[0]) ? codecs : null;
}

function waitFor(predicate, target, eventName, timeoutMs) {
  if (predicate()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      target.removeEventListener(eventName, check);
      resolve(value);
    };
    const check = () => {
      if (predicate()) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    target.addEventListener(eventName, check);
  });
}

/**
 * A participant's live session: join, negotiate, keep going across drops.
 *
 * options.token: async () => access token (called for every (re)join)
 * options.publish: { camera, microphone, screen } MediaStreamTracks (or null)
 * Events (CustomEvent detail): "state" {state, detail}, "joined" {joined},
 * "message" {message}, "media" {} (slots or tiles changed), "closed" {code, reason}.
 */
export class LiveSession extends EventTarget {
  constructor({
    token,
    publish = {},
    name = null,
    lesson = null,
    codecs = supportedCodecs(),
    degradation = { screen: "maintain-resolution" },
  }) {
    super();
    this.degradation = degradation;
    this.tokenSource = token;
    this.publishTracks = { ...publish };
    this.name = name;
    this.lesson = lesson;
    this.codecs = codecs;
    this.state = "idle";
    this.signaling = null;
    this.pc = null;
    this.joined = null;
    this.layout = [];
    this.slots = {}; // mid -> slot
    this.tiles = {}; // tile mid -> participant id (or null)
    this.senders = {}; // publish slot -> RTCRtpSender
    this.wantedTiles = 0;
    this.stopped = false;
    this.attempt = 0;
    // With several hub nodes, the node that holds the lesson (after a redirect).
    this.nodeUrl = null;
    this.redirects = 0;
    this.generation = 0;
    this.chain = Promise.resolve();
    this.offerSent = false;
    this.retryTimer = null;
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, detail = null) {
    this.state = state;
    this._emit("state", { state, detail });
  }

  /** Connect now; reconnects by itself until stop() or a final close. */
  start() {
    this.stopped = false;
    this._connect();
  }

  async stop({ leave = true } = {}) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (leave && this.signaling && this.signaling.isOpen) this.signaling.send({ type: "leave" });
    this._teardown();
    this._setState("stopped");
  }

  send(message) {
    if (this.signaling) this.signaling.send(message);
  }

  request(message) {
    if (!this.signaling) return Promise.reject(new Error("not connected"));
    return this.signaling.request(message);
  }

  /** Switch what a publish slot sends, without renegotiation (null stops it). */
  async replaceTrack(slot, track) {
    this.publishTracks[slot] = track;
    const sender = this.senders[slot];
    if (sender) await sender.replaceTrack(track);
  }

  /** The receiving track of a fixed slot (lecturer.video, stage.audio, ...). */
  track(slot) {
    if (!this.pc) return null;
    for (const t of this.pc.getTransceivers()) {
      if (t.mid != null && this.slots[t.mid] === slot) return t.receiver.track;
    }
    return null;
  }

  /** participant id -> {video, audio} receiving tracks of the lecturer's tiles. */
  tileTracks() {
    const result = new Map();
    if (!this.pc) return result;
    for (const t of this.pc.getTransceivers()) {
      const slot = t.mid != null ? this.slots[t.mid] : undefined;
      if (!TILE_SLOTS.has(slot)) continue;
      const pid = this.tiles[t.mid];
      if (!pid) continue;
      const entry = result.get(pid) || { video: null, audio: null };
      entry[slot === "tile.video" ? "video" : "audio"] = t.receiver.track;
      result.set(pid, entry);
    }
    return result;
  }

  _teardown() {
    this.generation += 1;
    if (this.signaling) {
      this.signaling.onclose = () => {};
      this.signaling.onmessage = () => {};
      this.signaling.close(1000, "bye");
    }
    this.signaling = null;
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.onicecandidate = null;
      this.pc.close();
    }
    this.pc = null;
    this.senders = {};
    this.slots = {};
    this.tiles = {};
    this.offerSent = false;
    this.chain = Promise.resolve();
  }

  _retry(reason) {
    if (this.stopped) return;
    this._teardown();
    // After a drop, ask this page's own hub again: the lesson may have moved to another node.
    this.nodeUrl = null;
    this.attempt += 1;
    const delay = Math.min(15_000, 1000 * 2 ** Math.min(this.attempt - 1, 4));
    const jitter = Math.random() * 300;
    this._setState("reconnecting", reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delay + jitter);
  }

  _final(code, reason) {
    this._teardown();
    this.stopped = true;
    this._emit("closed", { code, reason });
    this._setState(code === CLOSE.lesson_ended ? "ended" : "failed", { code, reason });
  }

  async _connect() {
    if (this.stopped) return;
    this._teardown();
    const generation = this.generation;
    this._setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this.tokenSource();
    } catch (exc) {
      if (generation !== this.generation) return;
      if (exc && exc.final) {
        this._final(exc.closeCode || CLOSE.unauthorized, exc.message);
      } else {
        this._retry(exc && exc.message);
      }
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    const signaling = new Signaling(signalingUrl(this.nodeUrl));
    this.signaling = signaling;
    signaling.onmessage = (message) => this._onMessage(message, generation);
    signaling.onclose = (code, reason) => {
      if (generation !== this.generation) return;
      this._emit("closed", { code, reason });
      if (FINAL_CLOSE.has(code)) this._final(code, reason);
      else this._retry(reason || `closed (${code})`);
    };
    try {
      await signaling.open();
      const join = { type: "join", v: 1, token, codecs: this.codecs };
      if (this.name) join.name = this.name;
      if (this.lesson) join.lesson = this.lesson;
      const joined = await signaling.request(join);
      if (generation !== this.generation) return;
      this.joined = joined;
      this.layout = [...joined.layout];
      this.wantedTiles = Math.max(
        this.wantedTiles,
        this.layout.filter((s) => s === "tile.video").length,
      );
      this._emit("joined", { joined });
      this._createPeer(joined);
      for (const slot of this.layout) this._addTransceiver(slot);
      await this._negotiate(generation);
      if (generation !== this.generation) return;
      this.attempt = 0;
      this.redirects = 0;
      this._setState("live");
      // Grow now if classrooms arrived while we negotiated the joined layout.
      if (this.wantedTiles > this.layout.filter((s) => s === "tile.video").length) {
        this._scheduleRenegotiation(this.wantedTiles, generation);
      }
    } catch (exc) {
      if (generation !== this.generation) return;
      const code = exc && exc.code;
      if (code === "redirect" && exc.url && this.redirects < MAX_REDIRECTS) {
        // Another hub node holds this lesson's media: join there.
        this.redirects += 1;
        this.nodeUrl = exc.url;
        this._connect();
        return;
      }
      if (FINAL_ERRORS.has(code)) {
        this._final(CLOSE.unauthorized, exc.message);
      } else {
        this._retry(exc && exc.message);
      }
    }
  }

  _createPeer(joined) {
    const iceServers = (joined.ice_servers || []).map((s) => {
      const server = { urls: s.urls };
      if (s.username != null) server.username = s.username;
      if (s.credential != null) server.credential = s.credential;
      return server;
    });
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.pc = pc;
    const generation = this.generation;
    pc.onicecandidate = (event) => {
      // Candidates gathered before the offer ride in its SDP; later ones trickle.
      if (generation !== this.generation || !this.offerSent || !event.candidate) return;
      const c = event.candidate;
      if (!c.candidate) return;
      this.send({
        type: "ice_candidate",
        candidate: c.candidate,
        sdp_mid: c.sdpMid,
        sdp_mline_index: c.sdpMLineIndex,
      });
    };
    pc.onconnectionstatechange = () => {
      if (generation !== this.generation) return;
      this._emit("peer", { state: pc.connectionState });
      if (pc.connectionState === "failed") this._retry("media connection failed");
    };
  }

  _addTransceiver(slot) {
    const kind = SLOT_KIND[slot];
    let transceiver;
    if (PUBLISH_SLOTS.has(slot)) {
      const track = this.publishTracks[slot] || null;
      const init = { direction: "sendonly" };
      // One fixed encoding per video slot: no simulcast, the hub forwards as is.
      if (kind === "video") init.sendEncodings = [{ maxBitrate: VIDEO_MAX_BITRATE[slot] }];
      transceiver = this.pc.addTransceiver(track || kind, init);
      this.senders[slot] = transceiver.sender;
      this._applyDegradation(slot);
    } else {
      transceiver = this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
    const prefs = codecPreferences(kind, (this.joined && this.joined.video_codec) || "VP8");
    if (prefs && transceiver.setCodecPreferences) {
      try {
        transceiver.setCodecPreferences(prefs);
      } catch {
        // Keep the browser's defaults; the hub picks its codec from the offer.
      }
    }
    return transceiver;
  }

  /** Offer and apply the answer, after whatever negotiation is already queued. */
  _negotiate(generation) {
    const run = () => this._offer(generation);
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  async _offer(generation) {
    if (generation !== this.generation) return;
    const pc = this.pc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // Give ICE a moment so the host candidates ride in the offer (loopback and LAN are fast).
    await waitFor(() => pc.iceGatheringState === "complete", pc, "icegatheringstatechange", 2000);
    if (generation !== this.generation) return;
    this.offerSent = true;
    const answer = await this.signaling.request({ type: "offer", sdp: pc.localDescription.sdp });
    if (generation !== this.generation) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.slots = { ...answer.slots };
    Object.assign(this.tiles, answer.tiles || {});
    this._emit("media", {});
  }

  /** What the encoder gives up first when bandwidth is short (slides: frames, not pixels). */
  _applyDegradation(slot) {
    const preference = this.degradation[slot];
    const sender = this.senders[slot];
    if (!preference || !sender || !sender.getParameters) return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) return;
    params.degradationPreference = preference;
    sender.setParameters(params).catch(() => {});
  }

  _scheduleRenegotiation(tiles, generation) {
    this.wantedTiles = Math.max(this.wantedTiles, tiles);
    const run = async () => {
      if (generation !== this.generation) return;
      const have = this.layout.filter((s) => s === "tile.video").length;
      if (this.wantedTiles <= have) return;
      // Let the previous answer's transports settle before changing the m-lines again.
      await waitFor(
        () => !this.pc || ["connected", "failed", "closed"].includes(this.pc.connectionState),
        this.pc,
        "connectionstatechange",
        15_000,
      );
      if (generation !== this.generation) return;
      const add = this.wantedTiles - this.layout.filter((s) => s === "tile.video").length;
      for (let i = 0; i < add; i += 1) {
        this.layout.push("tile.video", "tile.audio");
        this._addTransceiver("tile.video");
        this._addTransceiver("tile.audio");
      }
      if (add > 0) await this._offer(generation);
    };
    this.chain = this.chain.then(run, run).catch((exc) => {
      if (generation === this.generation) this._retry(`renegotiation failed: ${exc && exc.message}`);
    });
  }

  _onMessage(message, generation) {
    if (generation !== this.generation) return;
    if (message.type === "renegotiate") {
      this._scheduleRenegotiation(message.tiles, generation);
    } else if (message.type === "tiles") {
      Object.assign(this.tiles, message.tiles);
      this._emit("media", {});
    } else if (message.type === "lesson_ended") {
      this._emit("message", { message });
      this._final(CLOSE.lesson_ended, "lesson ended");
      return;
    } else if (message.type === "ice_candidate" && this.pc) {
      this.pc
        .addIceCandidate({
          candidate: message.candidate,
          sdpMid: message.sdp_mid,
          sdpMLineIndex: message.sdp_mline_index,
        })
        .catch(() => {});
      return;
    }
    this._emit("message", { message });
  }

  /** A few numbers for the `stats` message, from the inbound video of `slot`. */
  async collectStats(slot) {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    let inbound = null;
    let pair = null;
    const wantedMid = Object.keys(this.slots).find((mid) => this.slots[mid] === slot);
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video" && (wantedMid == null || s.mid === wantedMid)) {
        inbound = s;
      }
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
    });
    const now = performance.now();
    const result = {};
    if (inbound) {
      const prev = this._lastInbound;
      if (prev) {
        const seconds = (now - prev.at) / 1000;
        if (seconds > 0) {
          result.bitrate_kbps = Math.max(0, ((inbound.bytesReceived - prev.bytes) * 8) / 1000 / seconds);
          const lost = inbound.packetsLost - prev.lost;
          const got = inbound.packetsReceived - prev.received;
          result.loss = got + lost > 0 ? Math.min(1, Math.max(0, lost / (got + lost))) : 0;
        }
      }
      this._lastInbound = {
        at: now,
        bytes: inbound.bytesReceived || 0,
        lost: inbound.packetsLost || 0,
        received: inbound.packetsReceived || 0,
      };
      if (inbound.framesPerSecond != null) result.fps = inbound.framesPerSecond;
      if (inbound.freezeCount != null) result.freezes = inbound.freezeCount;
    }
    if (pair && pair.currentRoundTripTime != null) result.rtt_ms = pair.currentRoundTripTime * 1000;
    return result;
  }
}
