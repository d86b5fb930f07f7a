"""Route path rewriting through a running laneway: the server gets the rewritten target (query
kept), the client sees the server's answer and nothing else of it (no redirect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.balancer import Balancer
from tests.support.payload import blocks
from tests.support.raw import RawConnection


def rewriting(balancer: Callable[..., Balancer], rewrite: dict[str, Any], **route: Any) -> Balancer:
    """Requests with an X-Rewrite header get ``rewrite``; others pass as they are."""
    return balancer(1, routes=[{"match": {"headers": {"X-Rewrite": True}}, "pool": "p", "rewrite": rewrite,
                                **route}, {"pool": "p"}])


def targets_seen(running: Balancer, paths: list[str]) -> list[str]:
    with running.client() as client:  # one keep-alive connection for all of them
        for path in paths:
            assert client.get(path, headers={"X-Rewrite": "1"}).status_code == 200
    return [request.target for request in running.backend.requests]


@pytest.mark.parametrize(("rewrite", "sent", "seen"), [
    ({"strip_prefix": "/api"}, ["/api/users?x=1&y=/api", "/api", "/api?q", "/apiary", "/other/api/x"],
     ["/users?x=1&y=/api", "/", "/?q", "/ary", "/other/api/x"]),
    ({"strip_prefix": "/api/"}, ["/api/v1/x", "/api/"], ["/v1/x", "/"]),
    ({"replace_prefix": {"from": "/old/", "to": "/new/"}}, ["/old/a/b?z=%20", "/older", "/old/"],
     ["/new/a/b?z=%20", "/older", "/new/"]),
    ({"replace_prefix": {"from": "/", "to": "/v2/"}}, ["/x", "/"], ["/v2/x", "/v2/"]),
    ({"regex": {"pattern": r"^/users/(\d+)/(\w+)$", "replacement": r"/u/\2/\1"}},
     ["/users/42/profile?full=1", "/users/x/profile"], ["/u/profile/42?full=1", "/users/x/profile"]),
    ({"regex": {"pattern": "^/shop/(.*)$", "replacement": r"\1"}}, ["/shop/cart", "/shop/"],
     ["/cart", "/"]),  # a path left without its leading slash gets one
    ({"regex": {"pattern": "//+", "replacement": "/"}}, ["/a//b//c"], ["/a/b//c"]),  # the first match only
])
def test_the_server_gets_the_rewritten_target(balancer: Callable[..., Balancer], rewrite: dict[str, Any],
                                              sent: list[str], seen: list[str]) -> None:
    assert targets_seen(rewriting(balancer, rewrite), sent) == seen


def test_the_client_sees_the_servers_answer_and_no_redirect(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, {"strip_prefix": "/files"})
    with running.client(follow_redirects=False) as client:
        response = client.get("/files/bytes?n=70000", headers={"X-Rewrite": "1"})
    assert response.status_code == 200 and "location" not in response.headers
    assert response.content == b"".join(blocks(70000)), "the answer of /bytes, whole"
    assert running.backend.requests[0].target == "/bytes?n=70000"


def test_other_routes_keep_their_paths(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, {"strip_prefix": "/api"})
    with running.client() as client:
        client.get("/api/x")
    assert running.backend.requests[0].target == "/api/x"


def test_absolute_form_targets_are_rewritten_and_sent_in_origin_form(
        balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, {"strip_prefix": "/api"})
    with RawConnection(running.address) as connection:
        for target in (b"http://example.com/api/x?q=1", b"http://example.com/api", b"http://example.com?q"):
            connection.send(b"GET %s HTTP/1.1\r\nHost: other.example\r\nX-Rewrite: 1\r\n\r\n" % target)
            assert connection.read_response().status == 200
    assert [r.target for r in running.backend.requests] == ["/x?q=1", "/", "/?q"]
    assert {r.header("host") for r in running.backend.requests} == {"example.com"}


def test_header_variables_still_hold_what_the_client_sent(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, {"strip_prefix": "/api"},
                        request_headers={"set": {"X-Original": "$request_uri", "X-Original-Path": "$path"}})
    targets_seen(running, ["/api/x?y=1"])
    [request] = running.backend.requests
    assert request.target == "/x?y=1"
    assert request.header("x-original") == "/api/x?y=1" and request.header("x-original-path") == "/api/x"


def test_a_request_body_still_goes_with_it(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, {"replace_prefix": {"from": "/up", "to": "/echo"}})
    with running.client() as client:
        response = client.post("/up", content=b"z" * 100_000, headers={"X-Rewrite": "1"})
    assert response.status_code == 200 and response.content == b"z" * 100_000
    assert running.backend.requests[0].target == "/echo"


def test_a_retried_request_keeps_its_rewrite_and_names_the_server_that_answered(
        balancer: Callable[..., Balancer]) -> None:
    running = balancer(2, pool={"algorithm": "round_robin"}, routes=[{
        "pool": "p", "rewrite": {"strip_prefix": "/api"}, "request_headers": {"set": {"X-Edited": "yes"}},
        "response_headers": {"set": {"X-Served-By": "$server"}}}])
    hangs_up, answers = running.backends
    hangs_up.override = "/close"  # closes every connection without a word
    with running.client() as client:
        responses = [client.get(f"/api/n{n}") for n in range(4)]
    answered = f"{answers.address[0]}:{answers.address[1]}"
    assert [(r.status_code, r.headers["x-served-by"]) for r in responses] == [(200, answered)] * 4
    assert hangs_up.requests, "some went there first and were tried again"
    for request in (*hangs_up.requests, *answers.requests):
        assert request.target.startswith("/n") and request.header_values("x-edited") == ["yes"]
