"""Templates with variables and header edits on their own (the end-to-end tests are in
tests/http/test_header_rewriting.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.config.variables import RESPONSE_VARIABLES, split_template
from laneway.policies import HeaderEdit, Template, request_values
from laneway.policies.variables import with_server

VALUES = with_server(request_values(b"10.0.0.1", b"id-1", b"example.com", b"https", b"/a/b?x=1"),
                     b"10.0.0.9:80")


def template(text: str) -> Template:
    return Template(split_template(text, list(RESPONSE_VARIABLES)))


def test_variables_are_filled_in() -> None:
    text = "$client_ip ${request_id}x $host $scheme $request_uri $path $query $server $$ $5 $"
    rendered = template(text).render(VALUES)
    assert rendered == b"10.0.0.1 id-1x example.com https /a/b?x=1 /a/b x=1 10.0.0.9:80 $ $5 $"


@pytest.mark.parametrize(("host", "name"), [
    (b"Example.COM:8080", b"example.com"), (b"example.com", b"example.com"), (b"[::1]:80", b"[::1]"),
    (b"[::1]", b"[::1]"), (None, b""),
])
def test_host_is_the_name_without_the_port(host: bytes | None, name: bytes) -> None:
    assert request_values(b"", None, host, b"http", b"/")[2] == name


def test_a_value_without_variables_is_one_byte_string() -> None:
    assert template("plain").literal == b"plain"
    assert template("$host").literal is None


@given(st.text(alphabet=st.characters(blacklist_characters="$", blacklist_categories=("Cs",))))
def test_text_without_a_dollar_comes_back_as_it_was(text: str) -> None:
    assert template(text).render(VALUES) == text.encode()


def test_request_lines_remove_set_add() -> None:
    edit = HeaderEdit(remove=["X-Gone"], set=[("X-Set", template("s")), ("Host", template("$host.internal"))],
                      add=[("X-Set", template("a"))])
    lines = [b"X-Gone: 1\r\n", b"x-set: old\r\n", b"Accept: */*\r\n", b"X-GONE: 2\r\n"]
    assert edit.request_lines(lines, VALUES) == [b"Accept: */*\r\n", b"X-Set: s\r\n", b"X-Set: a\r\n"]
    assert edit.host is not None and edit.host.render(VALUES) == b"example.com.internal"
    assert lines[0] == b"X-Gone: 1\r\n", "the client's lines are not changed in place"


def test_response_fields_remove_set_add() -> None:
    edit = HeaderEdit(remove=["server"], set=[("Server", template("laneway"))],
                      add=[("X-By", template("$server"))])
    fields = b"\r\nServer: nginx\r\nDate: today\r\nSERVER: again"
    assert edit.response_fields(fields, VALUES) == b"\r\nDate: today\r\nServer: laneway\r\nX-By: 10.0.0.9:80"
    assert edit.response_fields(b"", VALUES) == b"\r\nServer: laneway\r\nX-By: 10.0.0.9:80"


def test_only_whole_names_are_removed() -> None:
    edit = HeaderEdit(remove=["Server", "X.Y"])
    fields = b"\r\nServer-Timing: a\r\nX-Server: b\r\nserver: c\r\nXAY: d\r\nX.Y: e\r\nServer: f"
    assert edit.response_fields(fields, VALUES) == b"\r\nServer-Timing: a\r\nX-Server: b\r\nXAY: d"
    lines = [b"Server-Timing: a\r\n", b"SERVER: f\r\n"]
    assert edit.request_lines(lines, VALUES) == [b"Server-Timing: a\r\n"]
