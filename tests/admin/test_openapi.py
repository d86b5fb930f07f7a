"""/openapi.json describes every route the admin app serves, and is served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.routing import APIRoute

from tests.admin.conftest import Admin


def test_every_route_is_in_openapi(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"read_requires_token": True})
    response = running.get("/openapi.json", token=None)
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "laneway admin API"
    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {(method, route.path) for router in running.server.app.state.routers for route in router.routes
              if isinstance(route, APIRoute) for method in route.methods}
    assert served, "the app has routes"
    assert served == described
    for must in [("GET", "/health/ready"), ("GET", "/api/servers"), ("POST", "/api/pools/{pool}/servers"),
                 ("PUT", "/api/pools/{pool}/servers/{address}/state"), ("GET", "/metrics")]:
        assert must in described, must
    assert "HTTPBearer" in document["components"]["securitySchemes"]


def test_no_pages_that_need_a_cdn(admin: Callable[..., Admin]) -> None:
    running = admin()
    assert running.get("/docs").status_code == 404
    assert running.get("/redoc").status_code == 404


def test_docs_describe_every_route(admin: Callable[..., Admin]) -> None:
    running = admin()
    docs = (Path(__file__).resolve().parents[2] / "docs" / "admin.md").read_text(encoding="utf-8")
    for router in running.server.app.state.routers:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                assert f"{method} {route.path}" in docs, f"docs/admin.md lacks {method} {route.path}"
