"""Looking up header values in a parsed message's ``headers`` list of (name, value) pairs."""

from __future__ import annotations


class HeaderLookup:
    headers: list[tuple[str, str]]

    def header_values(self, name: str) -> list[str]:
        lower = name.lower()
        return [value for key, value in self.headers if key.lower() == lower]

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; ``None`` when absent, an error when repeated."""
        values = self.header_values(name)
        if len(values) > 1:
            raise AssertionError(f"header {name} appears {len(values)} times: {values}")
        return values[0] if values else None
