"""The cache store: keys and Vary, expiry by the clock passed in, the byte bound with LRU
eviction, and coalescing bookkeeping (one fill per key, waiters called back once)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.policies.cache import INVALIDATE, CacheStore, Entry, Fill, Key
from laneway.policies.cache.store import ENTRY_OVERHEAD, without_age

PAGE: Key = (b"GET", b"web", b"example.com", b"/page")  # method class, pool, host, target


def fill(store: CacheStore, key: Key = PAGE, headers: list[bytes] | None = None,
         valid: dict[int, float] | None = None) -> Fill:
    return Fill(store, key, headers or [], authorized=False, valid=valid or {})


def store_response(store: CacheStore, key: Key = PAGE, body: bytes = b"hello", *, now: float = 0.0,
                   fields: bytes = b"\r\nCache-Control: max-age=60", headers: list[bytes] | None = None,
                   status: int = 200) -> bool:
    filling = fill(store, key, headers)
    assert filling.head(status, fields, wall_clock=0.0)
    assert filling.body(body)
    return filling.complete(now)


def test_a_stored_response_is_found_until_it_expires() -> None:
    store = CacheStore("pages", 10_000, 1_000)
    assert store.lookup(PAGE, [], 0.0) is None
    assert store_response(store, now=100.0, fields=b"\r\nCache-Control: max-age=60\r\nAge: 10")
    entry = store.lookup(PAGE, [], 149.0)
    assert entry is not None and entry.body == b"hello" and entry.age(149.0) == 59
    assert b"Age" not in entry.fields  # laneway writes its own
    assert store.lookup(PAGE, [], 150.0) is None  # 10 + 50 seconds: no longer fresh
    assert len(store) == 0 and store.size == 0  # and dropped


def test_keys_are_separate() -> None:
    store = CacheStore("pages", 10_000, 1_000)
    store_response(store, body=b"one")
    other = (b"GET", b"example.com", b"/page?x=1")
    assert store.lookup(other, [], 0.0) is None
    store_response(store, other, body=b"two")
    assert store.lookup(PAGE, [], 0.0).body == b"one"  # type: ignore[union-attr]
    assert store.lookup(other, [], 0.0).body == b"two"  # type: ignore[union-attr]


def test_vary_keeps_one_entry_per_value_of_the_named_headers() -> None:
    store = CacheStore("pages", 10_000, 1_000)
    vary = b"\r\nCache-Control: max-age=60\r\nVary: Accept-Language"
    english, german = [b"Accept-Language: en\r\n"], [b"accept-language: de\r\n"]
    store_response(store, body=b"hello", fields=vary, headers=english)
    assert store.lookup(PAGE, german, 0.0) is None
    assert store.lookup(PAGE, [], 0.0) is None  # no value is a value of its own
    store_response(store, body=b"hallo", fields=vary, headers=german)
    assert store.lookup(PAGE, english, 0.0).body == b"hello"  # type: ignore[union-attr]
    assert store.lookup(PAGE, german, 0.0).body == b"hallo"  # type: ignore[union-attr]
    # The server stops varying: the old variants go.
    store_response(store, body=b"plain")
    assert len(store) == 1 and store.lookup(PAGE, german, 0.0).body == b"plain"  # type: ignore[union-attr]


def test_an_entry_larger_than_max_entry_size_is_not_stored() -> None:
    store = CacheStore("pages", 10_000, ENTRY_OVERHEAD + 100)
    filling = fill(store)
    assert filling.head(200, b"\r\nCache-Control: max-age=60", wall_clock=0.0)
    assert filling.body(b"x" * 50)
    assert not filling.body(b"x" * 50)  # over the limit: given up at once, nothing kept
    assert not filling.open and filling.parts == []
    assert not filling.complete(0.0)
    assert len(store) == 0


def test_the_least_recently_used_entry_is_evicted_first() -> None:
    body = b"x" * 744  # 1000 bytes counted with the fields and the overhead
    fields = b"\r\nCache-Control: max-age=60"
    size = len(body) + len(fields) + ENTRY_OVERHEAD
    store = CacheStore("pages", 3 * size, size)
    keys = [(b"GET", b"h", f"/{index}".encode()) for index in range(4)]
    for key in keys[:3]:
        store_response(store, key, body, fields=fields)
    assert store.lookup(keys[0], [], 0.0) is not None  # now the most recently used
    store_response(store, keys[3], body, fields=fields)
    assert store.lookup(keys[1], [], 0.0) is None
    assert all(store.lookup(key, [], 0.0) is not None for key in (keys[0], keys[2], keys[3]))
    assert store.evicted == 1 and store.size == 3 * size


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3000)), max_size=60),
       st.integers(1000, 20_000), st.integers(300, 5000))
def test_the_byte_bound_always_holds(puts: list[tuple[int, int]], max_size: int, max_entry: int) -> None:
    store = CacheStore("pages", max_size, min(max_entry, max_size))
    for name, length in puts:
        key = (b"GET", b"h", b"/%d" % name)
        entry = Entry(key, (), 200, b"", b"x" * length, stored_at=0.0, lifetime=60.0, initial_age=0)
        stored = store.put(entry, ())
        assert stored == (entry.size <= store.max_entry_size)
        assert store.size == sum(e.size for e in store.entries.values()) <= store.max_size
        if stored:
            assert store.lookup(key, [], 0.0) is entry  # the newest always stays


def test_one_fill_per_key_and_its_waiters_are_called_back_once() -> None:
    store = CacheStore("pages", 10_000, 1_000)
    first, second = fill(store), fill(store)
    assert store.claim(first) is None
    assert store.claim(second) is first
    called: list[str] = []
    first.wait(lambda: called.append("a"))
    first.wait(lambda: called.append("b"))
    assert first.head(200, b"\r\nCache-Control: max-age=60", wall_clock=0.0)
    first.body(b"hi")
    assert called == []
    assert first.complete(0.0)
    assert called == ["a", "b"]
    assert store.fills == {}
    first.abandon()
    assert called == ["a", "b"]
    assert store.claim(fill(store)) is None  # the key is free again


@pytest.mark.parametrize("fields", [b"\r\nCache-Control: no-store",
                                    b"\r\nCache-Control: max-age=9\r\nSet-Cookie: a=b"])
def test_an_uncacheable_response_frees_the_key_and_wakes_the_waiters(fields: bytes) -> None:
    store = CacheStore("pages", 10_000, 1_000)
    first = fill(store)
    store.claim(first)
    called: list[int] = []
    first.wait(lambda: called.append(1))
    assert not first.head(200, fields, wall_clock=0.0)
    assert called == [1] and store.fills == {} and len(store) == 0


def test_an_abandoned_fill_stores_nothing() -> None:
    store = CacheStore("pages", 10_000, 1_000)
    first = fill(store)
    store.claim(first)
    first.head(200, b"\r\nCache-Control: max-age=60", wall_clock=0.0)
    first.body(b"half")
    first.abandon()
    assert not first.complete(0.0)
    assert len(store) == 0 and store.fills == {}


def test_without_age() -> None:
    assert without_age(b"\r\nA: 1\r\nAge: 5\r\nB: 2") == b"\r\nA: 1\r\nB: 2"
    assert without_age(b"\r\nAgent: x") == b"\r\nAgent: x"


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entry_size <= max_size"):
        CacheStore("pages", 100, 200)


def test_invalidate_drops_every_entry_of_a_resource() -> None:
    store = CacheStore("pages", 100_000, 1_000)
    page_de = (*PAGE, b"de")  # the same resource under a key header's value
    other = (b"GET", b"web", b"example.com", b"/other", b"")
    vary = b"\r\nCache-Control: max-age=60\r\nVary: Accept-Language"
    store_response(store, PAGE, fields=vary, headers=[b"Accept-Language: en\r\n"])
    store_response(store, PAGE, fields=vary, headers=[b"Accept-Language: fr\r\n"])
    store_response(store, (*PAGE, b"en"))
    store_response(store, page_de)
    store_response(store, other)
    assert store.invalidate(PAGE) == 4  # two variants and two key header values
    assert [entry.key for entry in store.entries.values()] == [other]
    assert store.size == next(iter(store.entries.values())).size
    assert store.invalidate(PAGE) == 0


@pytest.mark.parametrize(("status", "dropped"), [(200, True), (204, True), (303, True), (404, False),
                                                 (500, False)])
def test_an_unsafe_method_invalidates_only_when_it_succeeds(status: int, dropped: bool) -> None:
    store = CacheStore("pages", 10_000, 1_000)
    key = (*PAGE, b"")
    store_response(store, key)
    post = fill(store, key)
    post.mode = INVALIDATE
    assert not post.head(status, b"", wall_clock=0.0)  # never stored itself
    assert (store.lookup(key, [], 0.0) is None) == dropped
