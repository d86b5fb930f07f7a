"""Matching requests to routes, and the split between pools a route may make."""

from laneway.routing.answer import Answer
from laneway.routing.geoip import GeoIP
from laneway.routing.request import Facts, Request, parse_client_address
from laneway.routing.router import Router, normal_host
from laneway.routing.rule import RouteRule, ValueMatch
from laneway.routing.split import Split, StickyCookie

__all__ = ["Answer", "Facts", "GeoIP", "Request", "RouteRule", "Router", "Split", "StickyCookie",
           "ValueMatch", "normal_host", "parse_client_address"]
