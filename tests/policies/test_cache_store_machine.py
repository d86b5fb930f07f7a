"""The store's indexes stay consistent under any sequence of stores, lookups, expiry,
invalidation and clearing (a Hypothesis state machine), and the byte bound always holds."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from laneway.policies.cache import CacheStore, Fill
from laneway.policies.cache.store import RESOURCE

TARGETS = [b"/a", b"/b", b"/c"]
TENANTS = [b"", b"x", b"y"]
LANGUAGES = [None, b"en", b"de"]


def key(target: bytes, tenant: bytes) -> tuple[bytes, ...]:
    return (b"GET", b"web", b"example.com", target, tenant)


def headers(language: bytes | None) -> list[bytes]:
    return [] if language is None else [b"Accept-Language: " + language + b"\r\n"]


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = CacheStore("pages", 6000, 2500)
        self.now = 0.0

    @rule(path=st.sampled_from(TARGETS), tenant=st.sampled_from(TENANTS),
          language=st.sampled_from(LANGUAGES), vary=st.booleans(), size=st.integers(0, 3000),
          max_age=st.integers(1, 100))
    def store_a_response(self, path: bytes, tenant: bytes, language: bytes | None, vary: bool, size: int,
                         max_age: int) -> None:
        fill = Fill(self.store, key(path, tenant), headers(language), authorized=False, valid={})
        fields = b"\r\nCache-Control: max-age=%d%s" % (max_age, b"\r\nVary: Accept-Language" if vary else b"")
        assert fill.head(200, fields, wall_clock=0.0)
        stored = fill.body(b"x" * size) and fill.complete(self.now)
        if stored:
            found = self.store.lookup(key(path, tenant), headers(language), self.now)
            assert found is not None and len(found.body) == size

    @rule(path=st.sampled_from(TARGETS), tenant=st.sampled_from(TENANTS),
          language=st.sampled_from(LANGUAGES))
    def look_up(self, path: bytes, tenant: bytes, language: bytes | None) -> None:
        entry = self.store.lookup(key(path, tenant), headers(language), self.now)
        assert entry is None or entry.fresh(self.now)

    @rule(seconds=st.integers(0, 60))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @rule(path=st.sampled_from(TARGETS))
    def invalidate(self, path: bytes) -> None:
        self.store.invalidate(key(path, b"")[:RESOURCE])
        assert all(entry.key[3] != path for entry in self.store.entries.values())

    @rule()
    def clear(self) -> None:
        self.store.clear()
        assert len(self.store) == 0

    @invariant()
    def indexes_agree(self) -> None:
        store = self.store
        entries = store.entries
        assert store.size == sum(entry.size for entry in entries.values()) <= store.max_size
        assert all(entry.size <= store.max_entry_size for entry in entries.values())
        assert {(k, v) for k, variants in store.variants.items() for v in variants} == set(entries)
        assert set(store.vary) == set(store.variants)
        assert all(variants for variants in store.variants.values())
        assert {k for keys in store.resources.values() for k in keys} == set(store.variants)
        assert all(k[:RESOURCE] == resource for resource, keys in store.resources.items() for k in keys)
        assert all(len(entry.variant) == len(store.vary[entry.key]) for entry in entries.values())


StoreMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestStore = StoreMachine.TestCase
