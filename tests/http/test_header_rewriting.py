"""Route header rewriting through a running laneway: request headers as the server gets them,
response headers as the client gets them, remove -> set -> add, and variables filled in per
request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.balancer import Balancer, wait_for
from tests.support.raw import RawConnection

ID_HEADER = {"request_id_header": "X-Request-Id"}
EDIT = {"X-Edit": "1"}  # what the edited route matches on


def rewriting(balancer: Callable[..., Balancer], listener: dict[str, Any] | None = None,
              **edits: Any) -> Balancer:
    """Routes: requests with an X-Edit header get ``edits``, others are untouched."""
    return balancer(1, listener=listener, routes=[
        {"match": {"headers": {"X-Edit": True}}, "pool": "p", **edits}, {"pool": "p"}])


def test_request_headers_remove_then_set_then_add(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, request_headers={
        "remove": ["x-internal"], "set": {"X-Set": "new", "X-Both": "set"},
        "add": {"X-Add": "two", "X-Both": "added"}})
    sent = [("X-Internal", "secret"), ("X-INTERNAL", "again"), ("X-Set", "old"), ("X-Set", "older"),
            ("X-Add", "one"), ("X-Both", "from-client"), ("X-Kept", "yes")]
    with running.client() as client:
        assert client.get("/a", headers=[*sent, ("X-Edit", "1")]).status_code == 200
        assert client.get("/other", headers=sent).status_code == 200
    edited, untouched = running.backend.requests
    assert edited.header_values("x-internal") == [], "remove drops every line, in any case"
    assert edited.header_values("x-set") == ["new"], "set replaces every line"
    assert edited.header_values("x-add") == ["one", "two"], "add appends"
    assert edited.header_values("x-both") == ["set", "added"], "set, then add"
    assert edited.header("x-kept") == "yes"
    assert untouched.header_values("x-internal") == ["secret", "again"], "other routes are untouched"
    assert untouched.header_values("x-set") == ["old", "older"]


def test_request_variables_are_filled_in_per_request(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, listener=ID_HEADER, request_headers={"set": {
        "X-Client": "$client_ip", "X-Id": "id=$request_id", "X-Was": "$scheme://${host}$request_uri",
        "X-Path": "${path}!", "X-Query": "[$query]", "X-Price": "$$5 and $5"}})
    with running.client() as client:
        client.get("/one?x=1", headers=EDIT)
        client.get("/two", headers={"X-Request-Id": "from-client", **EDIT})
    first, second = running.backend.requests
    host = running.address[0]  # without the port the client's Host has
    assert first.header("x-client") == "127.0.0.1"
    assert first.header("x-id") == f"id={first.header('x-request-id')}", "the id the server gets too"
    assert second.header("x-id") == "id=from-client"
    assert first.header("x-was") == f"http://{host}/one?x=1"
    assert second.header("x-was") == f"http://{host}/two"
    assert first.header("x-path") == "/one!"
    assert first.header("x-query") == "[x=1]" and second.header("x-query") == "[]"
    assert first.header("x-price") == "$5 and $5"


def test_setting_host_replaces_the_one_host(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, request_headers={"set": {"Host": "internal.example", "X-Orig": "$host"}})
    with running.client() as client:
        client.get("/x", headers={"Host": "WWW.example.com:8080", **EDIT})
    [request] = running.backend.requests
    assert request.header_values("host") == ["internal.example"]
    assert request.header("x-orig") == "www.example.com"


def test_laneway_headers_still_come_after_the_edits(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, request_headers={"add": {"X-Extra": "1"}})
    with running.client() as client:
        client.post("/x", content=b"a" * 5000, headers=EDIT)
    [request] = running.backend.requests
    assert request.body_size == 5000 and request.header("content-length") == "5000"
    assert request.header("x-forwarded-for") == "127.0.0.1" and request.header("x-extra") == "1"


def test_response_headers_remove_then_set_then_add(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, listener=ID_HEADER, response_headers={
        "remove": ["X-Powered-By"], "set": {"Server": "laneway"},
        "add": {"X-Served-By": "$server", "X-Request": "$request_id $request_uri", "Set-Cookie": "c=3"}})
    query = "h=Server:nginx&h=X-Powered-By:php&h=Set-Cookie:a=1&h=Set-Cookie:b=2&h=X-Kept:yes"
    with running.client() as client:
        edited = client.get(f"/response-headers?{query}", headers=EDIT)
        untouched = client.get(f"/response-headers?{query}")
    backend = running.backend
    assert edited.status_code == 200 and edited.text == "ok"
    assert "x-powered-by" not in edited.headers
    assert edited.headers.get_list("server") == ["laneway"]
    assert edited.headers["x-served-by"] == f"{backend.address[0]}:{backend.address[1]}"
    assert edited.headers.get_list("set-cookie") == ["a=1", "b=2", "c=3"], "add appends to the server's"
    assert edited.headers["x-kept"] == "yes"
    request_id = backend.requests[0].header("x-request-id")
    assert edited.headers["x-request"] == f"{request_id} /response-headers?{query}"
    assert untouched.headers["x-powered-by"] == "php" and untouched.headers["server"] == "nginx"
    assert "x-served-by" not in untouched.headers


def test_each_pipelined_response_gets_its_own_request_values(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, response_headers={"set": {"X-Uri": "$request_uri"}})
    with RawConnection(running.address) as connection:
        connection.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\nX-Edit: 1\r\n\r\n" % n for n in range(3)))
        answers = [connection.read_response() for _ in range(3)]
    assert [answer.header("x-uri") for answer in answers] == ["/0", "/1", "/2"]


def test_framing_is_laneways_whatever_the_edits(balancer: Callable[..., Balancer]) -> None:
    running = rewriting(balancer, response_headers={"add": {"X-A": "1"}, "remove": ["X-B"]})
    with running.client() as client:
        chunked = client.get("/bytes?n=100000&chunked=1", headers=EDIT)
        sized = client.get("/bytes?n=3000", headers=EDIT)
    assert chunked.headers["transfer-encoding"] == "chunked" and len(chunked.content) == 100000
    assert sized.headers["content-length"] == "3000" and len(sized.content) == 3000
    assert chunked.headers["x-a"] == sized.headers["x-a"] == "1"


def test_the_access_log_and_hash_keys_see_what_the_client_sent(balancer: Callable[..., Balancer],
                                                                tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    running = balancer(2, access_log={"path": str(log), "format": "combined"},
                       pool={"algorithm": "hash", "hash_key": {"header": "X-User"}},
                       routes=[{"pool": "p", "request_headers": {"remove": ["User-Agent", "X-User"]},
                                "rewrite": {"strip_prefix": "/api"}}])
    with running.client() as client:
        for _ in range(4):
            client.get("/api/x", headers={"User-Agent": "tester/1.0", "X-User": "alice"})
    served = [backend for backend in running.backends if backend.requests]
    assert len(served) == 1, "one X-User value, one server: the hash read the client's header"
    assert all(r.header("user-agent") is None and r.target == "/x" for r in served[0].requests)
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 4, message="4 log lines")
    for line in log.read_text().splitlines():
        assert '"GET /api/x HTTP/1.1"' in line and '"tester/1.0"' in line, line
