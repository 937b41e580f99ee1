// The lecturer's camera and microphone, each opened on its own (a slow USB camera never holds
// the microphone back), each with a status: pending (asked, nothing yet), ready (delivers:
// frames from the camera, a live unmuted microphone), failed (refused, missing, or silent).
// A device that becomes ready, or is switched, later is handed to `onTrack` so the page can
// attach it to a running session with replaceTrack.

const CAMERA = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30 },
};
const MICROPHONE = { echoCancellation: true, noiseSuppression: true };
// A camera that opens but shows nothing for this long is reported as giving no picture.
const FIRST_FRAME_MS = 10_000;
// Devices that failed for a reason that can pass (unplugged, busy) are tried again this often.
const RETRY_MS = 5_000;
const RETRYABLE = new Set(["NotFoundError", "NotReadableError", "AbortError", "OverconstrainedError", "ended"]);

function waitForFrame(video, ms) {
  if (video.videoWidth > 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      video.removeEventListener("resize", check);
      video.removeEventListener("loadeddata", check);
      resolve(value);
    };
    const check = () => {
      if (video.videoWidth > 0) done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    video.addEventListener("resize", check);
    video.addEventListener("loadeddata", check);
  });
}

function waitForSound(track, ms) {
  if (!track.muted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    track.addEventListener(
      "unmute",
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
  });
}

export class LocalMedia extends EventTarget {
  /** preview: the <video> that shows the camera (its frames prove the camera works). */
  constructor(preview) {
    super();
    this.preview = preview;
    this.devices = {
      camera: { track: null, status: "pending", error: null, generation: 0, retry: null },
      microphone: { track: null, status: "pending", error: null, generation: 0, retry: null },
    };
    this.enabled = { camera: true, microphone: true };
    this.stopped = false;
  }

  track(kind) {
    return this.devices[kind].track;
  }

  status(kind) {
    return this.devices[kind].status;
  }

  error(kind) {
    return this.devices[kind].error;
  }

  ready(kind) {
    return this.devices[kind].status === "ready";
  }

  _changed(kind, track = undefined) {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind, track } }));
  }

  _set(kind, status, error = null) {
    const device = this.devices[kind];
    device.status = status;
    device.error = error;
    clearTimeout(device.retry);
    if (status === "failed" && !this.stopped && RETRYABLE.has(error && error.name)) {
      device.retry = setTimeout(() => this.open(kind), RETRY_MS);
    }
    this._changed(kind);
  }

  /** Open (or switch to) a device; resolves when it is ready or failed. */
  async open(kind, deviceId = null) {
    if (this.stopped) return;
    const device = this.devices[kind];
    device.generation += 1;
    const generation = device.generation;
    this._set(kind, "pending");
    const base = kind === "camera" ? CAMERA : MICROPHONE;
    const constraints = { ...base, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) };
    let track;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(
        kind === "camera" ? { video: constraints } : { audio: constraints },
      );
      track = kind === "camera" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
    } catch (exc) {
      if (generation === device.generation) this._set(kind, "failed", exc);
      return;
    }
    if (this.stopped || generation !== device.generation) {
      track.stop();
      return;
    }
    const old = device.track;
    device.track = track;
    track.enabled = this.enabled[kind];
    track.addEventListener("ended", () => {
      // Unplugged, or taken by the system: say so, and try again.
      if (device.track === track && !this.stopped) {
        this._set(kind, "failed", Object.assign(new Error("device ended"), { name: "ended" }));
      }
    });
    if (kind === "camera") this.preview.srcObject = new MediaStream([track]);
    // Attach at once: classrooms get the picture with its first frame.
    this._changed(kind, track);
    if (old && old !== track) old.stop();
    const delivering =
      kind === "camera"
        ? await waitForFrame(this.preview, FIRST_FRAME_MS)
        : await waitForSound(track, FIRST_FRAME_MS);
    if (generation !== device.generation || this.stopped) return;
    if (delivering) {
      this._set(kind, "ready");
    } else {
      this._set(kind, "failed", Object.assign(new Error("no signal"), { name: "silent" }));
      // It may still start: ready the moment it does.
      const later =
        kind === "camera" ? waitForFrame(this.preview, 600_000) : waitForSound(track, 600_000);
      later.then((ok) => {
        if (ok && generation === device.generation && !this.stopped) this._set(kind, "ready");
      });
    }
  }

  setEnabled(kind, on) {
    this.enabled[kind] = on;
    const track = this.devices[kind].track;
    if (track) track.enabled = on;
  }

  /** Stop both devices for good (the lesson ended, the page is closing). */
  stop() {
    this.stopped = true;
    for (const device of Object.values(this.devices)) {
      clearTimeout(device.retry);
      device.generation += 1;
      if (device.track) device.track.stop();
    }
    this.preview.srcObject = null;
  }
}
