#!/usr/bin/env python3
"""laneway configs with many routes, for measuring what routing costs.

The request the benchmarks send (``GET /``, Host 127.0.0.1) matches only the last route, so
every route before it is tried. Two kinds:

- ``prefix``: N-1 routes ``path_prefix: /serviceK/`` (a microservice per path), then
  ``path_prefix: /``. laneway looks such a run up in one table.
- ``header``: N-1 routes ``headers: {X-Route: rK}`` (a map on a header), then
  ``path_prefix: /``; laneway looks such a run up in one table too.
- ``mixed``: N-1 routes ``{path_prefix: /serviceK/, method: POST}``; laneway finds the routes
  whose prefix fits in a table and tries only those.
- ``regex``: N-1 routes ``path_regex: ^/serviceK/``; no table helps, so each is tried in
  turn. The worst case.

    bench/routes.py --routes 100 --kind prefix > laneway-100.yaml.tmpl   # a bench/peers.py template
    bench/routes.py --measure          # microseconds per routing decision, 1 and 100 routes, each kind

The template has the placeholders of bench/laneway.yaml.tmpl ({listen}, {b1}..{b3}).
Standard library only, like bench/peers.py; ``--measure`` imports laneway.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

KINDS = ("prefix", "header", "mixed", "regex")


def routes(count: int, kind: str, pool: str = "backends") -> list[dict[str, Any]]:
    """``count`` routes to ``pool``; only the last matches ``GET /``."""
    if count < 1:
        raise ValueError("--routes must be at least 1")
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}")
    if count == 1:
        return [{"pool": pool}]  # the catch-all: no matching at all (laneway's Router.catch_all)
    if kind == "prefix":
        before = [{"match": {"path_prefix": f"/service{index}/"}, "pool": pool} for index in range(1, count)]
    elif kind == "header":
        before = [{"match": {"headers": {"X-Route": f"r{index}"}}, "pool": pool} for index in range(1, count)]
    elif kind == "mixed":
        before = [{"match": {"path_prefix": f"/service{index}/", "method": "POST"}, "pool": pool}
                  for index in range(1, count)]
    else:
        before = [{"match": {"path_regex": f"^/service{index}/"}, "pool": pool} for index in range(1, count)]
    return [*before, {"match": {"path_prefix": "/"}, "pool": pool}]


def template(count: int, kind: str) -> str:
    """bench/laneway.yaml.tmpl with ``count`` routes (JSON flow style is valid YAML)."""
    lines = [f"# bench/routes.py --routes {count} --kind {kind}: only the last route matches GET /.",
             "listeners:",
             '  - name: web',
             '    bind: "{listen}"',
             "    routes:"]
    lines += [f"      - {json.dumps(route)}" for route in routes(count, kind)]
    lines += ["pools:",
              "  backends:",
              "    algorithm: round_robin",
              "    servers:",
              '      - {address: "{b1}"}',
              '      - {address: "{b2}"}',
              '      - {address: "{b3}"}',
              "    keepalive:",
              "      max_idle: 64"]
    return "\n".join(lines) + "\n"


def measure(counts: list[int], repeat: int = 7, number: int = 20_000) -> None:
    """Time ``Router.route`` alone for ``GET /`` with a few headers (the best of ``repeat``)."""
    import functools
    import timeit

    from laneway.config import parse_config
    from laneway.runtime.pools import build_pool
    from laneway.runtime.routes import build_router

    class Request:  # what the client connection hands the router (laneway.routing.Request)
        headers = [b"User-Agent: bench\r\n", b"Accept: */*\r\n"]
        upgrade = forwarded_for = content_length = transfer_encoding = None
        peer_address = country = None

    request = Request()
    for kind in KINDS:
        for count in counts:
            config = parse_config({"listeners": [{"name": "web", "bind": "127.0.0.1:0",
                                                  "routes": routes(count, kind, pool="p")}],
                                   "pools": {"p": {"servers": [{"address": "127.0.0.1:9"}]}}})
            router = build_router(config.listeners[0], {"p": build_pool("p", config.pools["p"])})
            decide = functools.partial(router.route, b"127.0.0.1:8080", b"/", b"GET", request)
            assert decide() is not None
            best = min(timeit.repeat(decide, number=number, repeat=repeat)) / number
            print(f"{kind:7} {count:5} routes: {best * 1e6:7.2f} us per routing decision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--kind", choices=KINDS, default="prefix")
    parser.add_argument("--measure", action="store_true",
                        help="time routing decisions with 1 and --routes routes of every kind")
    args = parser.parse_args()
    if args.measure:
        measure([1, args.routes])
    else:
        print(template(args.routes, args.kind), end="")


if __name__ == "__main__":
    main()
