"""Building laneway: the request hot path is compiled with mypyc when it can be.

``pip install .`` compiles the modules every proxied request runs through (``HOT_PATH``)
into C extensions with mypyc (part of mypy, a build requirement in pyproject.toml). They
are the same type-checked Python, run about a third faster per request (bench/README.md).
It also builds ``C_TWINS``: the few functions written in C as well as in Python
(laneway/http/response_head.py says why), each tested to agree with its Python version.
laneway stays pure Python, with identical behaviour, when:

- ``LANEWAY_PURE_PYTHON=1`` is set;
- it is an editable install (``pip install -e .``), so that edits to the sources take effect;
- mypyc or a C compiler is missing, or compiling fails (a warning says so).

``laneway --version`` says which it is. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HOT_PATH = [
    "laneway/http/client.py",
    "laneway/http/upstream.py",
    "laneway/http/exchange.py",
    "laneway/http/response_head.py",
    "laneway/http/messages.py",
    "laneway/upstream/server.py",
    "laneway/upstream/pool.py",
    "laneway/upstream/connections.py",
    "laneway/upstream/latency.py",
    "laneway/upstream/retry_budget.py",
    "laneway/upstream/retry_policy.py",
]

C_TWINS = [
    Extension("laneway.http._fields", ["laneway/http/_fields.c"]),
]

BUILDING = {"bdist_wheel", "build", "build_ext", "install"}


class OptionalBuildExt(build_ext):
    """A failed compile leaves the pure Python modules in place instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # any compiler failure means pure Python
            self.warn(f"laneway: compiling the hot path failed ({error}); installing pure Python")

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:
            self.warn(f"laneway: compiling {ext.name} failed ({error}); it stays pure Python")


def hot_path_extensions() -> list[Any]:
    if os.environ.get("LANEWAY_PURE_PYTHON") == "1" or "editable_wheel" in sys.argv:
        return []
    if not BUILDING.intersection(sys.argv):
        return []  # metadata only (egg_info, sdist): nothing to compile
    return [*C_TWINS, *mypyc_extensions()]


def mypyc_extensions() -> list[Any]:
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("laneway: mypyc is not available; installing pure Python", file=sys.stderr)
        return []
    try:
        return list(mypycify(["--ignore-missing-imports", *HOT_PATH], opt_level="3",
                             group_name="laneway_hot_path"))
    except Exception as error:  # a mypyc failure means pure Python
        print(f"laneway: mypyc could not compile the hot path ({error}); installing pure Python",
              file=sys.stderr)
        return []


setup(ext_modules=hot_path_extensions(), cmdclass={"build_ext": OptionalBuildExt})
