"""Checks of docs/docker-compose.md against the compose file it walks through."""

from __future__ import annotations

import re

from tests.support.deploy.files import Deploy


def check_docs(d: Deploy) -> list[str]:
    text, problems = d.text("docs/docker-compose.md") or "", []
    for needle in ("dev mode", "docker compose up -d", "whoAmI", "lease revoke", "401",
                   "not by running Docker", "docker compose --profile plugin up -d"):
        if needle not in text:
            problems.append(f"docs/docker-compose.md never says {needle!r}")
    flags = r"(?: (?:-e|--env) \S+| -[-\w=]+)*"
    used = re.findall(rf"docker compose (?:exec|logs|run){flags} ([a-z][a-z-]*)", text)
    for service in used:
        if service not in d.services:
            problems.append(f"docs/docker-compose.md uses a service {service} that does not exist")
    return problems
