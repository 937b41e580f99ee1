// A short two-note chime (made with Web Audio: no sound file, nothing from the network) when a
// classroom raises its hand; the lecturer can turn it off, and the choice is remembered.

const KEY = "streamhub.chime";

export class Chime {
  constructor() {
    this.context = null;
    this.played = 0;
    try {
      this.enabled = localStorage.getItem(KEY) !== "off";
    } catch {
      this.enabled = true;
    }
  }

  setEnabled(on) {
    this.enabled = on;
    try {
      localStorage.setItem(KEY, on ? "on" : "off");
    } catch {
      /* storage disabled: this page only */
    }
  }

  /** Browsers start audio only after a click: call this from one (Go live does). */
  unlock() {
    if (!window.AudioContext) return;
    if (!this.context) this.context = new AudioContext();
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  play() {
    if (!this.enabled) return false;
    this.played += 1;
    document.body.dataset.chimes = String(this.played);
    const ctx = this.context;
    if (!ctx || ctx.state !== "running") return true;
    const now = ctx.currentTime;
    for (const [i, freq] of [880, 1320].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      const start = now + i * 0.14;
      gain.gain.setValueAtTime(0, start);
      gain.gain.linearRampToValueAtTime(0.18, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.001, start + 0.22);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.25);
    }
    return true;
  }
}
