// The lecturer's classroom grid and hands list. One tile per classroom of the roster (keyed by
// classroom, so a rejoin never moves it), in the order given: raised hands first in the order
// they were raised, then the timetable's order. The grid picks as many columns as it takes for
// every tile to fit the panel, as large as they can be.

import { applyStrings } from "./api.js";
import { describeHealth } from "./health.js";

const GAP_PX = 8;
const MIN_TILE_PX = 156;
// Below this width the actions are icons (their names stay, for screen readers and tooltips).
const COMPACT_BELOW_PX = 330;
const VIDEO_RATIO = 3 / 4; // classroom cameras send 4:3

export function clock(iso, lang) {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hour12: false });
}

/** The words for a roster state: "Dropped at 10:42", "Online, waiting"… */
export function stateText(entry, t, lang) {
  const time = clock(entry.since, lang);
  if ((entry.state === "dropped" || entry.state === "left") && time) {
    return t(`rosterSince.${entry.state}`, { time });
  }
  return t(`roster.${entry.state}`);
}

function playQuietly(el) {
  const played = el.play();
  if (played) played.catch(() => {});
}

export class Grid {
  constructor({ list, template, t, lang, actions }) {
    this.list = list;
    this.template = template;
    this.t = t;
    this.lang = lang;
    this.actions = actions;
    this.extraPx = 72; // a tile's height besides its picture, measured after the first render
    if (window.ResizeObserver) {
      new ResizeObserver(() => this.layout()).observe(list.parentElement);
    }
    window.addEventListener("resize", () => this.layout());
  }

  _make(tile) {
    const node = this.template.content.firstElementChild.cloneNode(true);
    applyStrings(node, this.t);
    node.dataset.key = tile.key;
    node.dataset.classroom = String(tile.classroomId);
    const video = node.querySelector("video");
    // The placeholder stays until pictures arrive (a classroom may publish no camera).
    const showing = () => node.classList.toggle("has-video", video.videoWidth > 0 && Boolean(video.srcObject));
    for (const name of ["resize", "loadeddata", "emptied"]) video.addEventListener(name, showing);
    const pid = () => node.dataset.participant;
    node.querySelector(".listen").addEventListener("click", () => this.actions.listen(pid()));
    node.querySelector(".stage").addEventListener("click", () => this.actions.stage(pid()));
    node.querySelector(".mute").addEventListener("click", () => this.actions.mute(pid()));
    const health = node.querySelector(".health");
    health.addEventListener("click", () => {
      const open = health.getAttribute("aria-expanded") !== "true";
      health.setAttribute("aria-expanded", String(open));
      node.querySelector(".health-numbers").hidden = !open;
      this.layout();
    });
    return node;
  }

  /** Show these tiles, in this order. */
  render(tiles, { live }) {
    const t = this.t;
    const existing = new Map([...this.list.children].map((li) => [li.dataset.key, li]));
    const wanted = new Set(tiles.map((x) => x.key));
    for (const [key, li] of existing) {
      if (!wanted.has(key)) li.remove();
    }
    let moved = false;
    tiles.forEach((tile, index) => {
      let li = existing.get(tile.key);
      if (!li) li = this._make(tile);
      if (this.list.children[index] !== li) {
        this.list.insertBefore(li, this.list.children[index] || null);
        moved = true;
      }
      this._update(li, tile, live, t);
    });
    if (moved) {
      // A media element taken out of the document pauses: start the moved ones again.
      for (const video of this.list.querySelectorAll("video")) if (video.srcObject) playQuietly(video);
    }
    this.layout();
  }

  _update(li, tile, live, t) {
    const name = tile.name;
    const here = Boolean(tile.participant);
    li.dataset.name = name;
    li.dataset.state = tile.state;
    li.dataset.hand = String(tile.handOrder > 0);
    li.dataset.muted = String(Boolean(tile.muted));
    li.dataset.stage = String(tile.stage);
    li.dataset.listening = String(tile.listening);
    if (here) li.dataset.participant = tile.participant;
    else delete li.dataset.participant;
    li.querySelector(".tile-body").setAttribute("aria-label", name);
    li.querySelector(".tile-name").textContent = name;
    li.querySelector(".tile-name").title = name;
    li.querySelector("video").setAttribute("aria-label", t("tile.video", { name }));
    const state = stateText(tile, t, this.lang);
    const chip = li.querySelector(".state-chip");
    chip.textContent = state;
    chip.title = state;
    chip.dataset.state = tile.state;
    // A classroom that is not here shows its state in the middle of its tile, once.
    chip.hidden = !here;
    li.querySelector(".placeholder-text").textContent = here ? t("tile.waitingVideo") : state;
    const hand = li.querySelector(".hand-badge");
    hand.hidden = tile.handOrder === 0;
    hand.querySelector(".hand-order").textContent = tile.handOrder ? String(tile.handOrder) : "";
    li.querySelector(".stage-badge").hidden = !tile.stage;
    li.querySelector(".muted-badge").hidden = !(here && tile.muted);
    const problems = li.querySelector(".problems");
    problems.hidden = tile.problems.length === 0;
    problems.dataset.devices = tile.problems.join(" ");
    problems.textContent = tile.problems.map((p) => t(`problem.${p}`)).join(" · ");
    problems.title = problems.textContent;
    li.querySelector(".muted-badge").title = t("tile.muted");
    // Health: a plain verdict with its reason; the numbers behind it on hover or a tap.
    const health = li.querySelector(".health");
    const described = describeHealth(tile.stats, t);
    health.hidden = !here || !tile.stats;
    health.dataset.quality = described.quality;
    health.querySelector(".health-text").textContent = described.text;
    health.title = [described.text, ...described.numbers].join("\n");
    health.setAttribute("aria-label", t("tile.healthNamed", { name, health: described.text }));
    const numbers = li.querySelector(".health-numbers");
    numbers.textContent = described.numbers.join(" · ");
    if (health.hidden) numbers.hidden = true;
    // Actions only for a classroom that is in the lesson.
    li.querySelector(".tile-actions").hidden = !here;
    const listen = li.querySelector(".listen");
    listen.querySelector(".label").textContent = t(tile.listening ? "tile.listening" : "tile.listen");
    listen.setAttribute("aria-pressed", String(tile.listening));
    listen.setAttribute("aria-label", t("tile.listenNamed", { name }));
    listen.title = t("tile.listenNamed", { name });
    const stage = li.querySelector(".stage");
    stage.querySelector(".label").textContent = t(tile.stage ? "tile.offStage" : "tile.bringOnStage");
    stage.setAttribute("aria-pressed", String(tile.stage));
    stage.setAttribute("aria-label", t(tile.stage ? "tile.offStageNamed" : "tile.bringOnStageNamed", { name }));
    stage.title = stage.getAttribute("aria-label");
    const mute = li.querySelector(".mute");
    mute.querySelector(".label").textContent = t(tile.muted ? "tile.unmute" : "tile.mute");
    mute.setAttribute("aria-pressed", String(Boolean(tile.muted)));
    mute.setAttribute("aria-label", t(tile.muted ? "tile.unmuteNamed" : "tile.muteNamed", { name }));
    mute.title = mute.getAttribute("aria-label");
    for (const b of li.querySelectorAll(".tile-actions button")) b.disabled = !live;
  }

  /** Bind received tracks (participant id -> {video}) to the tiles. */
  attach(tracks) {
    for (const li of this.list.children) {
      const video = li.querySelector("video");
      const entry = li.dataset.participant ? tracks.get(li.dataset.participant) : null;
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
  }

  /** Columns: the fewest that let every tile fit the panel (largest tiles), else scroll. */
  layout() {
    const list = this.list;
    const panel = list.parentElement;
    const n = list.children.length;
    if (!n || !panel.clientWidth) return;
    const style = getComputedStyle(panel);
    const width = list.clientWidth;
    const height =
      panel.clientHeight - (list.offsetTop - panel.offsetTop) - parseFloat(style.paddingBottom || "0");
    // Every tile's rows are single lines: the height besides the picture does not depend on
    // the width (the numbers a tap opens are left out).
    const measured = [...list.children].map((li) => {
      const video = li.querySelector(".tile-video");
      const numbers = li.querySelector(".health-numbers");
      const open = numbers && !numbers.hidden ? numbers.offsetHeight : 0;
      return li.offsetHeight && video ? li.offsetHeight - video.offsetHeight - open : 0;
    });
    if (Math.max(0, ...measured) > 0) this.extraPx = Math.max(...measured);
    // Never narrower than a readable tile: past that the panel scrolls (hands stay on top).
    const most = Math.max(1, Math.min(n, Math.floor((width + GAP_PX) / (MIN_TILE_PX + GAP_PX))));
    let columns = most;
    for (let c = 1; c <= most; c += 1) {
      const w = (width - GAP_PX * (c - 1)) / c;
      const rows = Math.ceil(n / c);
      if (rows * (w * VIDEO_RATIO + this.extraPx) + GAP_PX * (rows - 1) <= height) {
        columns = c;
        break;
      }
    }
    const tileWidth = (width - GAP_PX * (columns - 1)) / columns;
    list.style.setProperty("--columns", String(columns));
    list.classList.toggle("compact", tileWidth < COMPACT_BELOW_PX);
    list.dataset.columns = String(columns);
  }
}

/** The hands list: every raised hand in the order raised, with its two actions. */
export function renderHands(list, hands, { t, lang, live, onStage, onLower }) {
  // The list is rebuilt with every roster and stats update (about once a second): a button that
  // has the keyboard focus (H, then Enter) gets it back in the new list, or it would fall to
  // the page between the two keys.
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && {
    participant: focused.closest("li").dataset.participant,
    index: [...focused.parentElement.children].indexOf(focused),
  };
  list.replaceChildren();
  for (const hand of hands) {
    const li = document.createElement("li");
    li.dataset.participant = hand.participant;
    const label = document.createElement("span");
    label.className = "hand-name";
    label.textContent = hand.name;
    const since = document.createElement("time");
    since.className = "hand-since";
    since.textContent = clock(hand.since, lang);
    if (hand.since) since.dateTime = hand.since;
    const button = (text, label, action, className = "") => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = className;
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.disabled = !live;
      b.addEventListener("click", () => action(hand.participant));
      return b;
    };
    const actions = document.createElement("div");
    actions.className = "hand-actions";
    actions.append(
      button(t("tile.bringOnStage"), t("tile.bringOnStageNamed", { name: hand.name }), onStage, "hand-stage"),
      button(t("hands.lower"), t("hands.lowerNamed", { name: hand.name }), onLower),
    );
    li.append(label, since, actions);
    list.append(li);
    if (refocus && refocus.participant === hand.participant) {
      const again = actions.children[refocus.index];
      if (again) again.focus();
    }
  }
}
