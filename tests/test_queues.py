"""The bounded event queue of the hub's own recorder and of clients: in order, never unbounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streamhub.protocol import ChatMessage, HandRaised, LessonEnded, Message
from streamhub.queues import EventQueue


def _chat(n: int) -> ChatMessage:
    return ChatMessage(sender="c1", sender_name="Class 1", text=str(n), at=0.0)


def _hand(n: int) -> HandRaised:
    return HandRaised(participant=f"c{n}", hands=[f"c{n}"])


async def test_a_full_queue_drops_the_oldest_chat_first_and_keeps_the_order() -> None:
    queue: EventQueue[Message] = EventQueue(4)
    for item in (_chat(1), _hand(1), _chat(2), _hand(2), _hand(3), _hand(4)):
        assert queue.put(item)
    assert queue.dropped == 2 and len(queue) == 4
    # Nothing droppable is left: put refuses, force drops the oldest.
    assert not queue.put(_hand(5))
    queue.force(LessonEnded())
    queue.finish()
    got = [item async for item in _drain(queue)]
    assert got == [_hand(2), _hand(3), _hand(4), LessonEnded()]
    assert queue.dropped == 3


async def test_a_reader_waits_for_the_next_item_and_ends_after_finish() -> None:
    queue: EventQueue[Message] = EventQueue(4)
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put(_hand(1))
    assert await asyncio.wait_for(reader, 5) == _hand(1)
    queue.finish()
    assert await asyncio.wait_for(queue.get(), 5) is None


async def _drain(queue: EventQueue[Message]) -> AsyncIterator[Message]:
    while (item := await queue.get()) is not None:
        yield item
