// A link's health in words: the hub's verdict (good, fair, poor) with the reason it is not good,
// and the numbers behind it. The thresholds are the hub's (streamhub/quality.py); the pages
// only put its verdict into words.

function num(value, digits = 0) {
  return value == null || Number.isNaN(Number(value)) ? null : Number(value).toFixed(digits);
}

/** Numbers a reason quotes, from a stats_summary entry (ParticipantStats). */
function figures(stats) {
  const rates = [stats.fps, stats.received_fps].filter((x) => x != null && x > 0);
  return {
    loss: num((stats.packet_loss || 0) * 100, 1),
    rtt: num(stats.rtt_ms),
    fps: rates.length ? num(Math.min(...rates)) : null,
    kbps: num(stats.received_kbps != null ? stats.received_kbps : stats.bitrate_out_kbps),
    up: num(stats.bitrate_in_kbps),
    down: num(stats.bitrate_out_kbps),
  };
}

/** {quality, text, numbers}: "Network poor · 12.0 % lost" and the figures, one per line. */
export function describeHealth(stats, t) {
  if (!stats) return { quality: "unknown", text: t("quality.unknown"), numbers: [] };
  const quality = stats.quality || "unknown";
  const vars = figures(stats);
  const reason = (stats.reasons || [])[0];
  const word = t(`quality.${quality}`);
  const text = reason ? `${word} · ${t(`reason.${reason}`, vars)}` : word;
  const numbers = [t("numbers.loss", vars)];
  if (vars.rtt != null) numbers.push(t("numbers.rtt", vars));
  if (vars.fps != null) numbers.push(t("numbers.fps", vars));
  numbers.push(t("numbers.rates", vars));
  if (stats.audio_only) numbers.push(t("reason.audio_only", vars));
  return { quality, text, numbers };
}

/** The lecturer's own uplink, from the hub's view of what she sends. */
export function describeUplink(stats, t) {
  if (!stats) return { quality: "unknown", text: t("uplink.unknown"), numbers: [] };
  const vars = figures(stats);
  const kbps = stats.bitrate_in_kbps || 0;
  const rate = kbps >= 1000 ? t("rate.mbps", { mbps: num(kbps / 1000, 1) }) : t("rate.kbps", { kbps: num(kbps) });
  const described = describeHealth(stats, t);
  const reason = (stats.reasons || [])[0];
  // The hub's first figure has no rate yet (it needs two samples): leave it out, not "0".
  const quality = t(`qualityWord.${described.quality}`);
  const text = kbps > 0 ? t("uplink.text", { quality, rate }) : t("uplink.noRate", { quality });
  return {
    quality: described.quality,
    text: reason ? `${text} · ${t(`reason.${reason}`, vars)}` : text,
    numbers: described.numbers,
  };
}
