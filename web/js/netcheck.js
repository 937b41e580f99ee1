// The lecturer PC's own connection check, the browser twin of `classroom-agent doctor`:
// secure context, the hub over HTTPS, UDP to the hub's media ports and each TURN way (real
// peer connections answered by the hub's ICE probe), camera and microphone, and the uplink.
import { request } from "./api.js";

const ICE_TIMEOUT_MS = 8000;
const BANDWIDTH_MS = 3000;
// What a lecturer needs: one 720p camera up (the hub asks for ~1.2 Mbit/s) and the tiles down.
const UP_GOOD_MBPS = 1.5;
const UP_MIN_MBPS = 0.5;

function turnKind(url) {
  const lower = url.toLowerCase();
  if (lower.startsWith("turns:")) return "tls";
  return lower.includes("transport=tcp") ? "tcp" : "udp";
}

async function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

// A data channel to the hub's ICE probe; resolves to the round trip in ms, or throws
// "blocked" (no way through) / the hub's refusal.
async function probe(token, config) {
  const pc = new RTCPeerConnection(config);
  const channel = pc.createDataChannel("check");
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 5000);
    const relays = pc.localDescription.sdp.split("\n").filter((l) => l.includes(" typ relay"));
    if (config.iceTransportPolicy === "relay" && relays.length === 0) throw new Error("blocked");
    const answer = await request("POST", "/api/network/ice-probe", {
      token,
      body: { sdp: pc.localDescription.sdp },
    });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("blocked")), ICE_TIMEOUT_MS);
      channel.addEventListener("open", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const sent = performance.now();
    const back = new Promise((resolve) => channel.addEventListener("message", resolve, { once: true }));
    channel.send("ping");
    await Promise.race([back, new Promise((r) => setTimeout(r, 2000))]);
    return performance.now() - sent;
  } finally {
    pc.close();
  }
}

async function uplink(token) {
  const block = crypto.getRandomValues(new Uint8Array(64 * 1024)); // incompressible
  let size = 256 * 1024;
  let best = 0;
  const started = performance.now();
  // Growing uploads until the time is used up: a slow line is not kept waiting on a big one.
  while (performance.now() - started < BANDWIDTH_MS && size <= 16 * 1024 * 1024) {
    const body = new Blob(Array.from({ length: size / block.length }, () => block));
    const t0 = performance.now();
    // The Blob goes as it is (application/octet-stream); the answer is a few bytes of JSON.
    await request("POST", "/api/network/bandwidth", { token, body });
    const seconds = (performance.now() - t0) / 1000;
    best = Math.max(best, (size * 8) / 1e6 / Math.max(seconds, 0.001));
    size *= 2;
  }
  return best;
}

// Runs every check in order; onLine({check, status, text}) is called as each one ends.
export async function runConnectionCheck({ token, t, stream, onLine }) {
  const lines = [];
  const add = (check, status, text) => {
    const line = { check, status, text };
    lines.push(line);
    onLine(line);
  };
  add(
    "secure",
    window.isSecureContext ? "ok" : "fail",
    t(window.isSecureContext ? "check.secureOk" : "check.secureFail"),
  );
  let network;
  const started = performance.now();
  try {
    network = await request("GET", "/api/network/ice-servers", { token });
    add("hub", "ok", t("check.hubOk", { ms: Math.round(performance.now() - started) }));
  } catch (exc) {
    add("hub", "fail", t("check.hubFail", { message: exc.message || String(exc) }));
    return lines;
  }
  const turns = [];
  for (const server of network.ice_servers || []) {
    for (const url of server.urls) {
      if (/^turns?:/i.test(url)) turns.push({ url, username: server.username, credential: server.credential });
    }
  }
  // Every way at once (a blocked one costs its whole timeout), reported in order.
  const ways = [
    { check: "udp", run: probe(token, { iceServers: [] }) },
    ...turns.map((s) => ({
      check: `turn_${turnKind(s.url)}`,
      run: probe(token, { iceServers: [{ urls: [s.url], username: s.username, credential: s.credential }], iceTransportPolicy: "relay" }),
    })),
  ];
  const results = await Promise.allSettled(ways.map((w) => w.run));
  const worked = [];
  results.forEach((result, i) => {
    const { check } = ways[i];
    const name = t(`check.name.${check}`);
    if (result.status === "fulfilled") {
      worked.push(check);
      add(check, "ok", t("check.wayOk", { name, ms: Math.round(result.value) }));
    } else {
      const reason = result.reason && result.reason.message;
      add(check, reason === "blocked" ? "warn" : "fail", t("check.wayBlocked", { name, reason: reason === "blocked" ? t("check.blocked") : reason }));
    }
  });
  if (!turns.length) add("turn", "skip", t("check.noTurn"));

  const video = stream && stream.getVideoTracks()[0];
  const audio = stream && stream.getAudioTracks()[0];
  add(
    "camera",
    video && video.readyState === "live" ? "ok" : "fail",
    t(video ? "check.cameraOk" : "check.cameraFail", { label: video ? video.label || "" : "" }),
  );
  add(
    "microphone",
    audio && audio.readyState === "live" ? "ok" : "fail",
    t(audio ? "check.micOk" : "check.micFail", { label: audio ? audio.label || "" : "" }),
  );

  try {
    const mbps = await uplink(token);
    const status = mbps >= UP_GOOD_MBPS ? "ok" : mbps >= UP_MIN_MBPS ? "warn" : "fail";
    add("uplink", status, t(status === "ok" ? "check.uplinkOk" : "check.uplinkLow", { mbps: mbps.toFixed(1) }));
  } catch (exc) {
    add("uplink", "fail", t("check.uplinkFail", { message: exc.message || String(exc) }));
  }

  const turnWay = worked.find((c) => c.startsWith("turn_"));
  if (worked.includes("udp")) add("verdict", "ok", t("check.verdict.direct"));
  else if (turnWay) add("verdict", "ok", t("check.verdict.turn", { name: t(`check.name.${turnWay}`) }));
  else add("verdict", "fail", t("check.verdict.none"));
  return lines;
}
