"""Servers, pools and keep-alive connections to servers."""

from laneway.upstream.connections import ConnectionPool
from laneway.upstream.pool import Pool
from laneway.upstream.server import Server

__all__ = ["ConnectionPool", "Pool", "Server"]
