#!/usr/bin/env python3
"""Side-by-side load balancer benchmark on loopback.

One nginx process (1 worker) serves N backends on 127.0.0.1; every candidate balancer sits in
front of the same backends (round robin, keep-alive to the backends where it supports it) and
wrk drives it. The balancer under test is pinned to one core (--lb-cpu), wrk and the backends
to the other (--load-cpu). Candidates run interleaved for several rounds; the median of each is
reported with its ratio to `nginx` and to `direct` (wrk straight to one backend).

    shared/bench/peers.py --out /tmp/peers.json
    shared/bench/peers.py --project-cmd 'laneway run -c {config}' \\
        --project-config shared/bench/laneway.yaml.tmpl --out /tmp/peers.json

Standard library only. Needs root (or the packages already installed) for apt-get.
In laneway, bench/run runs this with laneway as the candidate `laneway` (see bench/README.md).
"""

import argparse
import ctypes
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIOS = {  # name: (path, extra wrk args, description)
    "small": ("/", [], "GET /, 3-byte body, keep-alive"),
    "16k": ("/16k", [], "GET /16k, 16 KiB body, keep-alive"),
    "close": ("/", ["-H", "Connection: close"], "GET /, Connection: close (new connection per request)"),
    "16k-close": ("/16k", ["-H", "Connection: close"], "GET /16k, Connection: close"),
    "1m": ("/1m", [], "GET /1m, 1 MiB body, keep-alive"),
}
BUILTIN = ["direct", "nginx", "haproxy", "haproxy-tcp", "nginx-stream", "caddy"]
KIND = {"direct": "none", "nginx": "http", "haproxy": "http", "haproxy-tcp": "tcp",
        "nginx-stream": "tcp", "caddy": "http"}
PR_SET_PDEATHSIG = 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes and cleanup

class Procs:
    """Every process the benchmark starts, each in its own session (process group)."""

    def __init__(self):
        self.items = []  # (name, Popen)
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            self.libc = None

    def _child_setup(self):
        # If this script dies without cleaning up, the kernel sends the child SIGTERM.
        if self.libc is not None:
            self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def start(self, name, argv, logpath, env=None):
        with open(logpath, "ab") as out:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=env, preexec_fn=self._child_setup)
        self.items.append((name, p))
        return p

    def stop(self, p, grace=5.0):
        """SIGTERM the process group led by p (leader and anything it forked), then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if p.poll() is not None and not group_members(p.pid):
                    return
                time.sleep(0.05)
        p.poll()

    def stop_all(self):
        while self.items:
            _, p = self.items.pop()
            self.stop(p)


def group_members(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and int(st[2]) == pgid:
                pids.append(int(d))
    return pids


def proc_stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rfind(")") + 2:].split()  # [0]=state [2]=pgrp [11]=utime [12]=stime


def group_cpu_ticks(pgid):
    total = 0
    for pid in group_members(pgid):
        st = proc_stat(pid)
        if st:
            total += int(st[11]) + int(st[12])
    return total


def core_times():
    """{cpu index: (busy, total)} jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out[int(m.group(1))] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------- installation and versions

def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def ensure_packages(pkgs, allow):
    if not pkgs:
        return []
    if not allow:
        return pkgs
    log(f"installing {' '.join(pkgs)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    r = subprocess.run(["apt-get", "install", "-y", "-qq", *pkgs], env=env, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        log(f"apt-get install {' '.join(pkgs)} failed ({r.returncode})")
    return [p for p in pkgs if not shutil.which(p.replace("libnginx-mod-stream", "nginx"))]


def nginx_stream_module():
    """('' | 'load_module ...;' | None if unavailable, reason)."""
    v = sh(["nginx", "-V"]).stderr
    if "--with-stream=dynamic" in v:
        m = re.search(r"--modules-path=(\S+)", v)
        paths = [os.path.join(m.group(1), "ngx_stream_module.so")] if m else []
        paths += ["/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/share/nginx/modules/ngx_stream_module.so"]
        for p in paths:
            if os.path.exists(p):
                return f"load_module {p};", ""
        return None, "nginx has the stream module only as a dynamic module and it is not installed"
    if re.search(r"--with-stream(\s|$)", v):
        return "", ""
    return None, "this nginx build has no stream module"


def versions():
    out = {}
    for name, argv, stream in [("nginx", ["nginx", "-v"], "stderr"), ("haproxy", ["haproxy", "-v"], "stdout"),
                               ("wrk", ["wrk", "-v"], "stdout"), ("caddy", ["caddy", "version"], "stdout")]:
        if shutil.which(argv[0]):
            r = sh(argv)
            text = (getattr(r, stream) or r.stdout or r.stderr).strip().splitlines()
            out[name] = text[0] if text else "?"
    out["python"] = platform.python_version()
    out["kernel"] = platform.release()
    return out


# ---------------------------------------------------------------- configuration files

NGINX_TEMPS = "client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; " \
              "uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;"


def nginx_main(d, name, extra_top=""):
    return (f"{extra_top}\nworker_processes 1; daemon off; pid {d}/{name}.pid; error_log {d}/{name}.err warn;\n"
            f"events {{ worker_connections 16384; }}\n")


def backends_conf(d, ports):
    listens = " ".join(f"listen 127.0.0.1:{p};" for p in ports)
    return nginx_main(d, "backends") + f"""
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; {NGINX_TEMPS.format(d=d)}
  server {{
    {listens}
    add_header X-Backend $server_port;
    location = / {{ default_type text/plain; return 200 "ok\\n"; }}
    location = /16k {{ alias {d}/www/16k; default_type application/octet-stream; }}
    location = /1m {{ alias {d}/www/1m; default_type application/octet-stream; }}
  }}
}}
"""


def nginx_lb_conf(d, port, backends):
    servers = " ".join(f"server {b};" for b in backends)
    return nginx_main(d, "nginx-lb") + f"""
http {{
  access_log off; keepalive_requests 1000000; {NGINX_TEMPS.format(d=d)}
  upstream be {{ {servers} keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def nginx_stream_conf(d, port, backends, load_line):
    servers = " ".join(f"server {b};" for b in backends)
    return nginx_main(d, "nginx-stream", load_line) + f"""
stream {{
  upstream be {{ {servers} }}
  server {{ listen 127.0.0.1:{port}; proxy_pass be; }}
}}
"""


def haproxy_conf(port, backends, mode):
    servers = "\n".join(f"  server s{i + 1} {b}" for i, b in enumerate(backends))
    http = "  option forwardfor\n  http-reuse always\n" if mode == "http" else ""
    return f"""global
  nbthread 1
  maxconn 4096
defaults
  mode {mode}
  timeout connect 5s
  timeout client 30s
  timeout server 30s
{http}frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance roundrobin
{servers}
"""


def caddy_conf(port, backends):
    return f"""{{
  admin off
  auto_https off
}}
http://127.0.0.1:{port} {{
  bind 127.0.0.1
  reverse_proxy {' '.join(backends)} {{
    lb_policy round_robin
  }}
}}
"""


def fill(template, values):
    """Replace {name} for known names only, so JSON/YAML braces survive."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


# ---------------------------------------------------------------- readiness and checks

def http_get(port, path="/", timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheader("X-Backend"), body
    finally:
        c.close()


def wait_ready(port, proc, timeout):
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return f"exited with status {proc.returncode}"
        try:
            status, _, body = http_get(port)
            if status == 200 and body == b"ok\n":
                return ""
            last = f"HTTP {status} {body[:60]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    return f"not ready after {timeout:.0f}s ({last})"


def check_content(port):
    """Each body arrives whole through the candidate; returns a problem or ''."""
    for path, size in (("/16k", 16384), ("/1m", 1 << 20)):
        status, _, body = http_get(port, path, timeout=5)
        if status != 200 or len(body) != size:
            return f"{path}: HTTP {status}, {len(body)} bytes"
    return ""


def backends_seen(port, n):
    seen = set()
    for _ in range(2 * n):
        _, b, _ = http_get(port)
        seen.add(b)
    return len(seen - {None})


def tail(path, n=8):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return round(float(m.group(1)) * UNIT_MS[m.group(2)], 3) if m else None


def parse_wrk(out):
    r = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0, "non2xx": 0,
         "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        r["rps"] = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        r["p50_ms"] = to_ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        r["p99_ms"] = to_ms(m.group(1))
    if m := re.search(r"(\d+) requests in", out):
        r["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        r["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    r["errors"] = r["non2xx"] + sum(r["socket_errors"].values())
    return r


def run_wrk(procs, args, port, scenario, duration, lb_pgid, logpath):
    path, extra, _ = SCENARIOS[scenario]
    argv = ["taskset", "-c", str(args.load_cpu), "wrk", f"-t{args.threads}", f"-c{args.conns}",
            f"-d{duration}s", "--latency", *extra, f"http://127.0.0.1:{port}{path}"]
    tick = os.sysconf("SC_CLK_TCK")
    c0, g0, t0 = core_times(), (group_cpu_ticks(lb_pgid) if lb_pgid else 0), time.monotonic()
    with open(logpath, "w") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=procs._child_setup)
    procs.items.append(("wrk", p))
    try:
        p.wait(timeout=duration + 15)
    except subprocess.TimeoutExpired:
        pass
    finally:
        procs.stop(p, grace=1)
        procs.items.remove(("wrk", p))
    wall = time.monotonic() - t0
    c1, g1 = core_times(), (group_cpu_ticks(lb_pgid) if lb_pgid else 0)
    with open(logpath) as f:
        out = f.read()
    r = parse_wrk(out)
    r["lb_cpu_pct"] = round(100.0 * (g1 - g0) / tick / wall, 1) if lb_pgid else None
    for cpu, key in ((args.lb_cpu, "lb_core_busy_pct"), (args.load_cpu, "load_core_busy_pct")):
        if cpu in c0 and cpu in c1:
            busy, total = (c1[cpu][0] - c0[cpu][0]), (c1[cpu][1] - c0[cpu][1])
            r[key] = round(100.0 * busy / total, 1) if total else None
    if r["requests"] == 0:  # wrk counts no error when no response ever arrives
        r["failed"] = True
        r["wrk_output"] = out[-500:]
    return r


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    p.add_argument("--conns", type=int, default=50, help="wrk connections (50)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--backends", type=int, default=3, help="number of backends (3)")
    p.add_argument("--scenarios", default="small,16k,close", help=f"comma list of {', '.join(SCENARIOS)}")
    p.add_argument("--candidates", default="auto",
                   help=f"comma list of {', '.join(BUILTIN)} and project names; 'auto' = every built-in "
                        "that is available (caddy only if installed) plus the projects")
    p.add_argument("--skip", default="", help="comma list of candidates to leave out")
    p.add_argument("--project-cmd", default=os.environ.get("PROJECT_CMD"),
                   help="command of the candidate named by --project-name (env PROJECT_CMD)")
    p.add_argument("--project-config", default=os.environ.get("PROJECT_CONFIG"),
                   help="config template for it (env PROJECT_CONFIG)")
    p.add_argument("--project-name", default=os.environ.get("PROJECT_NAME", "project"))
    p.add_argument("--project", action="append", default=[], metavar="NAME=CMD",
                   help="one more command candidate (repeatable)")
    p.add_argument("--config-for", action="append", default=[], metavar="NAME=PATH",
                   help="config template for a --project candidate")
    p.add_argument("--lb-cpu", type=int, default=0, help="core for the balancer under test (0)")
    p.add_argument("--load-cpu", type=int, default=1, help="core for wrk and the backends (1)")
    p.add_argument("--cpus-for", action="append", default=[], metavar="NAME=CPULIST",
                   help="run candidate NAME on these cores instead of --lb-cpu (taskset list, e.g. "
                        "laneway-2w=0,1 for a balancer with two worker processes; wrk and the backends "
                        "stay on --load-cpu, so they share a core with it)")
    p.add_argument("--base-port", type=int, default=19200, help="first port used (19200)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of unrecorded load per candidate (1, 0 = none)")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between runs (1)")
    p.add_argument("--start-timeout", type=float, default=20.0, help="seconds a candidate may take to start")
    p.add_argument("--no-install", action="store_true", help="never call apt-get")
    p.add_argument("--keep-dir", action="store_true", help="keep the temporary directory (configs, logs)")
    p.add_argument("--out", help="write results as JSON to this path")
    return p.parse_args(argv)


EPILOG = """
Placeholders in --project-cmd and config templates: {config} (the filled config file), {port},
{listen} (127.0.0.1:PORT), {host}, {backends} (comma list of HOST:PORT), {backends_space},
{b1} ... {bN}, {dir} (the run's temporary directory). The candidate must answer GET / with the
backends' "ok\\n" once it is ready.
"""


def main(argv=None):
    args = parse_args(argv)
    if os.cpu_count() and max(args.lb_cpu, args.load_cpu) >= os.cpu_count():
        sys.exit(f"--lb-cpu/--load-cpu must be below {os.cpu_count()}")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")

    projects = {}  # name -> {"cmd":..., "config": path or None}
    if args.project_cmd:
        projects[args.project_name] = {"cmd": args.project_cmd, "config": args.project_config}
    for spec in args.project:
        name, _, cmd = spec.partition("=")
        projects[name] = {"cmd": cmd, "config": None}
    for spec in args.config_for:
        name, _, path = spec.partition("=")
        if name not in projects:
            sys.exit(f"--config-for {name}: no --project {name}=...")
        projects[name]["config"] = path
    args.candidate_cpus = {}  # candidate -> taskset core list, for those not alone on --lb-cpu
    for spec in args.cpus_for:
        name, _, cpus = spec.partition("=")
        if not re.fullmatch(r"\d+(,\d+)*", cpus):
            sys.exit(f"--cpus-for {spec}: expected NAME=CPULIST such as laneway-2w=0,1")
        args.candidate_cpus[name] = cpus

    skipped = {}  # name -> reason
    wanted = [c.strip() for c in args.candidates.split(",") if c.strip()]
    auto = wanted == ["auto"]
    if auto:
        wanted = [c for c in BUILTIN if c != "caddy" or shutil.which("caddy")] + list(projects)
    for c in [c.strip() for c in args.skip.split(",") if c.strip()]:
        if c in wanted:
            wanted.remove(c)
            skipped[c] = "left out with --skip"
    for c in wanted:
        if c not in BUILTIN and c not in projects:
            sys.exit(f"unknown candidate {c!r}: not built in and no --project {c}=CMD")

    # packages
    need = [pkg for binary, pkg in (("nginx", "nginx"), ("haproxy", "haproxy"), ("wrk", "wrk"))
            if not shutil.which(binary)]
    if "caddy" in wanted and not shutil.which("caddy"):
        need.append("caddy")
    missing = ensure_packages(need, not args.no_install)
    for binary in ("nginx", "wrk"):
        if binary in missing:
            sys.exit(f"{binary} is required and not installed")
    for c in ("haproxy", "caddy"):
        if c in missing:
            for cand in [x for x in wanted if x.startswith(c)]:
                wanted.remove(cand)
                skipped[cand] = f"{c} not installed"
    stream_line = None
    if "nginx-stream" in wanted:
        stream_line, why = nginx_stream_module()
        if stream_line is None and "dynamic" in why and not args.no_install:
            ensure_packages(["libnginx-mod-stream"], True)
            stream_line, why = nginx_stream_module()
        if stream_line is None:
            wanted.remove("nginx-stream")
            skipped["nginx-stream"] = why

    procs = Procs()
    d = tempfile.mkdtemp(prefix="lb-peers-")
    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    ports_used = []
    try:
        return run(args, scenarios, wanted, skipped, projects, stream_line, procs, d, ports_used)
    except KeyboardInterrupt:
        log(f"\ninterrupted ({signal.Signals(interrupted[0]).name if interrupted else 'SIGINT'}), cleaning up")
        return 130
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # cleanup must finish
        procs.stop_all()
        busy = [p for p in ports_used if not port_free(p)]
        if busy:
            log(f"WARNING: ports still bound after cleanup: {busy}")
        if args.keep_dir:
            log(f"configs and logs kept in {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


def run(args, scenarios, wanted, skipped, projects, stream_line, procs, d, ports_used):
    os.chmod(d, 0o755)  # nginx workers may run as nobody
    os.makedirs(f"{d}/tmp")
    os.makedirs(f"{d}/www")
    os.makedirs(f"{d}/logs")
    for name, size in (("16k", 16384), ("1m", 1 << 20)):
        with open(f"{d}/www/{name}", "wb") as f:
            f.write(b"x" * size)
    for sub in ("www", "www/16k", "www/1m"):
        os.chmod(f"{d}/{sub}", 0o755 if sub == "www" else 0o644)

    be_ports = [args.base_port + 1 + i for i in range(args.backends)]
    backends = [f"127.0.0.1:{p}" for p in be_ports]
    lb_port = {c: args.base_port + 20 + i for i, c in enumerate(BUILTIN + list(projects))}
    ports_used += be_ports + [lb_port[c] for c in wanted if c != "direct"]
    busy = [p for p in ports_used if not port_free(p)]
    if busy:
        sys.exit(f"ports already in use: {busy}; choose another --base-port")

    env = dict(os.environ, HOME=d, XDG_DATA_HOME=f"{d}/xdg", XDG_CONFIG_HOME=f"{d}/xdg", GOMAXPROCS="1")
    ver = versions()
    log(f"temp dir {d}; backends {', '.join(backends)}; " + "; ".join(f"{k} {v}" for k, v in ver.items()))

    def write(name, text):
        with open(f"{d}/{name}", "w") as f:
            f.write(text)
        return f"{d}/{name}"

    def on(cpu, argv):
        return ["taskset", "-c", str(cpu), *argv]

    be = procs.start("backends", on(args.load_cpu, ["nginx", "-p", d, "-e", f"{d}/backends.err", "-c",
                                                    write("backends.conf", backends_conf(d, be_ports))]),
                     f"{d}/logs/backends.log")
    for p in be_ports:
        why = wait_ready(p, be, 10)
        if why:
            raise SystemExit(f"backends did not start: {why}: {tail(f'{d}/logs/backends.log')} "
                             f"{tail(f'{d}/backends.err')}")

    started = {}  # name -> (port, Popen or None)
    for c in wanted:
        port = lb_port[c]
        logf = f"{d}/logs/{c}.log"
        argv, cenv = None, env
        if c == "direct":
            started[c] = (be_ports[0], None)
            continue
        if c == "nginx":
            argv = ["nginx", "-p", d, "-e", f"{d}/nginx-lb.err", "-c", write("nginx-lb.conf", nginx_lb_conf(d, port, backends))]
        elif c == "nginx-stream":
            argv = ["nginx", "-p", d, "-e", f"{d}/nginx-stream.err", "-c",
                    write("nginx-stream.conf", nginx_stream_conf(d, port, backends, stream_line))]
        elif c == "haproxy":
            argv = ["haproxy", "-db", "-f", write("haproxy.cfg", haproxy_conf(port, backends, "http"))]
        elif c == "haproxy-tcp":
            argv = ["haproxy", "-db", "-f", write("haproxy-tcp.cfg", haproxy_conf(port, backends, "tcp"))]
        elif c == "caddy":
            argv = ["caddy", "run", "--adapter", "caddyfile", "--config", write("Caddyfile", caddy_conf(port, backends))]
        else:
            values = {"port": port, "listen": f"127.0.0.1:{port}", "host": "127.0.0.1", "dir": d,
                      "backends": ",".join(backends), "backends_space": " ".join(backends),
                      **{f"b{i + 1}": b for i, b in enumerate(backends)}}
            spec = projects[c]
            if spec["config"]:
                try:
                    with open(spec["config"]) as f:
                        template = f.read()
                except OSError as e:
                    skipped[c] = f"config template: {e}"
                    continue
                values["config"] = write(f"{c}.conf", fill(template, values))
            argv = shlex.split(fill(spec["cmd"], values))
            cenv = dict(env, BENCH_PORT=str(port), BENCH_BACKENDS=",".join(backends))
            cenv.pop("GOMAXPROCS")
        p = procs.start(c, on(args.candidate_cpus.get(c, args.lb_cpu), argv), logf, env=cenv)
        why = wait_ready(port, p, args.start_timeout)
        if not why:
            why = check_content(port)
        if why:
            skipped[c] = f"{why}: {tail(logf)}"
            procs.items.remove((c, p))
            procs.stop(p)
            continue
        started[c] = (port, p)

    order = [c for c in wanted if c in started]
    info = {}
    for c in order:
        port, p = started[c]
        info[c] = {"port": port, "kind": KIND.get(c, "project"), "pid": p.pid if p else None,
                   "backends_seen": backends_seen(port, args.backends)}
        if c in projects:
            info[c]["cmd"] = projects[c]["cmd"]
    for c in order:
        if c != "direct" and info[c]["backends_seen"] < args.backends:
            log(f"WARNING: {c} reached {info[c]['backends_seen']} of {args.backends} backends")
    for c, why in skipped.items():
        log(f"skipped {c}: {why}")
    if not order:
        raise SystemExit("no candidate started")

    per_run = args.duration + args.pause + 0.5
    est = len(order) * (len(scenarios) * args.rounds * per_run + args.warmup + 0.5)
    log(f"candidates: {', '.join(order)}; scenarios: {', '.join(scenarios)}; {args.rounds} rounds x "
        f"{args.duration}s; about {est / 60:.1f} min")

    for c in order:  # warm-up, not recorded
        if args.warmup > 0:
            run_wrk(procs, args, started[c][0], "small", args.warmup, None, f"{d}/logs/wrk-warmup.log")
    runs = []
    t_start = time.time()
    for rnd in range(1, args.rounds + 1):
        for s in scenarios:
            for c in order:
                port, p = started[c]
                if p is not None and p.poll() is not None:
                    r = {"rps": 0.0, "errors": 0, "failed": True, "note": f"process exited ({p.returncode})"}
                else:
                    r = run_wrk(procs, args, port, s, args.duration, p.pid if p else None, f"{d}/logs/wrk.log")
                r.update(round=rnd, scenario=s, candidate=c)
                runs.append(r)
                log(f"round {rnd} {s:<9} {c:<13} {r['rps']:>10.0f} req/s  {'FAILED ' if r.get('failed') else ''}"
                    f"p50 {r.get('p50_ms')} ms  "
                    f"p99 {r.get('p99_ms')} ms  errors {r.get('errors')}  lb cpu {r.get('lb_cpu_pct')}%")
                time.sleep(args.pause)

    summary = summarize(runs, scenarios, order)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t_start)),
        "machine": {"cpus": os.cpu_count(), "lb_cpu": args.lb_cpu, "load_cpu": args.load_cpu,
                    "cpus_for": args.candidate_cpus,
                    "model": cpu_model()},
        "versions": versions(),
        "settings": {"duration_s": args.duration, "rounds": args.rounds, "conns": args.conns,
                     "threads": args.threads, "backends": backends, "scenarios": {s: SCENARIOS[s][2] for s in scenarios}},
        "candidates": info,
        "skipped": skipped,
        "summary": summary,
        "runs": runs,
    }
    print_table(summary, scenarios, order, skipped, args)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
        log(f"wrote {args.out}")
    return 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            return m.group(1) if m else "?"
    except OSError:
        return "?"


def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(runs, scenarios, order):
    summary = {}
    for s in scenarios:
        summary[s] = {}
        for c in order:
            rs = [r for r in runs if r["scenario"] == s and r["candidate"] == c]
            rps = [r["rps"] for r in rs]
            m = statistics.median(rps) if rps else 0
            summary[s][c] = {
                "rps": round(m, 1), "rps_min": round(min(rps), 1), "rps_max": round(max(rps), 1),
                "spread_pct": round(100 * (max(rps) - min(rps)) / m, 1) if m else None,
                "p50_ms": med(r.get("p50_ms") for r in rs), "p99_ms": med(r.get("p99_ms") for r in rs),
                "errors": sum(r.get("errors", 0) for r in rs),
                "failed_runs": sum(1 for r in rs if r.get("failed")),
                "lb_cpu_pct": med(r.get("lb_cpu_pct") for r in rs),
                "load_core_busy_pct": med(r.get("load_core_busy_pct") for r in rs),
            }
            cpu = summary[s][c]["lb_cpu_pct"]
            # req/s per fully used balancer core: its capacity when the load side, not the balancer, saturates
            summary[s][c]["rps_per_lb_core"] = round(m * 100 / cpu) if cpu else None
        for ref in ("nginx", "direct"):
            base = summary[s].get(ref, {}).get("rps")
            ref_by_round = {r["round"]: r["rps"] for r in runs if r["scenario"] == s and r["candidate"] == ref}
            for c in order:
                summary[s][c][f"vs_{ref}"] = round(summary[s][c]["rps"] / base, 3) if base else None
                # ratio within each round: machine-wide drifts between rounds cancel out
                summary[s][c][f"vs_{ref}_by_round"] = [
                    round(r["rps"] / ref_by_round[r["round"]], 3) for r in runs
                    if r["scenario"] == s and r["candidate"] == c and ref_by_round.get(r["round"])]
    return summary


def print_table(summary, scenarios, order, skipped, args):
    def f(v, fmt, suffix=""):
        return "-" if v is None else format(v, fmt) + suffix

    print(f"\nmedian of {args.rounds} rounds, {args.duration}s each, wrk -t{args.threads} -c{args.conns}; "
          f"balancer on core {args.lb_cpu}, wrk + backends on core {args.load_cpu}")
    for s in scenarios:
        print(f"\n{s}: {SCENARIOS[s][2]}")
        print(f"{'candidate':<14}{'req/s':>10}{'spread':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'lb cpu':>8}{'rps/core':>10}{'core' + str(args.load_cpu):>7}{'/nginx':>8}{'/direct':>8}")
        for c in order:
            r = summary[s][c]
            print(f"{c:<14}{r['rps']:>10.0f}{f(r['spread_pct'], '.1f', '%'):>8}{f(r['p50_ms'], '.2f'):>9}"
                  f"{f(r['p99_ms'], '.2f'):>9}{str(r['errors']) + ('!' if r['failed_runs'] else ''):>8}{f(r['lb_cpu_pct'], '.0f', '%'):>8}{f(r['rps_per_lb_core'], '.0f'):>10}"
                  f"{f(r['load_core_busy_pct'], '.0f', '%'):>7}{f(r['vs_nginx'], '.2f'):>8}{f(r['vs_direct'], '.2f'):>8}")
    failed = [f"{c} {s} ({summary[s][c]['failed_runs']} of {args.rounds})" for s in scenarios for c in order
              if summary[s][c]["failed_runs"]]
    if failed:
        print("\n! runs with no response at all (counted as 0 req/s): " + ", ".join(failed))
    if skipped:
        print("\nskipped: " + "; ".join(f"{c} ({why})" for c, why in skipped.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
