"""One live lesson: its members, raised hands, stage, screen share, and who feeds which slot.

Routing is recomputed from state after every change (``route``); a slot whose source does not
change is left alone, so the computation is idempotent and cheap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from streamhub.errors import NotFound
from streamhub.lesson.participant import MediaSource, Participant
from streamhub.lesson.ports import LessonEvent, LessonInfo
from streamhub.lesson.questions import GRACE_S, LiveQuestion
from streamhub.protocol import (
    MAX_LECTURER_TILES,
    SLOT_KIND,
    AnswerQuestion,
    ChatMessage,
    HandLowered,
    HandRaised,
    Marked,
    Message,
    MutedChanged,
    OpenQuestion,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    QuestionAnswers,
    QuestionClosed,
    QuestionInfo,
    QuestionOpened,
    QuestionRevealed,
    QuickReplied,
    RecordingChanged,
    Renegotiate,
    ReplyCleared,
    ReplyKind,
    Role,
    RoomAnswer,
    ScreenShareChanged,
    Slot,
    StageChanged,
    TilesChanged,
)

logger = logging.getLogger(__name__)

LECTURER_FIXED_SLOTS = 3  # camera, microphone, screen; tile pairs follow


def _answerer(member: Participant) -> str:
    """Who answers: the classroom, whichever session it answers from (a classroom that
    rejoined is the same room and has answered already)."""
    return f"classroom:{member.classroom_id}" if member.classroom_id is not None else member.id


class ChatBudget(Protocol):
    def take(self) -> bool: ...


class Room:
    """One live lesson held on this node. Its lesson and recording state change only through
    ``LessonRegistry`` (``update_lesson``, ``set_recording``), which tells every node; they are
    read-only here so that nothing else writes them."""

    def __init__(self, lesson: LessonInfo) -> None:
        self._lesson = lesson
        self.members: dict[str, Participant] = {}
        self.hands: list[str] = []
        self.stage: str | None = None
        self.screen_sharing = False
        self.listening: str | None = None
        self.tiles: list[str | None] = []
        self._recording = False
        # The lesson's video codec, fixed by its first lecturer or classroom (registry.admit).
        self.video_codec: str | None = None
        # Why the lesson is not recorded (e.g. the disk floor), for lecturers who join later.
        self._recording_note: str | None = None
        self.started_at = time.time()
        # The lesson's chat budget (streamhub.signaling.limits), made on the first chat line.
        self.chat_budget: ChatBudget | None = None
        # WHIP feeds by the slot they hold (Participant.feed). Kept, not searched for: routing
        # asks for them for every slot of every member.
        self._feeds: dict[Slot, Participant] = {}
        # What is kept with the lesson (LessonRegistry sets it: the catalog, in the background).
        self.keep: Callable[[LessonEvent], None] = lambda event: None
        # Quick replies shown on the lecturer's tiles (member -> kind -> when), and how many
        # each classroom sent in the lesson (by _answerer: whichever session sent them).
        self.replies: dict[str, dict[str, float]] = {}
        self.reply_counts: Counter[str] = Counter()
        # The question open now, or the last one (closed); and how many were asked.
        self.question: LiveQuestion | None = None
        self.questions_asked = 0
        # Closes a timed question when its time (and the grace for answers on their way) is up.
        self._question_timer: asyncio.TimerHandle | None = None
        self.marks = 0

    # ------------------------------------------------------------ the registry's to change

    @property
    def lesson(self) -> LessonInfo:
        return self._lesson

    @property
    def recording(self) -> bool:
        return self._recording

    @property
    def recording_note(self) -> str | None:
        return self._recording_note

    def apply_lesson(self, lesson: LessonInfo) -> None:
        """The registry's (``LessonRegistry.update_lesson``): the lesson row changed."""
        self._lesson = lesson

    def apply_recording(self, recording: bool, note: str | None) -> None:
        """The registry's (``LessonRegistry.set_recording``): tells the members too."""
        self._recording, self._recording_note = recording, note
        self.broadcast(RecordingChanged(recording=recording, reason=note))

    # ------------------------------------------------------------ membership

    @property
    def lecturer(self) -> Participant | None:
        """The lecturer who moderates (the lecturer page), never a WHIP feed."""
        return next(
            (p for p in self.members.values() if p.role is Role.LECTURER and p.feed is None),
            None,
        )

    @property
    def feed(self) -> Participant | None:
        """The lecturer's camera and microphone published from outside the page (WHIP)."""
        return self._feeds.get(Slot.CAMERA)

    @property
    def screen_feed(self) -> Participant | None:
        """The lecturer's screen published from outside the page (WHIP)."""
        return self._feeds.get(Slot.SCREEN)

    @property
    def screen_on(self) -> bool:
        """Whether classrooms see a screen: the page shares one, or a WHIP screen feed is here.
        (``screen_sharing`` is the page's own; a WHIP screen shows whatever the page says.)"""
        return self.screen_sharing or Slot.SCREEN in self._feeds

    def lecturer_media_holder(self) -> Participant | None:
        """Whose camera and microphone are the lecturer's: a WHIP feed takes them over."""
        return self._feeds.get(Slot.CAMERA) or self.lecturer

    def classrooms(self) -> list[Participant]:
        return [p for p in self.members.values() if p.role is Role.CLASSROOM]

    def visible(self) -> list[ParticipantInfo]:
        return [p.info(self.stage) for p in self.members.values() if not p.hidden]

    def by_subject(self, sub: str) -> Participant | None:
        """The visible member of this identity (hidden members are never replaced)."""
        return next((p for p in self.members.values() if p.grant.sub == sub and not p.hidden), None)

    def add(self, participant: Participant) -> None:
        screen_before = self.screen_on
        self.members[participant.id] = participant
        if participant.feed is not None:
            self._feeds[participant.feed] = participant
        if not participant.hidden:
            self.announce(ParticipantJoined(participant=participant.info(self.stage)), participant)
        if self.screen_on != screen_before:
            self.broadcast(ScreenShareChanged(on=self.screen_on), exclude=participant)
        if participant.role is Role.CLASSROOM:
            self._assign_tiles()
        self.route()

    def remove(self, participant: Participant, reason: str = "left") -> None:
        if self.members.pop(participant.id, None) is None:
            return
        screen_before = self.screen_on
        if participant.feed is not None and self._feeds.get(participant.feed) is participant:
            del self._feeds[participant.feed]
        if participant.id in self.hands:
            self.hands.remove(participant.id)
        self.replies.pop(participant.id, None)
        if self.stage == participant.id:
            self.stage = None
            self.broadcast(StageChanged(participant=None))
        if self.listening == participant.id:
            self.listening = None
        if participant.role is Role.LECTURER and participant.feed is None:
            self.screen_sharing = False
            self.tiles = []
        freed = [i for i, pid in enumerate(self.tiles) if pid == participant.id]
        for i in freed:
            self.tiles[i] = None
        if not participant.hidden:
            self.announce(ParticipantLeft(participant=participant.id, reason=reason), participant)
        if participant.feed is Slot.SCREEN and self.screen_on != screen_before:
            self.broadcast(ScreenShareChanged(on=self.screen_on))
        if freed:
            self._assign_tiles()
        self.route()

    def announce(self, message: Message, about: Participant) -> None:
        """Presence news. A classroom's goes to the lecturer and the recorder only: classrooms
        follow the lecturer and the stage, not each other, and telling every classroom of every
        other would make a lesson's signaling grow with the square of its size."""
        for member in tuple(self.members.values()):
            if member is about:
                continue
            if about.role is Role.CLASSROOM and member.role is Role.CLASSROOM:
                continue
            member.post(message)

    def roster_for(self, member: Participant) -> list[ParticipantInfo]:
        """The participants a member is told of when it joins (see ``announce``)."""
        if member.role is not Role.CLASSROOM:
            return self.visible()
        return [
            p.info(self.stage)
            for p in self.members.values()
            if not p.hidden and (p.role is not Role.CLASSROOM or p is member or p.id == self.stage)
        ]

    def broadcast(self, message: Message, exclude: Participant | None = None) -> None:
        for member in tuple(self.members.values()):
            if member is not exclude:
                member.post(message)

    # ------------------------------------------------------------ classroom controls

    def raise_hand(self, participant: Participant) -> None:
        if participant.id not in self.hands:
            self.hands.append(participant.id)
            self._keep("hand", participant)
        participant.hand_raised = True
        self.broadcast(HandRaised(participant=participant.id, hands=list(self.hands)))

    def lower_hand(self, participant: Participant) -> None:
        if participant.id in self.hands:
            self.hands.remove(participant.id)
        participant.hand_raised = False
        self.broadcast(HandLowered(participant=participant.id, hands=list(self.hands)))

    def set_stage(self, participant: Participant | None) -> None:
        new = participant.id if participant is not None else None
        if new == self.stage:
            return
        self.stage = new
        if participant is not None and participant.hand_raised:
            self.lower_hand(participant)
        name = participant.name if participant is not None else None
        self.broadcast(StageChanged(participant=new, name=name))
        self.route()

    def set_screen_sharing(self, on: bool) -> None:
        if on == self.screen_sharing:
            return
        before = self.screen_on
        self.screen_sharing = on
        if self.screen_on != before:
            self.broadcast(ScreenShareChanged(on=self.screen_on))
        self.route()

    def set_muted(self, participant: Participant, muted: bool) -> None:
        if participant.muted == muted:
            return
        participant.muted = muted
        self.broadcast(MutedChanged(participant=participant.id, muted=muted))
        self.route()

    def listen(self, participant: Participant | None) -> None:
        self.listening = participant.id if participant is not None else None
        self.route()

    def chat(self, sender: Participant, text: str) -> None:
        # The sender is whoever the hub knows the connection to be, never a field of the body.
        self.broadcast(
            ChatMessage(sender=sender.id, sender_name=sender.name, text=text, at=time.time())
        )

    # ------------------------------------------------------------ answering back

    def _keep(
        self,
        kind: str,
        member: Participant | None,
        question: int | None = None,
        at: float | None = None,
        **data: object,
    ) -> None:
        when = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
        self.keep(
            LessonEvent(
                lesson_id=self.lesson.id,
                kind=kind,
                at=when,
                participant_id=member.id if member is not None else None,
                classroom_id=member.classroom_id if member is not None else None,
                name=member.name if member is not None else "",
                question=question,
                data=data,
            )
        )

    def _to_moderators(self, message: Message, also: Participant | None = None) -> None:
        """To the lecturer (and recorder, staff) and, if given, the one classroom concerned:
        classrooms are not told of each other (see ``announce``)."""
        for member in tuple(self.members.values()):
            if member.role is not Role.CLASSROOM or member is also:
                member.post(message)

    def quick_reply(self, participant: Participant, kind: ReplyKind) -> None:
        at = time.time()
        self.replies.setdefault(participant.id, {})[kind] = at
        # Counted per classroom: one that rejoined (a new session) goes on from its count.
        self.reply_counts[_answerer(participant)] += 1
        count = self.reply_counts[_answerer(participant)]
        self._to_moderators(
            QuickReplied(participant=participant.id, kind=kind, at=at, count=count), participant
        )
        self._keep("quick_reply", participant, at=at, reply=kind)

    def clear_reply(self, participant: Participant, kind: ReplyKind | None) -> None:
        shown = self.replies.get(participant.id, {})
        if kind is None:
            shown.clear()
        else:
            shown.pop(kind, None)
        self._to_moderators(ReplyCleared(participant=participant.id, kind=kind), participant)

    def open_question(self, by: Participant, message: OpenQuestion) -> LiveQuestion:
        """Open a question (closing the one open now): every member is told."""
        if self.question is not None and not self.question.info.closed:
            self.close_question(by, self.question.id)
        self.questions_asked += 1
        question = LiveQuestion.open(self.questions_asked, message)
        self.question = question
        info = question.info
        self.broadcast(QuestionOpened(question=info))
        self._keep(
            "question",
            by,
            question=info.id,
            at=info.opened_at,
            text=info.text,
            question_kind=info.kind,
            options=info.options,
            time_limit_s=message.time_limit_s,
        )
        if info.closes_at is not None:
            self._close_when_time_is_up(info.id, info.closes_at + GRACE_S - info.opened_at)
        return question

    def _close_when_time_is_up(self, number: int, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a room driven without a loop (unit tests): answers are refused
            return  # after the time limit all the same (LiveQuestion.accepts_answers)
        self._question_timer = loop.call_later(delay, self.time_up, number)

    def stop_timers(self) -> None:
        """The lesson ended: nothing of it closes later."""
        if self._question_timer is not None:
            self._question_timer.cancel()
            self._question_timer = None

    def time_up(self, number: int) -> None:
        """The question's time limit passed: closed for everyone, as if the lecturer had."""
        question = self.question
        if question is not None and question.id == number and not question.info.closed:
            self.close_question(None, number)

    def _question(self, number: int) -> LiveQuestion:
        question = self.question
        if question is None or question.id != number:
            raise NotFound(f"no such question {number}")
        return question

    def answer_question(self, participant: Participant, answer: AnswerQuestion) -> RoomAnswer:
        """A classroom's answer for its room; raises (nothing kept) unless it fits."""
        question = self._question(answer.question)
        at = time.time()
        key = _answerer(participant)
        question.check(answer, key, at)
        room_answer = RoomAnswer(
            participant=participant.id,
            name=participant.name,
            classroom_id=participant.classroom_id,
            counts=dict(answer.counts or {}),
            choice=answer.choice,
            value=answer.value,
            at=at,
        )
        question.answers[key] = room_answer
        answers = list(question.answers.values())
        self._to_moderators(
            QuestionAnswers(question=question.id, answers=answers, totals=question.totals())
        )
        participant.post(QuestionAnswers(question=question.id, answers=[room_answer], totals={}))
        self._keep(
            "answer",
            participant,
            question=question.id,
            at=at,
            counts=room_answer.counts,
            choice=room_answer.choice,
            value=room_answer.value,
        )
        return room_answer

    def reveal_question(self, by: Participant, number: int, correct: str) -> None:
        question = self._question(number)
        shown = question.check_correct(correct)
        question.info = question.info.model_copy(update={"correct": shown})
        self.broadcast(QuestionRevealed(question=number, correct=shown))
        self._keep("reveal", by, question=number, correct=shown)

    def close_question(self, by: Participant | None, number: int) -> None:
        """Close it (``by`` None: its time limit passed)."""
        question = self._question(number)
        if question.info.closed:
            return
        if self._question_timer is not None:
            self._question_timer.cancel()
            self._question_timer = None
        question.info = question.info.model_copy(update={"closed": True})
        self.broadcast(QuestionClosed(question=number))
        self._keep(
            "close",
            by,
            question=number,
            totals=question.totals(),
            answers=len(question.answers),
            time_up=by is None,
        )

    def catch_up(self, member: Participant) -> None:
        """After its ``joined``: a member (re)joining while a question is open is sent the
        answers so far, as it would have seen them (a classroom: its own, if any)."""
        question = self.question
        if question is None or question.info.closed:
            return
        if member.role is not Role.CLASSROOM:
            answers = list(question.answers.values())
            totals = question.totals()
        else:
            own = question.answers.get(_answerer(member))
            answers, totals = ([own] if own is not None else []), {}
        if answers:
            member.post(QuestionAnswers(question=question.id, answers=answers, totals=totals))

    @property
    def open_question_info(self) -> QuestionInfo | None:
        """What a member joining now is shown (a revealed, still open question too)."""
        question = self.question
        if question is None or question.info.closed:
            return None
        return question.shown(time.time())

    def mark(self, by: Participant, label: str) -> str:
        """A lecturer's marker: a named chapter at this moment of the recording."""
        self.marks += 1
        at = time.time()
        text = label.strip() or f"Mark {self.marks}"
        self._to_moderators(Marked(label=text, at=at))
        self._keep("mark", by, at=at, label=text)
        return text

    # ------------------------------------------------------------ lecturer tiles

    def lecturer_negotiated(self, tiles: int) -> None:
        """The lecturer's offer carried ``tiles`` tile pairs: keep assignments that still fit."""
        self.tiles = (self.tiles + [None] * tiles)[:tiles]
        self._assign_tiles(force_notify=True)
        self.route()

    def _assign_tiles(self, force_notify: bool = False) -> None:
        lecturer = self.lecturer
        if lecturer is None:
            return
        shown = set(self.tiles)
        waiting = [p.id for p in self.classrooms() if p.id not in shown]
        changed = force_notify
        for pid in waiting:
            if None not in self.tiles:
                break
            self.tiles[self.tiles.index(None)] = pid
            changed = True
        # Beyond the cap, classrooms are in the roster and can go on stage, without a tile.
        needed = min(len(self.classrooms()), MAX_LECTURER_TILES)
        if needed > len(self.tiles):
            lecturer.post(Renegotiate(tiles=needed))
        if changed and lecturer.mids:
            lecturer.post(TilesChanged(tiles=self.tile_map(lecturer)))

    def tile_map(self, lecturer: Participant) -> dict[str, str | None]:
        result: dict[str, str | None] = {}
        for mid, index in lecturer.mids.items():
            if index >= LECTURER_FIXED_SLOTS:
                tile = (index - LECTURER_FIXED_SLOTS) // 2
                result[mid] = self.tiles[tile] if tile < len(self.tiles) else None
        return result

    # ------------------------------------------------------------ routing

    def _source(self, pid: str | None, slot: Slot) -> MediaSource | None:
        member = self.members.get(pid) if pid is not None else None
        if member is None:
            return None
        if slot is Slot.MICROPHONE and member.muted:
            return None
        return member.sources.get(slot)

    def desired_source(self, member: Participant, index: int) -> MediaSource | None:
        slot = member.layout[index]
        lecturer = self.lecturer
        lecturer_id = lecturer.id if lecturer is not None else None
        holder = self._feeds.get(Slot.CAMERA) or lecturer
        holder_id = holder.id if holder is not None else None
        stage = self.stage if self.stage != member.id else None
        if slot is Slot.LECTURER_VIDEO:
            return self._source(holder_id, Slot.CAMERA)
        if slot is Slot.LECTURER_AUDIO:
            return self._source(holder_id, Slot.MICROPHONE)
        if slot is Slot.SCREEN_VIDEO:
            screen = self._feeds.get(Slot.SCREEN)
            if screen is not None:
                return self._source(screen.id, Slot.SCREEN)
            return self._source(lecturer_id, Slot.SCREEN) if self.screen_sharing else None
        if slot is Slot.STAGE_VIDEO:
            return self._source(stage, Slot.CAMERA)
        if slot is Slot.STAGE_AUDIO:
            return self._source(stage, Slot.MICROPHONE)
        if slot in (Slot.TILE_VIDEO, Slot.TILE_AUDIO):
            tile = (index - LECTURER_FIXED_SLOTS) // 2
            pid = self.tiles[tile] if 0 <= tile < len(self.tiles) else None
            if slot is Slot.TILE_VIDEO:
                return self._source(pid, Slot.CAMERA)
            # The lecturer hears the classroom it chose to listen to and the one on stage.
            if pid is not None and pid in (self.listening, self.stage):
                return self._source(pid, Slot.MICROPHONE)
        return None

    def route(self) -> None:
        for member in tuple(self.members.values()):
            for index, sink in member.sinks.items():
                sink.switch(self.desired_source(member, index))
                video = SLOT_KIND[member.layout[index]] == "video"
                sink.set_enabled(not (video and (member.audio_only or member.shed)))
