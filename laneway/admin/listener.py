"""The admin listener: uvicorn serving the admin API on laneway's own event loop.

uvicorn runs as a task beside the proxy, on a socket laneway binds itself (so a port in
use is an ``OSError`` at start, and port 0 gives a free port to read back). laneway owns
the process's signals and logging: uvicorn's signal capture is turned off, its lifespan
too, and its log records go to laneway's handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Generator, Mapping

import uvicorn

from laneway.admin.app import create_app
from laneway.admin.auth import resolve_token
from laneway.config.schema import Admin as AdminConfig
from laneway.runtime.reload import ConfigReloader
from laneway.runtime.server import Runtime
from laneway.runtime.supervisor import Supervisor

log = logging.getLogger("laneway.admin")

# uvicorn gives admin connections this long to finish when laneway stops.
SHUTDOWN_GRACE = 2


class EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: SIGTERM and SIGINT are laneway's,
    which stops the admin listener itself after the proxy has drained."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.up.set()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    sock.setblocking(False)
    return sock


class AdminServer:
    """``await start()`` serves the admin API for ``runtime`` on ``config.bind``; read the
    real address from ``address``; ``await stop()`` ends it."""

    def __init__(self, runtime: Runtime, config: AdminConfig, *,
                 environ: Mapping[str, str] | None = None, reloader: ConfigReloader | None = None,
                 supervisor: Supervisor | None = None) -> None:
        self.runtime = runtime
        self.config = config
        # Read now: a token_env that is not set is a start-up error, not a silent open door.
        self.token = resolve_token(config, os.environ if environ is None else environ)
        # reloader: how POST /api/reload re-reads the file laneway was started with.
        self.app = create_app(runtime, token=self.token, read_requires_token=config.read_requires_token,
                              reloader=reloader, supervisor=supervisor)
        self.address: tuple[str, int] | None = None
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self.address is not None, "the admin listener is not started"
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        host, port = self.config.host_port
        sock = bind(host, port)
        self.address = sock.getsockname()[:2]
        # h11, not httptools: h11 caps a request head (h11_max_incomplete_event_size, 16 KiB),
        # where uvicorn's httptools protocol keeps reading headers without a bound. The
        # admin listener's few requests do not need httptools' speed.
        config = uvicorn.Config(self.app, http="h11", ws="none", lifespan="off", log_config=None,
                                access_log=False, server_header=False, proxy_headers=False,
                                timeout_graceful_shutdown=SHUTDOWN_GRACE)
        server = EmbeddedServer(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="admin listener")
        up = asyncio.ensure_future(server.up.wait())
        await asyncio.wait([task, up], return_when=asyncio.FIRST_COMPLETED)
        if not server.up.is_set():
            up.cancel()
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the admin listener stopped while starting")
        self._server, self._task = server, task
        if self.token is None:
            protection = "no token: open to this machine only"
        elif self.config.read_requires_token:
            protection = "token required for changes and reads"
        else:
            protection = "token required for changes"
        log.info("admin listener on %s (%s)", self.url, protection)

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        await task
