"""Building a running balancer from a config: listeners, pools, shutdown (work in progress)."""

from __future__ import annotations

from laneway.config import Config


class Runtime:
    """Everything one laneway instance runs, built from a ``Config``.

    ``await start()`` binds every listener (port 0 binds a free port; read the real address
    from ``listener_addresses``); ``await shutdown(grace)`` stops accepting, lets in-flight
    requests finish for up to ``grace`` seconds, then closes the rest.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.listener_addresses: dict[str, tuple[str, int]] = {}

    async def start(self) -> None:
        raise NotImplementedError

    async def shutdown(self, grace: float | None = None) -> None:
        raise NotImplementedError
