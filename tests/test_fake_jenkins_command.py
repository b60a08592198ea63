"""`jenkins-broker fake-jenkins` as a new user runs it: its help, and a token seeded to try it with."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time

import pytest
import requests

from jenkins_broker.commands import cli
from tests.support import stop_process


def test_fake_jenkins_help_points_into_the_repository_and_documents_token(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fake-jenkins", "--help"])
    text = capsys.readouterr().out
    assert "docs/jenkins-behaviour.md" in text and "../shared" not in text
    assert "--token USER[:NAME]" in text
    assert "USER:TOKEN" in " ".join(text.split())  # what it prints, usable as curl -u


def _lines(proc: subprocess.Popen, count: int, timeout: float = 20.0) -> list[str]:
    """The first ``count`` lines of the process' stdout, read against a deadline."""
    assert proc.stdout is not None
    lines: list[str] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"fake-jenkins printed only {lines!r} within {timeout}s"
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"fake-jenkins exited after printing {lines!r}"
            buffer += chunk
            while b"\n" in buffer and len(lines) < count:
                line, buffer = buffer.split(b"\n", 1)
                lines.append(line.decode())
    return lines


def test_token_seeds_an_api_token_printed_once_on_stdout(tmp_path):
    """`fake-jenkins` could not hand out a token to try it with: --token USER[:NAME] makes one
    at start and prints USER:TOKEN once, on stdout only (never in its log)."""
    log = open(tmp_path / "stderr.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_broker.commands.cli", "fake-jenkins", "--port", "0",
         "--user", "ci-bot:pw", "--user", "admin:adminpw:admin", "--token", "ci-bot:try-it",
         "--token", "admin"],
        stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    try:
        url, first, second = _lines(proc, 3)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        user, _, token = first.partition(":")
        assert user == "ci-bot" and re.fullmatch(r"11[0-9a-f]{32}", token)
        me = requests.get(f"{url}whoAmI/api/json", auth=(user, token), timeout=5).json()
        assert me["name"] == "ci-bot" and me["anonymous"] is False
        admin, _, admin_token = second.partition(":")
        assert admin == "admin"
        assert requests.get(f"{url}whoAmI/api/json", auth=(admin, admin_token), timeout=5).status_code == 200
        page = requests.get(f"{url}user/ci-bot/security/", auth=(user, token), timeout=5).text
        assert "try-it" in page
    finally:
        stop_process(proc)
        proc.stdout.close()
    log.seek(0)
    logged = log.read()
    assert token not in logged and admin_token not in logged


def test_token_for_a_user_not_given_is_a_usage_error(capsys):
    code = cli.main(["fake-jenkins", "--port", "0", "--user", "ci-bot:pw", "--token", "nobody:x"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--token nobody:x: no user 'nobody'; give it with --user nobody:PASSWORD" in err
