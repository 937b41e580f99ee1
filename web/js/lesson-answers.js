// The classrooms answer back, the lecturer's side (docs/protocol.md, "Answering back"): quick
// replies as icons on the classroom's tile (cleared after `reply_clear_s` or by a click), the
// question panel (open, live bars per classroom and totals, reveal, close), and markers.
const $ = (id) => document.getElementById(id);

const answers = {
  t: (key) => key,
  send: () => {},
  clearAfterMs: 60_000,
  replies: new Map(), // participant -> Map(kind -> timer)
  counts: new Map(), // participant -> quick replies in the lesson
  question: null,
  answers: [],
  totals: {},
  timer: null,
};

/** The question as received, with when its time is up on this page's clock (the hub sends the
 * seconds left: this computer's clock may be off the hub's). */
function received(q) {
  if (!q || q.time_left_s === null || q.time_left_s === undefined) return q;
  return { ...q, deadlineMs: Date.now() + q.time_left_s * 1000 };
}

/** Whole seconds left of a timed question, or null when it has no limit. */
function secondsLeft(q) {
  if (!q || !q.deadlineMs) return null;
  return Math.max(0, Math.ceil((q.deadlineMs - Date.now()) / 1000));
}

function optionLabel(q, option) {
  if (q.kind === "true_false") return answers.t(option === "true" ? "question.true" : "question.false");
  return option;
}

function clearLocally(pid, kind) {
  const shown = answers.replies.get(pid);
  if (!shown) return;
  for (const [k, timer] of [...shown]) {
    if (kind && k !== kind) continue;
    clearTimeout(timer);
    shown.delete(k);
  }
  decorateTiles();
}

// A small pictogram per quick reply, drawn beside its words (24x24 viewBox, stroked in the
// text's colour): the lecturer tells them apart at a glance across many tiles.
const REPLY_ICONS = {
  cant_hear: "M4 9h4l5-4v14l-5-4H4z M16 9l5 6 M21 9l-5 6", // a speaker, crossed out
  cant_see: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z M4 4l16 16", // an eye, struck through
  slower: "M3 17a9 9 0 0 1 18 0 M12 17l-5-4", // a speedometer, its needle low
  done: "M4 12l5 5L20 6", // a tick
  help: "M12 2a10 10 0 1 0 0 20 10 10 0 1 0 0-20z M9 9a3 3 0 1 1 4 3c-1 .5-1 1-1 2 M12 17h.01", // a ?
};

function replyIcon(kind) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "reply-icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", REPLY_ICONS[kind] || "");
  svg.append(path);
  return svg;
}

/** Each tile's quick replies: one button per reply shown (its icon and its words); a click
 * acknowledges it. */
export function decorateTiles() {
  const t = answers.t;
  for (const li of document.querySelectorAll("#tiles > li")) {
    const pid = li.dataset.participant;
    let box = li.querySelector(".tile-replies");
    const shown = pid ? answers.replies.get(pid) : null;
    if (!shown || !shown.size) {
      if (box) box.remove();
      continue;
    }
    if (!box) {
      box = document.createElement("span");
      box.className = "tile-replies";
      (li.querySelector(".tile-video") || li).append(box);
    }
    box.replaceChildren();
    box.title = t("reply.count", { n: answers.counts.get(pid) || 0 });
    for (const kind of shown.keys()) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.reply = kind;
      const words = document.createElement("span");
      words.textContent = t(`reply.${kind}`);
      button.append(replyIcon(kind), words);
      button.setAttribute("aria-label", t("reply.acknowledge", { reply: t(`reply.${kind}`) }));
      button.addEventListener("click", () => {
        answers.send({ type: "clear_reply", participant: pid, kind });
        clearLocally(pid, kind);
      });
      box.append(button);
    }
  }
}

function renderTimer() {
  const q = answers.question;
  const left = secondsLeft(q);
  const timer = $("question-timer");
  if (!left || q.closed) {
    clearInterval(answers.timer);
    answers.timer = null;
  }
  // The hub closes it a moment later (answers on their way are still taken): shown closed now.
  timer.dataset.timeUp = String(left === 0 && !q.closed);
  timer.textContent =
    left === null || q.closed ? "" : left === 0 ? answers.t("question.timeUp") : answers.t("question.secondsLeft", { n: left });
}

function renderQuestion() {
  const t = answers.t;
  const q = answers.question;
  const panel = $("question-panel");
  panel.dataset.open = String(Boolean(q && !q.closed));
  $("question-current").hidden = !q;
  clearInterval(answers.timer);
  answers.timer = null;
  if (!q) return;
  renderTimer();
  if (secondsLeft(q) && !q.closed) answers.timer = setInterval(renderTimer, 1000);
  $("question-heading").textContent = t("question.title", { n: q.number }) + (q.text ? `: ${q.text}` : "");
  const bars = $("question-bars");
  bars.replaceChildren();
  const total = Object.values(answers.totals).reduce((a, b) => a + b, 0) || 1;
  for (const option of q.options) {
    const row = document.createElement("li");
    row.className = "answer-bar total";
    row.dataset.option = option;
    const n = answers.totals[option] || 0;
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = total;
    meter.value = n;
    const label = document.createElement("span");
    label.textContent = optionLabel(q, option) + (q.correct === option ? " ✓" : "");
    const count = document.createElement("span");
    count.className = "answer-count";
    count.textContent = String(n);
    row.append(label, meter, count);
    bars.append(row);
  }
  const rooms = $("question-rooms");
  rooms.replaceChildren();
  for (const a of answers.answers) {
    const li = document.createElement("li");
    li.className = "answer-room";
    li.dataset.participant = a.participant;
    let what;
    if (a.value !== null && a.value !== undefined) what = String(a.value);
    else if (a.choice) what = t("question.agreedShort", { option: optionLabel(q, a.choice) });
    else what = q.options.filter((o) => a.counts[o]).map((o) => `${optionLabel(q, o)} ${a.counts[o]}`).join(", ");
    li.textContent = `${a.name}: ${what}`;
    rooms.append(li);
  }
  const answered = answers.answers.length;
  $("question-answered").textContent = t(answered === 1 ? "question.answeredByOne" : "question.answeredBy", { n: answered });
  const reveal = $("question-correct");
  const before = reveal.value;
  reveal.replaceChildren();
  if (q.kind === "number") {
    reveal.hidden = true;
    $("question-correct-number").hidden = false;
  } else {
    reveal.hidden = false;
    $("question-correct-number").hidden = true;
    for (const option of q.options) reveal.append(new Option(optionLabel(q, option), option));
    if (q.options.includes(before)) reveal.value = before;
  }
  $("question-status").textContent = q.correct ? t("question.correct", { answer: optionLabel(q, q.correct) }) : q.closed ? t("question.closed") : "";
  $("question-close").disabled = q.closed;
}

function openQuestion(event) {
  event.preventDefault();
  const kind = $("question-kind").value;
  const limit = Number.parseInt($("question-limit").value, 10);
  answers.send({
    type: "open_question",
    text: $("question-text-input").value.trim(),
    kind,
    options: Number.parseInt($("question-options").value, 10) || 4,
    // The hub takes 5 s to an hour: a limit outside is brought inside rather than refused.
    time_limit_s: Number.isFinite(limit) && limit > 0 ? Math.min(3600, Math.max(5, limit)) : null,
    allow_change: $("question-change").checked,
  });
}

function reveal() {
  const q = answers.question;
  if (!q) return;
  const correct = q.kind === "number" ? $("question-correct-number").value.trim() : $("question-correct").value;
  if (correct) answers.send({ type: "reveal_question", question: q.id, correct });
}

export function mark() {
  answers.send({ type: "mark", label: $("mark-label").value.trim() });
  $("mark-label").value = "";
}

export function answersJoined(joined) {
  answers.clearAfterMs = (joined.reply_clear_s || 60) * 1000;
  answers.question = received(joined.question || null);
  answers.answers = [];
  answers.totals = {};
  renderQuestion();
}

/** The hub's news for this part of the page; true when it was one of ours. */
export function answersMessage(m) {
  const q = answers.question;
  switch (m.type) {
    case "quick_reply": {
      let shown = answers.replies.get(m.participant);
      if (!shown) answers.replies.set(m.participant, (shown = new Map()));
      clearTimeout(shown.get(m.kind));
      shown.set(m.kind, setTimeout(() => clearLocally(m.participant, m.kind), answers.clearAfterMs));
      answers.counts.set(m.participant, m.count);
      decorateTiles();
      return true;
    }
    case "reply_cleared":
      clearLocally(m.participant, m.kind);
      return true;
    case "question_opened":
      answers.question = received(m.question);
      answers.answers = [];
      answers.totals = {};
      break;
    case "question_answers":
      if (!q || m.question !== q.id) return true;
      answers.answers = m.answers;
      answers.totals = m.totals;
      break;
    case "question_revealed":
      if (q && m.question === q.id) answers.question = { ...q, correct: m.correct };
      break;
    case "question_closed":
      if (q && m.question === q.id) answers.question = { ...q, closed: true };
      break;
    case "marked":
      $("mark-status").textContent = answers.t("mark.done", { label: m.label });
      return true;
    default:
      return false;
  }
  renderQuestion();
  return true;
}

export function setUpAnswers({ t, send }) {
  Object.assign(answers, { t, send });
  $("question-form").addEventListener("submit", openQuestion);
  $("question-reveal").addEventListener("click", reveal);
  $("question-close").addEventListener("click", () => {
    if (answers.question) answers.send({ type: "close_question", question: answers.question.id });
  });
  $("question-kind").addEventListener("change", () => {
    $("question-options").disabled = $("question-kind").value !== "choice";
  });
  $("mark").addEventListener("click", mark);
}
