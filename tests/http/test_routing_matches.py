"""Every kind of match through a running laneway: wildcard hosts, exact and regex paths,
methods, query parameters, client address ranges, and the listener's default pool."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.balancer import Balancer
from tests.support.raw import RawConnection

POOLS = ["p", "a", "b", "c"]


def start(balancer: Callable[..., Balancer], routes: list[dict[str, object]], **listener: object) -> Balancer:
    return balancer(len(POOLS), pools_of_backends={name: [index] for index, name in enumerate(POOLS)},
                    routes=routes, listener=listener)


def pool_of(running: Balancer, path: str = "/", *, method: str = "GET", host: str = "www.example",
            headers: dict[str, str] | None = None) -> str | int:
    """The pool that answered, or the status when laneway answered itself."""
    with running.client() as client:
        response = client.request(method, path, headers={"Host": host, **(headers or {})})
    if "x-backend" not in response.headers:
        return response.status_code
    return POOLS[int(response.headers["x-backend"].removeprefix("backend"))]


def test_wildcard_host_exact_path_regex_method_and_query(balancer: Callable[..., Balancer]) -> None:
    running = start(balancer, [
        {"match": {"host": "*.shop.example"}, "pool": "a"},
        {"match": {"path": "/login", "method": "POST"}, "pool": "b"},
        {"match": {"path_regex": r"^/v[0-9]+/", "query": {"beta": "1"}}, "pool": "c"},
        {"match": {"path_prefix": "/"}, "pool": "p"},
    ])
    assert pool_of(running, host="de.shop.example") == "a"
    assert pool_of(running, host="shop.example") == "p"
    assert pool_of(running, "/login", method="POST") == "b"
    assert pool_of(running, "/login") == "p"
    assert pool_of(running, "/v2/items?beta=1") == "c"
    assert pool_of(running, "/v2/items?beta=0") == "p"


def test_client_address_ranges_see_the_real_peer(balancer: Callable[..., Balancer]) -> None:
    running = start(balancer, [
        {"match": {"client_address": ["10.0.0.0/8", "2001:db8::/32"]}, "pool": "a"},
        {"match": {"client_address": "127.0.0.0/8", "path_prefix": "/internal/"}, "pool": "b"},
        {"match": {"path_prefix": "/"}, "pool": "p"},
    ])
    assert pool_of(running, "/internal/stats") == "b", "the test client is 127.0.0.1"
    assert pool_of(running, "/") == "p"
    # A forged X-Forwarded-For changes nothing: ranges are matched on the socket's peer.
    assert pool_of(running, "/", headers={"X-Forwarded-For": "10.1.1.1"}) == "p"


def test_unmatched_requests_get_the_default_pool_or_a_404(balancer: Callable[..., Balancer]) -> None:
    with_default = start(balancer, [{"match": {"path_prefix": "/api/"}, "pool": "a"}], default_pool="c")
    assert pool_of(with_default, "/api/x") == "a"
    assert pool_of(with_default, "/elsewhere") == "c"
    without = start(balancer, [{"match": {"path_prefix": "/api/"}, "pool": "a"}])
    assert pool_of(without, "/elsewhere") == 404


def test_matching_on_headers_in_a_pipelined_burst_reads_each_requests_own(
        balancer: Callable[..., Balancer]) -> None:
    """Each request of a pipelined burst is matched on its own headers, not the one before's."""
    running = start(balancer, [{"match": {"headers": {"X-Pool": "a"}}, "pool": "a"},
                               {"match": {"cookies": {"pool": "b"}}, "pool": "b"},
                               {"pool": "p"}])
    burst = (b"GET /1 HTTP/1.1\r\nHost: h\r\nX-Pool: a\r\n\r\n"
             b"GET /2 HTTP/1.1\r\nHost: h\r\nCookie: pool=b\r\n\r\n"
             b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
    with RawConnection(running.address) as connection:
        connection.send(burst)
        answered = [connection.read_response().header("x-backend") for _ in range(3)]
    assert answered == ["backend1", "backend2", "backend0"]
