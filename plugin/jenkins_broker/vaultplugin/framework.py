"""The little path framework the engine's path modules are written in.

Each path module (``path_config``, ``path_roles``, ...) returns :class:`Path`
entries: a pattern, the handler for each operation, the fields it takes, an
optional existence check, and help text. :mod:`.backend` routes requests to
them and renders ``path-help``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..values import parse_bool
from .logical import BadRequest, Request, Response

if TYPE_CHECKING:
    from .backend import JenkinsBackend

Handler = Callable[["JenkinsBackend", Request, dict], Optional[Response]]
ExistenceCheck = Callable[["JenkinsBackend", Request, dict], bool]

#: The part of a path that names a role: any one segment, so that a name the vocabulary
#: refuses reaches the backend, which answers it with the broker's 400 naming the rule
#: (values.NAME_PATTERN) instead of an "unsupported path".
NAME = r"(?P<name>[^/]+)"


@dataclass(frozen=True)
class Field:
    """One request field: its type as Vault's help shows it, and what it means."""

    type: str
    description: str


@dataclass(frozen=True)
class Path:
    """A Vault path of the engine: pattern (anchored regex), handlers, fields and help."""

    pattern: str
    operations: dict[str, Handler]
    synopsis: str
    description: str
    fields: dict[str, Field] = field(default_factory=dict)
    exists: ExistenceCheck | None = None

    def match(self, path: str) -> dict[str, str] | None:
        """The named groups if ``path`` matches, else ``None``."""
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None

    def check_fields(self, request: Request) -> None:
        """Raise :class:`BadRequest` for a field this path does not take (writes only)."""
        unknown = sorted(set(request.data) - set(self.fields))
        if unknown:
            known = ", ".join(sorted(self.fields)) or "none"
            raise BadRequest(f"{unknown[0]}: unknown field; this path takes {known}")

    def help_text(self, request_path: str) -> str:
        """The text ``bao path-help`` shows for this path."""
        out = [f"Request:        {request_path}", f"Matching Route: ^{self.pattern}$", "",
               self.synopsis.strip(), ""]
        if self.fields:
            out += ["## PARAMETERS", ""]
            for name, spec in sorted(self.fields.items()):
                out.append(f"{name} ({spec.type})")
                out += textwrap.wrap(spec.description, width=76, initial_indent="    ",
                                     subsequent_indent="    ")
                out.append("")
        out += ["## DESCRIPTION", "", textwrap.dedent(self.description).strip(), ""]
        return "\n".join(out)


def as_bool(name: str, value: Any) -> bool:
    """``value`` as a boolean, the way Vault's CLI sends them (``true``, ``false``, ``1``...)."""
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from None
