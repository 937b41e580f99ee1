"""Passwords are argon2id hashes: the right one verifies, a wrong one and a missing hash do
not, and a hash with weaker parameters is flagged for rehashing."""

from __future__ import annotations

from argon2 import PasswordHasher

from streamhub.auth.passwords import Passwords
from streamhub.auth.throttle import SignInThrottle

# Small parameters: the same algorithm, a fraction of the time.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def test_a_password_verifies_against_its_hash_only() -> None:
    passwords = Passwords(FAST)
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "correct horse batterY")
    assert not await passwords.verify(stored, "")
    # No hash (an unknown login, a links-only account): never, whatever is typed, including
    # the stand-in's own password.
    assert not await passwords.verify(None, "streamhub: no such account")
    assert not await passwords.verify("not a hash", "anything")


async def test_a_hash_with_other_parameters_needs_rehashing() -> None:
    old = await Passwords(FAST).hash("a long enough password")
    today = Passwords()
    assert today.needs_rehash(old)
    assert await today.verify(old, "a long enough password")  # still verifies until rehashed


def test_failed_sign_ins_block_one_address_and_login_only() -> None:
    throttle = SignInThrottle()
    for _ in range(3):
        assert not throttle.blocked("10.0.0.1", "li@school.cn", 3, 60)
        throttle.failed("10.0.0.1", "li@school.cn")
    assert throttle.blocked("10.0.0.1", "li@school.cn", 3, 60)
    assert not throttle.blocked("10.0.0.2", "li@school.cn", 3, 60)  # its owner, elsewhere
    assert not throttle.blocked("10.0.0.1", "wang@school.cn", 3, 60)
    assert not throttle.blocked("10.0.0.1", "li@school.cn", 3, 0)  # the window passed
    throttle.succeeded("10.0.0.1", "li@school.cn")
    assert not throttle.blocked("10.0.0.1", "li@school.cn", 3, 60)
