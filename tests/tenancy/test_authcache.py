"""The memory of verified credentials, on a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from tenancy.auth import Credential
from tenancy.authcache import CredentialCache
from tenancy.db.base import utcnow
from tenancy.principal import Principal

KEY = Credential(token="cap_" + "k" * 43)
ALICE = Principal("api_key", None, "org-a", frozenset(), api_key_id="key-1")


def user_until(moment: datetime) -> Principal:
    return Principal("user", "u", "org-a", frozenset(), valid_until=moment)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_remembers_for_ttl_then_forgets() -> None:
    clock = Clock()
    cache = CredentialCache(2.0, clock=clock)
    assert cache.get(KEY) is None
    cache.put(KEY, ALICE, cache.generation)
    assert cache.get(KEY) is ALICE
    clock.now += 1.9
    assert cache.get(KEY) is ALICE
    clock.now += 0.2
    assert cache.get(KEY) is None
    assert (cache.hits, cache.misses) == (2, 2)


def test_keys_are_the_digest_and_the_org_asked_for() -> None:
    cache = CredentialCache(5.0, clock=Clock())
    cache.put(KEY, ALICE, cache.generation)
    assert cache.get(Credential(token=KEY.token, org_ref="other-org")) is None
    assert cache.get(Credential(token=KEY.token, need_org=False)) is None
    assert cache.get(Credential(token=KEY.token + "x")) is None
    assert all(KEY.token not in str(key) for key in cache._entries)


def test_never_outlives_the_credential() -> None:
    clock = Clock()
    cache = CredentialCache(60.0, clock=clock)
    ending = Principal(
        "user", "u", "org-a", frozenset(), valid_until=utcnow() + timedelta(seconds=1)
    )
    cache.put(KEY, ending, cache.generation)
    assert cache.get(KEY) is ending
    clock.now += 1.5
    assert cache.get(KEY) is None
    ended = Principal(
        "user", "u", "org-a", frozenset(), valid_until=utcnow() - timedelta(seconds=1)
    )
    cache.put(KEY, ended, cache.generation)
    assert cache.get(KEY) is None


def test_a_lookup_older_than_a_change_is_not_stored() -> None:
    cache = CredentialCache(5.0, clock=Clock())
    cache.put(KEY, ALICE, cache.generation)
    began = cache.generation  # a slow lookup starts...
    cache.invalidate()  # ...a revocation commits meanwhile
    assert cache.get(KEY) is None
    cache.put(KEY, ALICE, began)  # what the slow lookup read is stale
    assert cache.get(KEY) is None
    cache.put(KEY, ALICE, cache.generation)
    assert cache.get(KEY) is ALICE


def test_zero_ttl_remembers_nothing_and_the_table_is_bounded() -> None:
    off = CredentialCache(0.0, clock=Clock())
    off.put(KEY, ALICE, off.generation)
    assert off.get(KEY) is None
    small = CredentialCache(5.0, max_entries=3, clock=Clock())
    for i in range(10):
        small.put(Credential(token=f"cap_{i}"), ALICE, small.generation)
        assert len(small._entries) <= 3
