"""What the server sees of a request, and the client of a response: headers kept, set, dropped.

As the chapter's NGINX config does: Host is kept, X-Forwarded-For gets the client's address
appended, X-Real-IP and X-Forwarded-Proto are set. Hop-by-hop headers (RFC 9110 7.6.1:
Connection and the headers it names, Keep-Alive, TE, Trailer, Proxy-*, Upgrade when not
upgrading) describe one connection and are not forwarded in either direction.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection
from tests.support.records import RequestRecord

CLIENT_IP = "127.0.0.1"


def send(running: Balancer, *lines: str, body: bytes = b"") -> RequestRecord:
    """Send one request over a raw connection; return what the server received."""
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with RawConnection(running.address) as connection:
        connection.send(data)
        response = connection.read_response()
    assert response.status == 200, response
    requests = running.backend.requests
    assert len(requests) == 1, requests
    return requests[0]


def forwarded_for(request: RequestRecord) -> list[str]:
    return [item.strip() for value in request.header_values("x-forwarded-for") for item in value.split(",")]


def test_host_is_kept_as_the_client_sent_it(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET /where HTTP/1.1", "Host: app.example.com:8443")
    assert forwarded.header_values("host") == ["app.example.com:8443"]


def test_method_target_and_body_are_kept(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    target = "/a/b%20c;p?q=1&q=2&e=%2F#"[:-1]
    forwarded = send(running, f"PUT {target} HTTP/1.1", "Host: a", "Content-Length: 5", body=b"hello")
    assert (forwarded.method, forwarded.target, bytes(forwarded.body)) == ("PUT", target, b"hello")


def test_end_to_end_headers_are_kept_with_their_order_and_repeats(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET / HTTP/1.1", "Host: a", "X-First: 1", "Accept: text/plain",
                     "X-Repeat: one", "X-Repeat: two", "Cookie: a=1")
    assert forwarded.header_values("x-repeat") == ["one", "two"]
    names = [name.lower() for name, _ in forwarded.headers]
    assert names.index("x-first") < names.index("accept") < names.index("x-repeat")
    assert forwarded.header("cookie") == "a=1"


def test_forwarded_for_is_set_to_the_client_address(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET / HTTP/1.1", "Host: a")
    assert forwarded_for(forwarded) == [CLIENT_IP]


def test_forwarded_for_gets_the_client_address_appended(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET / HTTP/1.1", "Host: a", "X-Forwarded-For: 203.0.113.7")
    assert forwarded.header_values("x-forwarded-for") == [f"203.0.113.7, {CLIENT_IP}"]


def test_forwarded_for_from_several_lines_is_kept_in_order(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET / HTTP/1.1", "Host: a", "X-Forwarded-For: 198.51.100.1, 198.51.100.2",
                     "X-Forwarded-For: 203.0.113.7")
    assert forwarded_for(forwarded) == ["198.51.100.1", "198.51.100.2", "203.0.113.7", CLIENT_IP]


def test_real_ip_and_proto_replace_what_the_client_claimed(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(running, "GET / HTTP/1.1", "Host: a", "X-Real-IP: 6.6.6.6", "X-Forwarded-Proto: https")
    assert forwarded.header_values("x-real-ip") == [CLIENT_IP]
    assert forwarded.header_values("x-forwarded-proto") == ["http"]


def test_real_ip_and_proto_are_set_through_httpx(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    echoed = running.get("/headers").json()
    headers = {name.lower(): value for name, value in echoed["headers"]}
    assert headers["x-real-ip"] == CLIENT_IP
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == CLIENT_IP


def test_hop_by_hop_request_headers_are_not_forwarded(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    forwarded = send(
        running, "GET / HTTP/1.1", "Host: a",
        "Connection: keep-alive, X-Private-Hop, x-other-hop",
        "X-Private-Hop: secret", "X-Other-Hop: secret too",
        "Keep-Alive: timeout=5, max=100",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Proxy-Authorization: Basic dXNlcjpwYXNz",
        "Proxy-Connection: keep-alive",
        "Upgrade: h2c",  # not an upgrade: Connection does not name it
        "X-End-To-End: kept",
    )
    received = {name.lower() for name, _ in forwarded.headers}
    for hop in ("x-private-hop", "x-other-hop", "keep-alive", "te", "trailer", "proxy-authorization",
                "proxy-connection", "upgrade"):
        assert hop not in received, f"{hop} was forwarded: {forwarded.headers}"
    for value in forwarded.header_values("connection"):
        assert "hop" not in value.lower(), value
    assert forwarded.header("x-end-to-end") == "kept"


def test_connection_close_from_the_client_is_not_forwarded_as_is(balancer: Callable[..., Balancer]) -> None:
    """The client's Connection: close ends the client's connection, not the pooled one."""
    running = balancer()
    with running.client() as client:
        first = client.get("/", headers={"Connection": "close"})
    assert first.headers.get("connection") == "close"
    running.get("/")
    assert len(running.backend.connections) == 1, "the server connection was not reused"


def test_hop_by_hop_response_headers_are_not_forwarded(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    hop_headers = ["Connection:X-Secret-Hop", "X-Secret-Hop:1", "Keep-Alive:timeout=5",
                   "Proxy-Authenticate:Basic", "Trailer:X-Sum", "Upgrade:h2c", "Proxy-Connection:keep-alive"]
    query = "&".join(f"h={header}" for header in [*hop_headers, "X-End-To-End:kept"])
    with RawConnection(running.address) as connection:
        connection.send(f"GET /response-headers?{query} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        response = connection.read_response()
    assert response.status == 200 and response.body == b"ok"
    received = {name.lower() for name, _ in response.headers}
    for hop in ("x-secret-hop", "keep-alive", "proxy-authenticate", "trailer", "upgrade", "proxy-connection"):
        assert hop not in received, f"{hop} reached the client: {response.raw_head!r}"
    assert "x-secret-hop" not in response.connection_tokens
    assert response.header("x-end-to-end") == "kept"


def test_repeated_response_headers_stay_separate(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        target = b"/response-headers?h=Set-Cookie:a%3D1&h=Set-Cookie:b%3D2"
        connection.send(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % target)
        response = connection.read_response()
    assert response.header_values("set-cookie") == ["a=1", "b=2"]


def test_http10_request_is_forwarded_with_a_host(balancer: Callable[..., Balancer]) -> None:
    running = balancer()
    with RawConnection(running.address) as connection:
        connection.send(b"GET /old HTTP/1.0\r\nHost: legacy.example\r\n\r\n")
        response = connection.read_response()
        assert response.status == 200 and response.body == b"ok"
        assert response.version in ("HTTP/1.0", "HTTP/1.1")
        connection.wait_closed()  # HTTP/1.0 without keep-alive: closed after the response
    forwarded = running.backend.requests[0]
    assert forwarded.header("host") == "legacy.example"
    assert forwarded_for(forwarded) == [CLIENT_IP]
