"""What a route changes in the messages passing through: the request's path and headers
on the way to the server, the response's headers on the way back."""

from __future__ import annotations

from laneway.policies.headers import HeaderEdit
from laneway.policies.paths import PathRewrite, rewrite_target
from laneway.policies.variables import Values, with_server


class ResponseEdit:
    """A route's response header edit with one request's values, kept on the exchange until
    the server's answer comes."""

    __slots__ = ("edit", "values")

    def __init__(self, edit: HeaderEdit, values: Values) -> None:
        self.edit = edit
        self.values = values

    def apply(self, fields: bytes, server: str | None) -> bytes:
        values = self.values
        if server is not None:
            values = with_server(values, server.encode())
        return self.edit.response_fields(fields, values)


class RouteEdits:
    __slots__ = ("path", "request", "response")

    def __init__(self, *, path: PathRewrite | None = None, request: HeaderEdit | None = None,
                 response: HeaderEdit | None = None) -> None:
        self.path = path
        self.request = request
        self.response = response

    def edit_request(self, target: bytes, host: bytes | None, headers: list[bytes],
                     values: Values) -> tuple[bytes, bytes | None, list[bytes]]:
        """The target, Host and header lines the server gets."""
        if self.path is not None:
            target = rewrite_target(self.path, target)
        request = self.request
        if request is not None:
            headers = request.request_lines(headers, values)
            if request.host is not None:
                host = request.host.render(values)
        return target, host, headers

    def for_response(self, values: Values) -> ResponseEdit | None:
        return ResponseEdit(self.response, values) if self.response is not None else None
