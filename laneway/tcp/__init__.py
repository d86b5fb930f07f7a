"""The layer 4 proxy: byte pipes, PROXY protocol, TLS passthrough by SNI (docs/tcp.md)."""

from laneway.tcp.listener import TcpListener
from laneway.tcp.routes import SniRoute, TcpRoutes

__all__ = ["SniRoute", "TcpListener", "TcpRoutes"]
