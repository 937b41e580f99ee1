// Replay data, shared by the library's player and the capsule shelf: the stretches a player
// played are sent in batches to POST /api/replay/watched (every PLAYED_FLUSH_MS, on seek, pause
// and leaving), and the "re-watched" heat strip is drawn from GET /api/…/replay.
import { el, formatDuration } from "./api.js";

const FLUSH_MS = 15000;
const MAX_RANGES = 64; // the hub refuses more per batch
// Two time updates further apart than this (in media seconds) are not one stretch of play.
const GAP_S = 1.5;

function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return [...a].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Follows one <video> playing one recording or capsule; close() sends what is left. */
export class WatchReporter {
  constructor(api, video, target) {
    this.api = api;
    this.video = video;
    this.target = target; // { recording_id } or { capsule_id }
    this.session = randomHex(16);
    this.ranges = [];
    this.from = null;
    this.last = null;
    this.sent = 0; // batches sent (tests read it through the DOM: data-watch-batches)
    this.listeners = {
      timeupdate: () => this.tick(),
      seeking: () => this.cut(),
      pause: () => this.flush(),
      ended: () => this.flush(),
    };
    for (const [ev, fn] of Object.entries(this.listeners)) video.addEventListener(ev, fn);
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.onHide = () => {
      if (document.visibilityState === "hidden") this.flush(true);
    };
    document.addEventListener("visibilitychange", this.onHide);
  }

  tick() {
    const v = this.video;
    if (v.paused || v.seeking) return;
    const now = v.currentTime;
    if (this.from !== null && now >= this.last && now - this.last <= GAP_S * (v.playbackRate || 1)) {
      this.last = now;
      return;
    }
    this.cut();
    this.from = this.last = now;
  }

  /** Ends the open stretch (a seek: what follows is another one). */
  cut() {
    if (this.from !== null && this.last > this.from) this.ranges.push([this.from, this.last]);
    this.from = this.last = null;
  }

  flush(leaving = false) {
    if (this.from !== null && this.last > this.from) {
      this.ranges.push([this.from, this.last]);
      this.from = this.last; // play goes on from here
    }
    if (!this.ranges.length) return Promise.resolve();
    const ranges = this.ranges.splice(0, MAX_RANGES).map(([a, b]) => [
      Math.round(a * 10) / 10,
      Math.round(b * 10) / 10,
    ]);
    const body = { ...this.target, session: this.session, ranges: ranges.filter(([a, b]) => b > a) };
    if (!body.ranges.length) return Promise.resolve();
    this.sent += 1;
    this.video.dataset.watchBatches = String(this.sent);
    // keepalive: a batch sent as the page goes away still arrives.
    return this.api
      .request("POST", "/api/replay/watched", { body, keepalive: leaving })
      .catch(() => {}); // replay data is never worth an error in front of the user
  }

  close() {
    this.cut();
    const done = this.flush(true);
    clearInterval(this.timer);
    for (const [ev, fn] of Object.entries(this.listeners)) this.video.removeEventListener(ev, fn);
    document.removeEventListener("visibilitychange", this.onHide);
    return done;
  }
}

/** The heat strip: one cell per bucket, darker where the timeline was played more often;
 * a click seeks there. */
export function renderHeat(strip, replay, t, seek) {
  const max = Math.max(1, ...replay.heat);
  strip.replaceChildren(
    ...replay.heat.map((value, i) => {
      const from = i * replay.bucket_s;
      const to = Math.min(replay.duration_s, from + replay.bucket_s);
      const cell = el("span", {
        class: "heat-cell",
        title: t("replay.cell", {
          from: formatDuration(from),
          to: formatDuration(to),
          plays: Math.round(value * 10) / 10,
        }),
        dataset: { plays: value },
        onclick: () => seek(from),
      });
      cell.style.opacity = String(0.08 + 0.92 * (value / max));
      return cell;
    }),
  );
  const top = replay.suggestions[0];
  strip.setAttribute(
    "aria-label",
    top
      ? t("replay.heatTop", { from: formatDuration(top.start_s), to: formatDuration(top.end_s) })
      : t("replay.heatNone"),
  );
}

export function replaySummary(replay, t) {
  return t("replay.summary", {
    views: replay.views,
    viewers: replay.viewers,
    time: formatDuration(replay.watch_s),
  });
}
