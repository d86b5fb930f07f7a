"""Matching requests to routes."""

from laneway.routing.router import Router, RouteRule

__all__ = ["RouteRule", "Router"]
