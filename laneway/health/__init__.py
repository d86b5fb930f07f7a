"""Health: active checks (HTTP, TCP) that mark a pool's servers up or down, passive checks
that eject servers failing real traffic, and circuit breakers.

They change a server's state through ``Pool.set_up``, ``Pool.set_ejected`` and
``Pool.set_breaker`` and nothing else (DESIGN.md).
"""

from laneway.health.breaker import CircuitBreakers
from laneway.health.checker import CheckRecord, HealthChecker
from laneway.health.outliers import OutlierDetector
from laneway.health.probes import HttpProbe, Probe, ProbeResult, TcpProbe
from laneway.health.thresholds import Thresholds, Transition

__all__ = [
    "CheckRecord",
    "CircuitBreakers",
    "HealthChecker",
    "HttpProbe",
    "OutlierDetector",
    "Probe",
    "ProbeResult",
    "TcpProbe",
    "Thresholds",
    "Transition",
]
