"""The admin API's routes (docs/admin.md).

- ``/health/live``, ``/health/ready``: for probes, never behind the token.
- ``/api/...``: listeners, routes, pools and servers with their live state; changes to a
  server go through ``Pool``'s methods (and ``Runtime`` to add or remove one), the only
  places a server's state changes, and take effect at once.
- ``/metrics``: Prometheus text format.

Reads need the token only with ``read_requires_token``; every change needs it whenever a
token is configured.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from laneway import __version__
from laneway.admin.auth import guard, loopback_host, same_origin
from laneway.admin.body_limit import BodyLimit
from laneway.admin.dashboard import dashboard_routes, static_files
from laneway.admin.errors import AdminError, ErrorBody, install_error_handlers
from laneway.admin.metrics import metrics_registry, metrics_response
from laneway.admin.views import (
    CacheView,
    ListenerView,
    Liveness,
    OperatorState,
    PoolView,
    Readiness,
    RouteView,
    ServerView,
    WorkerView,
    cache_views,
    listener_views,
    pool_view,
    readiness,
    route_views,
    server_view,
    worker_views,
)
from laneway.config import Server as ServerConfig
from laneway.policies.cache import CacheStore
from laneway.runtime.reload import ConfigReloader
from laneway.runtime.server import Runtime
from laneway.runtime.supervisor import Supervisor
from laneway.upstream import Pool, Server


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, as in the config

    state: OperatorState = Field(description="ready: takes traffic; drain: requests under way finish, "
                                             "no new ones; maintenance: as drain, and no health checks")


class WeightChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: int = Field(ge=1, le=10_000, description="as a server's weight in the config")


async def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def fresh_counts(request: Request) -> None:
    """With workers, have them report their counters before a read (``refresh_stats``)."""
    supervisor: Supervisor | None = request.app.state.supervisor
    if supervisor is not None:
        await supervisor.refresh_stats()


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
PoolName = Annotated[str, Path(description="the pool's name, as in the config")]
Address = Annotated[str, Path(description="the server's host:port, as in the config")]
CacheName = Annotated[str, Path(description="the cache store's name, as under caches in the config")]

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in ((401, "the admin token is missing or wrong"),
                                (404, "no such pool or server"),
                                (422, "the request is not valid; field names what"))}


def find_pool(runtime: Runtime, name: str) -> Pool:
    pool = runtime.pools.get(name)
    if pool is None:
        raise AdminError(404, f"no pool is named {name!r}; pools: {', '.join(sorted(runtime.pools))}",
                         "pool")
    return pool


def find_cache(runtime: Runtime, name: str) -> CacheStore:
    store = runtime.caches.get(name)
    if store is None:
        stores = ", ".join(sorted(runtime.caches)) or "(none)"
        raise AdminError(404, f"no cache store is named {name!r}; stores: {stores}", "name")
    return store


def find_server(runtime: Runtime, pool_name: str, address: str) -> tuple[Pool, Server]:
    pool = find_pool(runtime, pool_name)
    server = pool.server(address)
    if server is None:
        known = ", ".join(server.key for server in pool.servers)
        raise AdminError(404, f"pool {pool_name!r} has no server {address}; its servers: {known}", "address")
    return pool, server


def health_routes() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", response_model=Liveness)
    async def live() -> Liveness:
        """200 while the process runs and its event loop answers."""
        return Liveness(live=True)

    @router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
    async def ready(runtime: RuntimeDep) -> JSONResponse:
        """200 when laneway may be sent traffic; 503 (with the reasons) while starting, while
        shutting down, or while a pool has no server that may take traffic."""
        state = readiness(runtime)
        return JSONResponse(state.model_dump(), status_code=200 if state.ready else 503)

    return router


def read_routes(token: str | None) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["state"], responses=ERRORS,
                       dependencies=[Depends(guard(token)), Depends(fresh_counts)])

    @router.get("/listeners", response_model=list[ListenerView])
    async def listeners(runtime: RuntimeDep) -> list[ListenerView]:
        """Every listener, where it listens, and its routes."""
        return listener_views(runtime)

    @router.get("/routes", response_model=list[RouteView])
    async def routes(runtime: RuntimeDep) -> list[RouteView]:
        """Every route of every listener, in the order they are tried."""
        return route_views(runtime)

    @router.get("/pools", response_model=list[PoolView])
    async def pools(runtime: RuntimeDep) -> list[PoolView]:
        """Every pool with its servers' live state."""
        return [pool_view(runtime, pool) for pool in runtime.pools.values()]

    @router.get("/pools/{pool}", response_model=PoolView)
    async def one_pool(runtime: RuntimeDep, pool: PoolName) -> PoolView:
        return pool_view(runtime, find_pool(runtime, pool))

    @router.get("/workers", response_model=list[WorkerView])
    async def workers(request: Request, runtime: RuntimeDep) -> list[WorkerView]:
        """The processes serving traffic (``workers``), each with its share of the requests."""
        supervisor: Supervisor | None = request.app.state.supervisor
        return worker_views(runtime, None if supervisor is None else supervisor.statuses())

    @router.get("/servers", response_model=list[ServerView])
    async def servers(runtime: RuntimeDep) -> list[ServerView]:
        """Every server of every pool, with its live state."""
        return [server_view(runtime, pool, server)
                for pool in runtime.pools.values() for server in pool.servers]

    @router.get("/pools/{pool}/servers/{address}", response_model=ServerView)
    async def one_server(runtime: RuntimeDep, pool: PoolName, address: Address) -> ServerView:
        found_pool, server = find_server(runtime, pool, address)
        return server_view(runtime, found_pool, server)

    @router.get("/caches", response_model=list[CacheView])
    async def caches(runtime: RuntimeDep) -> list[CacheView]:
        """Every cache store: its size and what it has answered."""
        return cache_views(runtime)

    return router


class ReloadDone(BaseModel):
    reloaded: bool = Field(description="always true: the new config runs")
    source: str = Field(description="the config file read again")
    warnings: list[str] = Field(description="what the reload could not change, e.g. the admin block")


class ReloadRejected(BaseModel):
    error: str
    field: str | None = None
    source: str = Field(description="the config file read again")
    problems: list[str] = Field(description="each problem: the file, the field path, what is wrong")


def reload_routes(token: str | None, reloader: ConfigReloader | None) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["changes"],
                       dependencies=[Depends(guard(token)), Depends(same_origin)])

    @router.post("/reload", response_model=ReloadDone, responses={
        401: {"model": ErrorBody, "description": "the admin token is missing or wrong"},
        403: {"model": ErrorBody, "description": "sent by a web page of another origin"},
        409: {"model": ReloadRejected,
              "description": "the config is valid but could not run now (e.g. a new listener's port "
                             "is in use); nothing changed"},
        422: {"model": ReloadRejected, "description": "the config file has problems; nothing changed"}})
    async def reload() -> JSONResponse:
        """Read the config file laneway was started with again and run it, as SIGHUP does: a
        file with problems changes nothing, and the problems are answered."""
        if reloader is None:
            raise AdminError(409, "this laneway was not started from a config file; nothing to reload")
        outcome = await reloader.reload("admin API")
        if outcome.reloaded:
            done = ReloadDone(reloaded=True, source=outcome.source, warnings=outcome.warnings)
            return JSONResponse(done.model_dump())
        count = len(outcome.problems)
        rejected = ReloadRejected(
            error=f"{outcome.source}: {count} problem{'' if count == 1 else 's'}; nothing was changed, "
                  "the previous config still runs",
            field="config", source=outcome.source, problems=outcome.problems)
        return JSONResponse(rejected.model_dump(), status_code=422 if outcome.invalid else 409)

    return router


def change_routes(token: str | None) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["changes"], dependencies=[Depends(guard(token))],
                       responses={**ERRORS, 409: {"model": ErrorBody, "description": "not possible now"}})

    @router.put("/pools/{pool}/servers/{address}/state", response_model=ServerView)
    async def set_state(runtime: RuntimeDep, pool: PoolName, address: Address,
                        change: StateChange) -> ServerView:
        """Drain a server, put it in maintenance, or make it ready again."""
        found_pool, server = find_server(runtime, pool, address)
        found_pool.set_state(server, change.state)
        return server_view(runtime, found_pool, server)

    @router.put("/pools/{pool}/servers/{address}/weight", response_model=ServerView)
    async def set_weight(runtime: RuntimeDep, pool: PoolName, address: Address,
                         change: WeightChange) -> ServerView:
        """Set a server's weight; the pool's algorithm uses it from the next request on."""
        found_pool, server = find_server(runtime, pool, address)
        found_pool.set_weight(server, change.weight)
        return server_view(runtime, found_pool, server)

    @router.post("/pools/{pool}/servers", response_model=ServerView, status_code=201)
    async def add_server(runtime: RuntimeDep, pool: PoolName, server: ServerConfig) -> ServerView:
        """Add a server (the body is a server as in the config's servers list)."""
        found_pool = find_pool(runtime, pool)
        if found_pool.server(server.address) is not None:
            raise AdminError(409, f"pool {pool!r} already has server {server.address}", "address")
        added = runtime.add_server(pool, server)
        return server_view(runtime, found_pool, added)

    @router.delete("/pools/{pool}/servers/{address}", response_model=ServerView)
    async def remove_server(runtime: RuntimeDep, pool: PoolName, address: Address) -> ServerView:
        """Remove a server: it gets no new requests; those under way finish."""
        found_pool, server = find_server(runtime, pool, address)
        if not server.backup and sum(not s.backup for s in found_pool.servers) == 1:
            raise AdminError(409, f"{address} is the last server of pool {pool!r} that is not a backup; "
                                  "add another first, or drain it instead", "address")
        view = server_view(runtime, found_pool, server)
        runtime.remove_server(pool, server)
        return view

    @router.delete("/caches/{name}/entries", response_model=CacheView)
    async def purge_cache(request: Request, runtime: RuntimeDep, name: CacheName) -> CacheView:
        """Drop every entry of a cache store (responses on their way in are still stored);
        with workers, every worker's."""
        store = find_cache(runtime, name)
        supervisor: Supervisor | None = request.app.state.supervisor
        if supervisor is None:
            store.clear()
        else:
            await supervisor.purge_cache(name)
        [view] = [view for view in cache_views(runtime) if view.name == name]
        return view

    return router


def metrics_routes(token: str | None, registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(tags=["metrics"], dependencies=[Depends(guard(token)), Depends(fresh_counts)])

    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics() -> Response:
        """Counters and gauges of every pool and server, in Prometheus text format."""
        return metrics_response(registry)

    return router


def create_app(runtime: Runtime, *, token: str | None, read_requires_token: bool = False,
               reloader: ConfigReloader | None = None, supervisor: Supervisor | None = None) -> FastAPI:
    """The admin API for ``runtime``. ``token``: required for changes (and reads when
    ``read_requires_token``); None lets everything through (loopback only, see the config).
    ``reloader``: what ``POST /api/reload`` runs (None: laneway was not started from a file).
    ``supervisor``: the worker processes' supervisor, when they serve the traffic (``workers``
    > 1): the API shows them, and asks them for their counters before each read."""
    # No /docs or /redoc: their pages load scripts from a CDN; /openapi.json is served.
    # strict_content_type: JSON bodies only with Content-Type: application/json, so that a
    # web page cannot send one cross-origin without a CORS preflight (which is never approved).
    app = FastAPI(title="laneway admin API", version=__version__, docs_url=None, redoc_url=None,
                  description="See and steer a running laneway: docs/admin.md.", strict_content_type=True,
                  dependencies=[Depends(loopback_host)] if token is None else [])
    app.state.runtime = runtime
    app.state.supervisor = supervisor
    app.add_middleware(BodyLimit)
    install_error_handlers(app)
    read_token = token if read_requires_token else None
    routers = [health_routes(), read_routes(read_token), change_routes(token), reload_routes(token, reloader),
               metrics_routes(read_token, metrics_registry(runtime, supervisor))]
    routers.append(dashboard_routes())
    for router in routers:
        app.include_router(router)
    app.mount("/static", static_files(), name="static")
    app.state.routers = routers  # what the app serves, for the test that checks /openapi.json
    return app
