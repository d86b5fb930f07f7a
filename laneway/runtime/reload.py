"""Reloading the config file laneway was started with: on SIGHUP and through the admin API.

Both run the same steps: read and validate the file; if it has problems, change nothing
and report them; otherwise ``Runtime.reload`` it. One reload at a time: a SIGHUP that
arrives while the API reloads waits for it, so two reloads never interleave their
switch-overs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from laneway.config import Config, ConfigError, read_config_file
from laneway.runtime.server import Runtime
from laneway.runtime.supervisor import worker_count

log = logging.getLogger("laneway")


@dataclass
class ReloadOutcome:
    """What a reload did: ``problems`` is empty when the new config runs; otherwise nothing
    changed. ``invalid``: the file itself is wrong (as opposed to e.g. a port in use)."""

    source: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid: bool = False

    @property
    def reloaded(self) -> bool:
        return not self.problems


class ConfigReloader:
    """``await reload(by)`` reads ``source`` again and runs it on ``runtime``."""

    def __init__(self, runtime: Runtime, source: str,
                 apply: Callable[[Config, str], Awaitable[list[str]]] | None = None) -> None:
        self.runtime = runtime
        self.source = source
        # How a valid config is run: ``Runtime.reload``; with workers, the supervisor's
        # reload, which also sends the file's text on to every worker and returns what
        # went wrong there (as warnings: by then the config runs).
        self.apply = apply
        self._lock = asyncio.Lock()

    async def reload(self, by: str) -> ReloadOutcome:
        async with self._lock:
            return await self._reload(by)

    async def _reload(self, by: str) -> ReloadOutcome:
        source = self.source
        log.info("reloading %s (%s)", source, by)
        outcome = ReloadOutcome(source)
        try:
            config, text = read_config_file(source)
        except ConfigError as error:
            outcome.problems, outcome.invalid = list(error.problems), True
            for problem in error.problems:
                log.error("%s", problem)
            log.error("reload of %s rejected; still running the previous config", source)
            return outcome
        if config.admin != self.runtime.config.admin:
            # The admin listener (its address, its token) is set up once, at start.
            warning = (f"reload of {source}: the admin block changed; it takes effect when laneway is "
                       "restarted, the admin listener keeps its settings until then")
            outcome.warnings.append(warning)
            log.warning("%s", warning)
        if worker_count(config) != worker_count(self.runtime.config):
            # The processes are started once; a reload changes what they run, not how many.
            warning = (f"reload of {source}: workers changed; the number of worker processes changes "
                       "when laneway is restarted, the new config runs on the processes there are")
            outcome.warnings.append(warning)
            log.warning("%s", warning)
        try:
            if self.apply is not None:
                outcome.warnings.extend(await self.apply(config, text))
            else:
                await self.runtime.reload(config)
        except (OSError, ValueError) as error:
            outcome.problems.append(f"{source}: {error}")
            log.error("reload of %s failed (%s); still running the previous config", source, error)
        return outcome
