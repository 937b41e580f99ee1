// The classroom answers back (docs/protocol.md, "Answering back"): quick replies to the lecturer
// (one tap), the room's chat line, and the lecturer's question shown large on the projector,
// answered for the room with counts per option or its one agreed answer.
import { REPLY_KINDS } from "./signaling.js";

const $ = (id) => document.getElementById(id);

const answers = {
  t: (key) => key,
  session: () => null,
  notice: () => {},
  question: null, // the QuestionInfo shown, or null
  answered: null, // this room's answer to it, as the hub sent it back
  // A closed question leaves the projector, unless its answer is shown after it closed.
  hidden: false,
  timer: null,
};

function live() {
  const s = answers.session();
  return s && s.state === "live" ? s : null;
}

function failed(exc) {
  if (exc && exc.code !== "closed") answers.notice(answers.t("notice.actionFailed", { message: exc.message || String(exc) }));
}

export function sendQuickReply(kind) {
  const s = live();
  if (!s) return;
  s.request({ type: "quick_reply", kind }).catch(failed);
}

function sendChat(event) {
  event.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  const s = live();
  if (!text || !s) return;
  s.request({ type: "chat", text })
    .then(() => {
      input.value = "";
    })
    .catch(failed);
}

/** Answer the open question: counts per option, one agreed answer, or a number. */
export function sendAnswer(answer) {
  const s = live();
  const q = answers.question;
  if (!s || !q) return Promise.resolve();
  return s.request({ type: "answer_question", question: q.id, ...answer }).catch(failed);
}

function submitCounts(event) {
  event.preventDefault();
  const q = answers.question;
  if (!q) return;
  if (q.kind === "number") {
    const value = Number($("answer-number").value);
    if ($("answer-number").value.trim() === "" || !Number.isFinite(value)) return;
    sendAnswer({ value });
    return;
  }
  const counts = {};
  for (const input of document.querySelectorAll("#answer-options input[data-option]")) {
    const n = Number.parseInt(input.value, 10);
    if (Number.isFinite(n) && n > 0) counts[input.dataset.option] = n;
  }
  if (Object.keys(counts).length) sendAnswer({ counts });
}

function optionLabel(q, option) {
  if (q.kind === "true_false") return answers.t(option === "true" ? "question.true" : "question.false");
  return option;
}

function optionRow(q, option) {
  const t = answers.t;
  const li = document.createElement("li");
  li.dataset.option = option;
  const one = document.createElement("button");
  one.type = "button";
  one.className = "answer-one";
  one.dataset.option = option;
  one.textContent = optionLabel(q, option);
  one.setAttribute("aria-label", t("question.agreed", { option: optionLabel(q, option) }));
  one.addEventListener("click", () => sendAnswer({ choice: option }));
  const count = document.createElement("input");
  count.type = "number";
  count.min = "0";
  count.max = "10000";
  count.inputMode = "numeric";
  count.dataset.option = option;
  count.setAttribute("aria-label", t("question.countFor", { option: optionLabel(q, option) }));
  li.append(one, count);
  return li;
}

/** The question as received, with when its time is up on this page's clock (the hub sends the
 * seconds left: a classroom PC's clock may be minutes off the hub's). */
function received(q) {
  if (!q || q.time_left_s === null || q.time_left_s === undefined) return q;
  return { ...q, deadlineMs: Date.now() + q.time_left_s * 1000 };
}

function renderQuestion() {
  const box = $("question-box");
  const q = answers.question;
  box.hidden = !q || answers.hidden;
  clearInterval(answers.timer);
  answers.timer = null;
  if (!q) return;
  const t = answers.t;
  $("question-title").textContent = t("question.title", { n: q.number });
  $("question-text").textContent = q.text;
  box.dataset.kind = q.kind;
  box.dataset.closed = String(q.closed);
  const list = $("answer-options");
  // Rebuilt for a new question only: counts being typed survive the hub's news.
  const key = `${q.id}@${q.opened_at}`;
  if (list.dataset.question !== key) {
    list.dataset.question = key;
    list.replaceChildren(...q.options.map((option) => optionRow(q, option)));
    $("answer-number").value = "";
  }
  for (const li of list.children) li.dataset.correct = String(q.correct === li.dataset.option);
  $("answer-number-row").hidden = q.kind !== "number";
  const done = answers.answered;
  let status = "";
  if (q.correct !== null && q.correct !== undefined) status = t("question.correct", { answer: optionLabel(q, q.correct) });
  else if (q.closed) status = t("question.closed");
  else if (done) status = t("question.answered");
  $("question-status").textContent = status;
  const tick = () => {
    const left = q.deadlineMs ? Math.max(0, Math.ceil((q.deadlineMs - Date.now()) / 1000)) : null;
    const timer = $("question-timer");
    // Time is up: shown closed at once (the hub closes it a moment later, for answers on their way).
    const timeUp = left === 0 && !q.closed;
    timer.dataset.timeUp = String(timeUp);
    timer.textContent = left === null || q.closed ? "" : timeUp ? t("question.timeUp") : t("question.secondsLeft", { n: left });
    // Once the correct answer is shown the hub takes no more answers.
    const shut = q.closed || timeUp || (q.correct !== null && q.correct !== undefined);
    const refused = shut || Boolean(done && !q.allow_change);
    $("answer-submit").disabled = refused;
    for (const button of list.querySelectorAll("button.answer-one")) button.disabled = refused;
    if (timeUp) {
      clearInterval(answers.timer);
      answers.timer = null;
    }
    return Boolean(left) && !q.closed;
  };
  if (tick()) answers.timer = setInterval(tick, 1000);
}

export function answersJoined(joined) {
  answers.question = received(joined.question || null);
  answers.answered = null;
  answers.hidden = false;
  renderQuestion();
}

/** The hub's news for this part of the page; true when it was one of ours. */
export function answersMessage(m) {
  const q = answers.question;
  switch (m.type) {
    case "question_opened":
      answers.question = received(m.question);
      answers.answered = null;
      answers.hidden = false;
      break;
    case "question_answers":
      if (q && m.question === q.id && m.answers.length) answers.answered = m.answers[0];
      break;
    case "question_revealed":
      if (q && m.question === q.id) answers.question = { ...q, correct: m.correct };
      answers.hidden = false;
      break;
    case "question_closed":
      if (q && m.question === q.id) answers.question = { ...q, closed: true };
      answers.hidden = true;
      break;
    case "quick_reply":
      $("quick-replies").dataset.sent = m.kind;
      return true;
    case "reply_cleared":
      delete $("quick-replies").dataset.sent;
      return true;
    default:
      return false;
  }
  renderQuestion();
  return true;
}

export function answersEnded() {
  answers.question = null;
  renderQuestion();
}

export function setUpAnswers({ t, session, notice }) {
  Object.assign(answers, { t, session, notice });
  const bar = $("quick-replies");
  for (const kind of REPLY_KINDS) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.reply = kind;
    button.textContent = t(`reply.${kind}`);
    button.addEventListener("click", () => sendQuickReply(kind));
    bar.append(button);
  }
  $("chat-form").addEventListener("submit", sendChat);
  $("answer-form").addEventListener("submit", submitCounts);
}
