"""Smooth weighted round robin: NGINX's picks exactly, exact shares per cycle, no bursts."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.balancing import PickContext, WeightedRoundRobin
from tests.balancing.support import CountingServer, Server, longest_run, sequential

weight_lists = st.lists(st.integers(1, 12), min_size=1, max_size=7)


def nginx_reference(weights: list[int], picks: int) -> list[int]:
    """NGINX's loop (ngx_http_upstream_get_peer), O(n) per pick, as the oracle."""
    current = [0] * len(weights)
    total = sum(weights)
    chosen = []
    for _ in range(picks):
        best = -1
        for i, weight in enumerate(weights):
            current[i] += weight
            if best == -1 or current[i] > current[best]:
                best = i
        current[best] -= total
        chosen.append(best)
    return chosen


def chapter_expanded(weights: list[int], picks: int) -> list[int]:
    """The chapter's sketch: each server repeated ``weight`` times in a list."""
    expanded = [i for i, weight in enumerate(weights) for _ in range(weight)]
    return [expanded[k % len(expanded)] for k in range(picks)]


def balancer_for(weights: list[int]) -> WeightedRoundRobin[Server]:
    balancer: WeightedRoundRobin[Server] = WeightedRoundRobin()
    balancer.update([Server(f"s{i}", weight) for i, weight in enumerate(weights)], 0.0)
    return balancer


def test_five_one_one_interleaves_as_nginx_documents() -> None:
    keys = sequential(balancer_for([5, 1, 1]), 14)
    assert "".join({"s0": "a", "s1": "b", "s2": "c"}[k] for k in keys) == "aabacaa" * 2


def test_never_five_in_a_row_where_the_chapters_list_gives_five() -> None:
    smooth = sequential(balancer_for([5, 1, 1]), 70)
    assert longest_run(smooth, "s0") == 4  # "aa" ending one cycle + "aa" starting the next
    expanded = [f"s{i}" for i in chapter_expanded([5, 1, 1], 70)]
    assert longest_run(expanded, "s0") == 5


@settings(max_examples=150, deadline=None)
@given(weights=weight_lists)
def test_the_picks_are_nginxs_exactly(weights: list[int]) -> None:
    picks = 3 * sum(weights)
    keys = sequential(balancer_for(weights), picks)
    assert keys == [f"s{i}" for i in nginx_reference(weights, picks)]


@settings(max_examples=150, deadline=None)
@given(weights=weight_lists, cycles=st.integers(1, 3))
def test_every_cycle_gives_each_server_exactly_its_weight(weights: list[int], cycles: int) -> None:
    balancer = balancer_for(weights)
    for _ in range(cycles):
        picks = Counter(sequential(balancer, sum(weights)))
        assert picks == {f"s{i}": weight for i, weight in enumerate(weights)}


@settings(max_examples=150, deadline=None)
@given(weights=weight_lists)
def test_no_server_ever_gets_a_whole_pick_ahead_of_its_share(weights: list[int]) -> None:
    """Smoothness: after t picks, server i has fewer than t * w_i / W + 1 (cross-multiplied).

    This is what rules out bursts: a run of picks to one server is only as long as its share
    lets it get ahead by less than one. The chapter's list breaks it as soon as a weight is 2
    or more beside other servers.
    """
    total = sum(weights)
    picks = [0] * len(weights)
    for t, key in enumerate(sequential(balancer_for(weights), 2 * total), start=1):
        picks[int(key[1:])] += 1
        for i, weight in enumerate(weights):
            assert picks[i] * total < t * weight + total


def test_the_chapters_list_does_get_a_whole_pick_ahead() -> None:
    weights, total = [5, 1, 1], 7
    picks = [0, 0, 0]
    ahead = False
    for t, i in enumerate(chapter_expanded(weights, total), start=1):
        picks[i] += 1
        ahead = ahead or picks[i] * total >= t * weights[i] + total
    assert ahead


def test_an_update_that_changes_nothing_does_not_restart_the_cycle() -> None:
    pool = [Server("a", 5), Server("b", 1), Server("c", 1)]
    balancer: WeightedRoundRobin[Server] = WeightedRoundRobin()
    balancer.update(pool, 0.0)
    first = sequential(balancer, 3)
    balancer.update(list(pool), 1.0)
    assert first + sequential(balancer, 4) == ["a", "a", "b", "a", "c", "a", "a"]


def test_a_weight_change_keeps_the_currents_and_reaches_the_new_shares() -> None:
    pool = [Server("a", 1), Server("b", 1)]
    balancer: WeightedRoundRobin[Server] = WeightedRoundRobin()
    balancer.update(pool, 0.0)
    sequential(balancer, 3)
    balancer.update([Server("a", 3), Server("b", 1)], 1.0)
    assert Counter(sequential(balancer, 400)) == {"a": 300, "b": 100}


def test_exclude_takes_the_best_of_the_rest_and_shares_still_hold() -> None:
    pool = [Server("a", 5), Server("b", 1), Server("c", 1)]
    balancer: WeightedRoundRobin[Server] = WeightedRoundRobin()
    balancer.update(pool, 0.0)
    assert balancer.pick(PickContext(exclude=(pool[0],))) is pool[1]
    assert balancer.pick(PickContext(exclude={"a", "b"})) is pool[2]
    picks = Counter(["b", "c", *sequential(balancer, 698)])
    assert all(abs(picks[key] - expected) <= 1 for key, expected in (("a", 500), ("b", 100), ("c", 100)))


def test_a_pick_reads_no_target_when_weights_are_few() -> None:
    """O(distinct weights + log n): not a scan of the 10,000 servers."""
    pool = [CountingServer(f"s{i}", 1 + i % 3) for i in range(10_000)]
    balancer: WeightedRoundRobin[CountingServer] = WeightedRoundRobin()
    balancer.update(pool, 0.0)
    assert len(balancer._groups) == 3
    CountingServer.reads = 0
    for _ in range(1000):
        target = balancer.pick()
        assert target is not None
        balancer.on_start(target, 0.0)
        balancer.on_end(target, 0.0, 0.0, False)
    assert CountingServer.reads == 0
