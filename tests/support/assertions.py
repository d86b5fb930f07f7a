"""Checks shared by the proxy tests: how a rejection looks, and that nothing reached a server."""

from __future__ import annotations

from collections.abc import Collection

from tests.support.balancer import PROBE_PATH, Balancer
from tests.support.raw import RawReply, Response, parse_responses


def assert_rejected(reply: RawReply, statuses: int | Collection[int]) -> Response:
    """One error response with ``Connection: close``, nothing after it, then the close."""
    expected = {statuses} if isinstance(statuses, int) else set(statuses)
    assert reply.data, f"no response at all (closed={reply.closed})"
    responses = parse_responses(reply.data, closed=reply.closed)
    assert responses, f"no whole response in {reply.data[:400]!r}"
    response = responses[0]
    assert response.status in expected, (
        f"expected {sorted(expected)}, got {response.status}: {response.body!r}")
    assert "close" in response.connection_tokens, f"no Connection: close in {response.raw_head!r}"
    assert len(responses) == 1, f"more than one response: {[r.status for r in responses]}"
    assert reply.closed, "the connection stayed open after the error response"
    return response


def assert_nothing_reached_backends(balancer: Balancer) -> None:
    """No byte of what came before reached any server, and the listener still serves.

    Checked twice: at once, and after a probe request through a new connection has made
    a full round trip (so bytes the proxy might have sent late have arrived by then).
    """
    early = {backend.name: backend.raw_size for backend in balancer.backends}
    assert not any(early.values()), f"servers received bytes: {early}"
    balancer.probe()
    for backend in balancer.backends:
        for connection in backend.connections:
            assert connection.parse_error is None, f"{backend.name} failed to parse: {connection.parse_error}"
            for request in connection.requests:
                raw = bytes(connection.raw)[:300]
                assert request.path == PROBE_PATH and request.complete, (
                    f"{backend.name} received {request.method} {request.target!r}: {raw!r}")
