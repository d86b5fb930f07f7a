"""Routes choose a pool by Host and path prefix, in order; the first match wins."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.assertions import assert_nothing_reached_backends
from tests.support.balancer import Balancer
from tests.support.raw import RawConnection


def routed(**options: object) -> dict[str, object]:
    """Backend 0 in pool ``p``, backend 1 in ``api``, backend 2 in ``admin``."""
    return {"pools_of_backends": {"p": [0], "api": [1], "admin": [2]}, **options}


def answered_by(running: Balancer, path: str, host: str = "www.example") -> str:
    response = running.get(path, headers={"Host": host})
    assert response.status_code == 200, response.text
    return response.headers["x-backend"]


def test_path_prefix_and_host_pick_the_pool(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, **routed(routes=[
        {"match": {"path_prefix": "/api/"}, "pool": "api"},
        {"match": {"host": "admin.example"}, "pool": "admin"},
        {"pool": "p"},
    ]))
    assert answered_by(running, "/api/users") == "backend1"
    assert answered_by(running, "/api") == "backend0", "/api is not under the prefix /api/"
    assert answered_by(running, "/", host="admin.example") == "backend2"
    assert answered_by(running, "/", host="ADMIN.example:8080") == "backend2", "host match ignores case, port"
    assert answered_by(running, "/api/x", host="admin.example") == "backend1", "the first match wins"
    assert answered_by(running, "/other") == "backend0"


def test_host_and_path_in_one_match_must_both_hold(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, **routed(routes=[
        {"match": {"host": "admin.example", "path_prefix": "/api/"}, "pool": "api"},
        {"pool": "p"},
    ]))
    assert answered_by(running, "/api/x", host="admin.example") == "backend1"
    assert answered_by(running, "/api/x", host="www.example") == "backend0"
    assert answered_by(running, "/x", host="admin.example") == "backend0"


def test_request_no_route_matches_gets_404_and_reaches_no_server(balancer: Callable[..., Balancer]) -> None:
    running = balancer(3, **routed(routes=[{"match": {"path_prefix": "/api/"}, "pool": "api"},
                                           {"match": {"path_prefix": "/__probe__"}, "pool": "p"}]))
    with RawConnection(running.address) as connection:
        connection.send(b"GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n")
        response = connection.read_response()
    assert response.status == 404
    assert response.body, "the 404 says why"
    assert_nothing_reached_backends(running)


def test_a_404_keeps_the_connection_and_answers_in_order(balancer: Callable[..., Balancer]) -> None:
    """The 404 is an answer like any other: the connection stays open, and requests
    pipelined around it are answered in the order they came, the next by a server."""
    running = balancer(3, **routed(routes=[{"match": {"path_prefix": "/api/"}, "pool": "api"},
                                           {"match": {"path_prefix": "/__probe__"}, "pool": "p"}]))
    with RawConnection(running.address) as connection:
        connection.send(b"GET /api/first HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n"
                        b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        first, missing, last = (connection.read_response() for _ in range(3))
        assert (first.status, missing.status, last.status) == (200, 404, 200)
        assert "close" not in missing.connection_tokens
        assert last.header("x-backend") == "backend1"
        connection.send(b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
        assert connection.read_response().status == 404
