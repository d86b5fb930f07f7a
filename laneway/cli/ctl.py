"""``laneway ctl``: drive a running laneway's admin API from a shell (docs/admin.md).

    laneway ctl servers                       every server and its live state
    laneway ctl workers                       the processes serving traffic (docs/workers.md)
    laneway ctl drain POOL ADDRESS            no new requests; those under way finish
    laneway ctl maintenance POOL ADDRESS      as drain, and no health checks
    laneway ctl ready POOL ADDRESS            takes traffic again
    laneway ctl weight POOL ADDRESS N         set its weight
    laneway ctl add POOL ADDRESS [--weight N] [--backup]
    laneway ctl remove POOL ADDRESS
    laneway ctl purge CACHE                   empty a cache store

The admin URL comes from ``--admin`` or ``LANEWAY_ADMIN_URL`` (default
http://127.0.0.1:9000), the token from ``--token`` or ``LANEWAY_ADMIN_TOKEN``. Plain
``urllib``: a handful of JSON calls needs no HTTP library.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from laneway.cli.exits import Exit

DEFAULT_ADMIN = "http://127.0.0.1:9000"
TIMEOUT = 10.0
COLUMNS = (("POOL", "pool"), ("SERVER", "address"), ("STATE", "state"), ("HEALTH", "health"),
           ("EJECTED", "ejected"), ("BREAKER", "breaker"), ("WEIGHT", "weight"), ("IN_FLIGHT", "in_flight"),
           ("REQUESTS", "requests_total"), ("FAILURES", "failures_total"))
WORKER_COLUMNS = (("SLOT", "slot"), ("PID", "pid"), ("ALIVE", "alive"), ("RESTARTS", "restarts"),
                  ("REQUESTS", "requests_total"), ("IN_FLIGHT", "in_flight"), ("MEMORY_MIB", "memory_mib"))


# No proxies from the environment: the admin listener is this machine's or the local
# network's, and a token must not be sent through a proxy by surprise.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CtlError(Exception):
    def __init__(self, message: str, exit_code: Exit) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "ctl", parents=[common], help="see and steer a running laneway through its admin API",
        description="Drive a running laneway's admin API (the config's admin block). Exits 0 when the "
                    "change was made, 1 when the admin API cannot be reached or failed, 2 when it "
                    "refused the request (unknown pool or server, bad value, missing token).")
    parser.add_argument("--admin", metavar="URL", default=os.environ.get("LANEWAY_ADMIN_URL", DEFAULT_ADMIN),
                        help=f"the admin listener (default: $LANEWAY_ADMIN_URL or {DEFAULT_ADMIN})")
    parser.add_argument("--token", default=None,
                        help="the admin token (default: $LANEWAY_ADMIN_TOKEN); needed for changes")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    servers = actions.add_parser("servers", help="list every server with its live state")
    servers.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    servers.set_defaults(command=run, action=list_servers)

    workers = actions.add_parser("workers", help="list the processes serving traffic, with their pids, "
                                                 "restarts, requests and memory")
    workers.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    workers.set_defaults(command=run, action=list_workers)

    for state, what in (("drain", "no new requests; those under way finish"),
                        ("maintenance", "as drain, and no health checks"),
                        ("ready", "take traffic again")):
        action = actions.add_parser(state, help=f"{what}")
        add_target(action)
        action.set_defaults(command=run, action=set_state, state=state)

    weight = actions.add_parser("weight", help="set a server's weight")
    add_target(weight)
    weight.add_argument("weight", type=int, metavar="N", help="the new weight, 1-10000")
    weight.set_defaults(command=run, action=set_weight)

    add = actions.add_parser("add", help="add a server to a pool")
    add_target(add)
    add.add_argument("--weight", type=int, default=1, metavar="N", help="its weight (default 1)")
    add.add_argument("--backup", action="store_true", help="a backup server")
    add.set_defaults(command=run, action=add_server)

    remove = actions.add_parser("remove", help="remove a server from a pool; requests under way finish")
    add_target(remove)
    remove.set_defaults(command=run, action=remove_server)

    purge = actions.add_parser("purge", help="empty a cache store: what it held is asked of the servers "
                                              "again")
    purge.add_argument("cache", metavar="CACHE", help="the store's name, as under caches in the config")
    purge.set_defaults(command=run, action=purge_cache)

    reload = actions.add_parser("reload", help="read the config file again and run it (as SIGHUP); "
                                               "a file with problems changes nothing and they are printed")
    reload.set_defaults(command=run, action=reload_config)


def add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pool", metavar="POOL", help="the pool's name")
    parser.add_argument("address", metavar="ADDRESS", help="the server's host:port, as in the config")


def run(args: argparse.Namespace) -> Exit:
    client = AdminClient(args.admin, args.token if args.token is not None
                         else os.environ.get("LANEWAY_ADMIN_TOKEN") or None)
    try:
        output: str = args.action(client, args)
    except CtlError as error:
        print(f"laneway ctl: {error}", file=sys.stderr)
        return error.exit_code
    print(output)
    return Exit.OK


class AdminClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with OPENER.open(request, timeout=TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise CtlError(f"{error.code}: {error_text(error)}",
                           Exit.USAGE if 400 <= error.code < 500 else Exit.FAILURE) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CtlError(f"cannot reach the admin API at {self.url}: {reason}; is laneway running with "
                           "an admin block, and is --admin right?", Exit.FAILURE) from None


def error_text(error: urllib.error.HTTPError) -> str:
    """The API's JSON error message, or the raw body when it is not one."""
    raw = error.read()
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip() or str(error.reason)
    if not isinstance(body, dict):
        return str(body)
    # A rejected reload lists the config's problems, one a line, as laneway check prints them.
    problems = body.get("problems") or []
    return "\n".join([str(body.get("error", body)), *(str(problem) for problem in problems)])


def server_path(args: argparse.Namespace) -> str:
    return (f"/api/pools/{urllib.parse.quote(args.pool, safe='')}"
            f"/servers/{urllib.parse.quote(args.address, safe=':[]')}")


def list_servers(client: AdminClient, args: argparse.Namespace) -> str:
    servers = client.call("GET", "/api/servers")
    if args.json:
        return json.dumps(servers, indent=2)
    return table(servers)


def list_workers(client: AdminClient, args: argparse.Namespace) -> str:
    workers = client.call("GET", "/api/workers")
    if args.json:
        return json.dumps(workers, indent=2)
    for worker in workers:
        memory = worker.get("memory_bytes")
        worker["memory_mib"] = "-" if memory is None else f"{memory / 2**20:.1f}"
        worker["pid"] = "-" if worker["pid"] is None else worker["pid"]
    return table(workers, WORKER_COLUMNS)


def table(rows_of: list[dict[str, Any]], columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    rows = [[title for title, _ in columns]]
    rows += [[cell(item[key]) for _, key in columns] for item in rows_of]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def summary(server: dict[str, Any]) -> str:
    return (f"pools.{server['pool']} server {server['address']}: {server['state']}, weight "
            f"{server['weight']}, {server['in_flight']} requests under way")


def set_state(client: AdminClient, args: argparse.Namespace) -> str:
    return summary(client.call("PUT", server_path(args) + "/state", {"state": args.state}))


def set_weight(client: AdminClient, args: argparse.Namespace) -> str:
    return summary(client.call("PUT", server_path(args) + "/weight", {"weight": args.weight}))


def add_server(client: AdminClient, args: argparse.Namespace) -> str:
    pool = urllib.parse.quote(args.pool, safe="")
    body = {"address": args.address, "weight": args.weight, "backup": args.backup}
    return "added " + summary(client.call("POST", f"/api/pools/{pool}/servers", body))


def remove_server(client: AdminClient, args: argparse.Namespace) -> str:
    return "removed " + summary(client.call("DELETE", server_path(args)))


def purge_cache(client: AdminClient, args: argparse.Namespace) -> str:
    store = client.call("DELETE", f"/api/caches/{urllib.parse.quote(args.cache, safe='')}/entries")
    return (f"caches.{store['name']}: emptied; {store['hits']} hits and {store['misses']} misses "
            "so far")


def reload_config(client: AdminClient, args: argparse.Namespace) -> str:
    done = client.call("POST", "/api/reload")
    return "\n".join([f"reloaded {done['source']}", *done["warnings"]])
