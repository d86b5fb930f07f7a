"""The load-balancing chapter's routing examples, each through a running laneway to real
backends: /api/* to the API pool, /static/* elsewhere, admin.example.com to admin servers,
X-Mobile-App to mobile servers, a beta_tester=true cookie to beta servers, and the
CloudFront-Viewer-Country header to regional pools; everything else to the default pool."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.balancer import Balancer

# Backend i serves pool POOLS[i]; the default pool p is backend 0.
POOLS = ["p", "api", "static", "admin", "mobile", "beta", "us", "eu"]
CHAPTER_ROUTES = [
    {"match": {"path_prefix": "/api/"}, "pool": "api"},
    {"match": {"path_prefix": "/static/"}, "pool": "static"},
    {"match": {"host": "admin.example.com"}, "pool": "admin"},
    {"match": {"headers": {"X-Mobile-App": True}}, "pool": "mobile"},
    {"match": {"cookies": {"beta_tester": "true"}}, "pool": "beta"},
    {"match": {"headers": {"CloudFront-Viewer-Country": "US"}}, "pool": "us"},
    {"match": {"headers": {"CloudFront-Viewer-Country": ["UK", "FR", "DE"]}}, "pool": "eu"},
]


@pytest.fixture
def chapter(balancer: Callable[..., Balancer]) -> Balancer:
    return balancer(len(POOLS), pools_of_backends={name: [index] for index, name in enumerate(POOLS)},
                    routes=CHAPTER_ROUTES, listener={"default_pool": "p"})


def pool_answering(running: Balancer, path: str = "/", host: str = "www.example.com",
                   headers: dict[str, str] | None = None) -> str:
    response = running.get(path, headers={"Host": host, **(headers or {})})
    assert response.status_code == 200, response.text
    return POOLS[int(response.headers["x-backend"].removeprefix("backend"))]


@pytest.mark.parametrize(("path", "host", "headers", "pool"), [
    ("/api/users/123", "www.example.com", {}, "api"),
    ("/static/app.css", "www.example.com", {}, "static"),
    ("/", "admin.example.com", {}, "admin"),
    ("/home", "www.example.com", {"X-Mobile-App": "ios/17.2"}, "mobile"),
    ("/home", "www.example.com", {"Cookie": "session=abc123; beta_tester=true"}, "beta"),
    ("/home", "www.example.com", {"Cookie": "beta_tester=false"}, "p"),
    ("/home", "www.example.com", {"CloudFront-Viewer-Country": "US"}, "us"),
    ("/home", "www.example.com", {"CloudFront-Viewer-Country": "FR"}, "eu"),
    ("/home", "www.example.com", {"CloudFront-Viewer-Country": "JP"}, "p"),
    ("/orders/123", "www.example.com", {}, "p"),
    # Routes are tried in order: an API call from the mobile app is still an API call.
    ("/api/x", "admin.example.com", {"X-Mobile-App": "1"}, "api"),
])
def test_each_chapter_example_reaches_its_pool(chapter: Balancer, path: str, host: str,
                                               headers: dict[str, str], pool: str) -> None:
    assert pool_answering(chapter, path, host, headers) == pool


def test_the_routed_request_reaches_its_server_whole(chapter: Balancer) -> None:
    """Matching reads headers and cookies; it takes nothing away from what is forwarded."""
    response = chapter.get("/home?x=1", headers={"Host": "www.example.com",
                                                  "Cookie": "session=abc; beta_tester=true",
                                                  "X-Mobile-App": "android"})
    assert response.headers["x-backend"] == "backend4"
    [received] = chapter.backends[4].requests
    assert received.target == "/home?x=1"
    assert received.header("cookie") == "session=abc; beta_tester=true"
    assert received.header("x-mobile-app") == "android"


def test_routes_apply_to_every_request_on_a_keep_alive_connection(chapter: Balancer) -> None:
    with chapter.client() as client:
        pools = [POOLS[int(client.get(path, headers=headers).headers["x-backend"][7:])]
                 for path, headers in (("/api/1", {}), ("/x", {"X-Mobile-App": "1"}), ("/x", {}),
                                       ("/x", {"Cookie": "beta_tester=true"}), ("/static/1", {}))]
    assert pools == ["api", "mobile", "p", "beta", "static"]
