"""Replay data: the player reports which stretches of a recording or capsule it played, in
batches; each recording and capsule shows views, watch time, a "re-watched" heat strip over its
timeline, and (recordings) the most re-watched minutes as capsule candidates.

Viewers are counted, never named: a session is keyed by a hash of the account or token that
watched (keyed with the hub's secret, so it cannot be matched back to an account id).
The access log (streamhub.access_log) is apart: a replay's first report names who opened it
there, for county and school admins (docs/roles.md)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints, model_validator

from streamhub.api.access import capsule_allows, recording_allows
from streamhub.api.auth import Caller, CallerDep, People, ServicesDep
from streamhub.api.capsules import readable_capsule
from streamhub.api.schemas import Body, Id
from streamhub.api.watched_by import note, who_of
from streamhub.catalog.replay import Target
from streamhub.errors import BadRequest, Forbidden, NotFound
from streamhub.services import Services

router = APIRouter(tags=["replay"])

MAX_RANGES = 64
# One batch covers at most this much played time (a player reports every ~15 s; at 2x speed
# with seeks that stays far below it).
MAX_BATCH_S = 900.0
# A range may end this far past the duration the catalog has (rounding, the last frame).
END_SLACK_S = 1.0
HEAT_BUCKETS = 120
SUGGESTIONS = 3
MINUTE = 60

ClientKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]


class WatchedIn(Body):
    recording_id: Id | None = None
    capsule_id: Id | None = None
    # The player's own random id for this replay (hex): its batches add to one view.
    session: ClientKey
    # [start_s, end_s] stretches played since the last batch, on the media's own timeline.
    ranges: list[tuple[float, float]] = Field(min_length=1, max_length=MAX_RANGES)

    @model_validator(mode="after")
    def _one_target(self) -> WatchedIn:
        if (self.recording_id is None) == (self.capsule_id is None):
            raise ValueError("name exactly one of recording_id and capsule_id")
        for start, end in self.ranges:
            if not 0 <= start < end:
                raise ValueError("every range is [start_s, end_s] with 0 <= start_s < end_s")
        if sum(end - start for start, end in self.ranges) > MAX_BATCH_S:
            raise ValueError(f"a batch covers at most {MAX_BATCH_S:g} s")
        return self


class Suggestion(Body):
    start_s: float
    end_s: float
    plays: int  # times each of its seconds was played, on average


class ReplayOut(Body):
    views: int
    viewers: int
    watch_s: float
    duration_s: float
    # The heat strip: plays per bucket (mean over its seconds), buckets of bucket_s seconds.
    bucket_s: float
    heat: list[float]
    # The most re-watched minutes (played more than once), best first: capsule candidates.
    suggestions: list[Suggestion]


def viewer_of(svc: Services, who: Caller) -> str:
    if who.account is not None:
        identity = f"account:{who.account.id}"
    elif who.grant is not None:
        identity = f"token:{who.grant.sub}"
    else:
        identity = "admin-key"
    key = svc.secrets.jwt_secret.encode()
    return hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()[:32]


def replay_out(stats_plays: list[int], views: int, viewers: int, watch_s: float) -> ReplayOut:
    seconds = len(stats_plays)
    bucket = max(1, -(-seconds // HEAT_BUCKETS))
    heat = [
        round(sum(stats_plays[i : i + bucket]) / len(stats_plays[i : i + bucket]), 2)
        for i in range(0, seconds, bucket)
    ]
    minutes = []
    for start in range(0, seconds, MINUTE):
        part = stats_plays[start : start + MINUTE]
        mean = sum(part) / len(part)
        if mean > 1:
            minutes.append(Suggestion(start_s=start, end_s=start + len(part), plays=round(mean)))
    minutes.sort(key=lambda s: (-s.plays, s.start_s))
    return ReplayOut(
        views=views,
        viewers=viewers,
        watch_s=watch_s,
        duration_s=seconds,
        bucket_s=bucket,
        heat=heat,
        suggestions=minutes[:SUGGESTIONS],
    )


@router.post("/api/replay/watched", status_code=204, dependencies=[People])
async def report_watched(
    body: WatchedIn, svc: ServicesDep, who: CallerDep, request: Request
) -> Response:
    """What a player played since its last report (ranges within the media's duration). A
    replay's first report writes a ``replay`` (or ``capsule_view``) to the access log."""
    if body.recording_id is not None:
        rec = await svc.catalog.get_recording(body.recording_id)
        if not recording_allows(who, rec):
            raise Forbidden("this recording is not of your lessons")
        if rec.state != "ready":
            raise NotFound(f"the recording is {rec.state}")
        duration = rec.duration_s
        logged = ("replay", rec.lesson.title, rec.lesson.school_id)
    else:
        assert body.capsule_id is not None
        capsule = await svc.catalog.get_capsule(body.capsule_id)
        if not capsule_allows(who, capsule):
            raise Forbidden("this capsule is not of your lessons")
        duration = capsule.duration_s
        logged = ("capsule_view", capsule.title, capsule.school_id)
    if any(end > duration + END_SLACK_S for _, end in body.ranges):
        raise BadRequest(f"a range ends past the media's end ({duration:.1f} s)")
    target = Target(recording_id=body.recording_id, capsule_id=body.capsule_id)
    ranges = [(start, min(end, duration)) for start, end in body.ranges]
    first = await svc.catalog.add_watched(target, viewer_of(svc, who), body.session, ranges)
    if first:
        action, title, school_id = logged
        note(
            svc,
            action,
            who_of(who),
            request,
            title=title,
            school_id=school_id,
            recording_id=body.recording_id,
            capsule_id=body.capsule_id,
        )
    return Response(status_code=204)


@router.get("/api/recordings/{recording_id}/replay", dependencies=[People])
async def recording_replay(recording_id: Id, svc: ServicesDep, who: CallerDep) -> ReplayOut:
    """Views, watch time, the re-watched heat strip and capsule candidates of a recording."""
    rec = await svc.catalog.get_recording(recording_id)
    if not recording_allows(who, rec):
        raise Forbidden("this recording is not of your lessons")
    stats = await svc.catalog.replay_stats(Target(recording_id=rec.id), rec.duration_s)
    return replay_out(stats.plays, stats.views, stats.viewers, stats.watch_s)


@router.get("/api/capsules/{capsule_id}/replay", dependencies=[People])
async def capsule_replay(capsule_id: str, svc: ServicesDep, who: CallerDep) -> ReplayOut:
    """Views, watch time and the re-watched heat strip of a capsule."""
    capsule = await readable_capsule(svc, who, capsule_id)
    stats = await svc.catalog.replay_stats(Target(capsule_id=capsule.id), capsule.duration_s)
    return replay_out(stats.plays, stats.views, stats.viewers, stats.watch_s)
