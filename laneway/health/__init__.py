"""Health: active checks (HTTP, TCP) that mark a pool's servers up or down.

They change a server's state through ``Pool.set_up`` and nothing else (DESIGN.md).
"""

from laneway.health.checker import CheckRecord, HealthChecker
from laneway.health.probes import HttpProbe, Probe, ProbeResult, TcpProbe
from laneway.health.thresholds import Thresholds, Transition

__all__ = [
    "CheckRecord",
    "HealthChecker",
    "HttpProbe",
    "Probe",
    "ProbeResult",
    "TcpProbe",
    "Thresholds",
    "Transition",
]
