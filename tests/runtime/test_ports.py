"""The supervisor's reservations of the listeners' ports (SO_REUSEPORT, not listening)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from laneway.config import Config, parse_config
from laneway.runtime.ports import Reservations, with_binds


def config(*binds: str) -> Config:
    return parse_config({
        "listeners": [{"name": f"l{index}", "bind": bind, "routes": [{"pool": "p"}]}
                      for index, bind in enumerate(binds)],
        "pools": {"p": {"servers": [{"address": "127.0.0.1:9"}]}}})


@pytest.fixture
def reservations() -> Iterator[Reservations]:
    held = Reservations()
    yield held
    held.close()


def connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def test_port_0_becomes_one_real_port_that_workers_share(reservations: Reservations) -> None:
    first = config("127.0.0.1:0")
    reservations.commit(first, reservations.update(first))
    host, port = reservations.addresses()["l0"]
    assert (host, port != 0) == ("127.0.0.1", True)
    assert reservations.binds() == {"l0": f"127.0.0.1:{port}"}
    assert with_binds(first, reservations.binds()).listeners[0].bind == f"127.0.0.1:{port}"
    # Held but not listening: no connection is accepted, and none is queued where no worker reads.
    assert not connects(port)
    workers = [socket.create_server(("127.0.0.1", port), reuse_port=True) for _ in range(2)]
    try:
        assert connects(port)
    finally:
        for worker in workers:
            worker.close()


def test_a_fixed_port_is_bound_as_the_config_says(reservations: Reservations) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    fixed = config(f"localhost:{free}")
    reservations.commit(fixed, reservations.update(fixed))
    assert reservations.addresses()["l0"][1] == free
    assert reservations.binds() == {}, "workers bind localhost (every address it names) themselves"


def test_a_port_in_use_by_another_program_is_an_error(reservations: Reservations) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        taken = config(f"127.0.0.1:{other.getsockname()[1]}", "127.0.0.1:0")
        with pytest.raises(OSError):
            reservations.update(taken)
    assert reservations.held == {}


def test_a_reload_keeps_what_stays_and_lets_go_of_what_left(reservations: Reservations) -> None:
    first = config("127.0.0.1:0", "127.0.0.1:0")
    reservations.commit(first, reservations.update(first))
    kept, dropped = reservations.held["l0"], reservations.held["l1"]
    second = config("127.0.0.1:0")
    fresh = reservations.update(second)
    assert fresh == {}, "a listener on the same bind keeps its port"
    reservations.commit(second, fresh)
    assert reservations.held == {"l0": kept}
    assert dropped.sock.fileno() == -1
