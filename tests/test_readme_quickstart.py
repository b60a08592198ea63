"""The README's first hour, followed literally in a fresh shell: every command the
quickstart and "The three users" show names a program that exists once the quickstart's
own steps ran (the virtualenv's, or the machine's), and every variable a command uses was
set by an earlier one (an assignment, or the demo's env file once it is sourced)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO = ROOT / "plugin" / "jenkins_broker" / "commands" / "demo.py"

#: What any shell has.
SHELL_VARIABLES = {"HOME", "PATH", "PWD", "USER", "SHELL"}
#: What a machine with Python and nothing else runs (what CI has, and curl).
MACHINE = {"python3", "curl", "cat", "grep"}
#: Shell words that are not programs.
BUILTINS = {".", "source", "export", "cd", "env", "set", "unset", "test", "[", "echo", "printf",
            "true", "false", "exit"}


def first_hour() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = text.index("## Quickstart"), text.index("## How it works")
    return text[start:end]


def commands(section: str) -> list[str]:
    """Every command shown: the lines of ``sh`` blocks, and the ``$ `` lines of ``text``
    blocks, in order."""
    found = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", section, re.S):
        for line in body.splitlines():
            line = line.split(" #", 1)[0].rstrip() if lang == "sh" else line
            if lang == "sh" and line and not line.startswith("#"):
                found.append(line)
            elif lang == "text" and line.startswith("$ "):
                found.append(line[2:])
    return found


def demo_exports() -> set[str]:
    """The names the demo writes to its env file: the keys of its ``_hand_over`` call."""
    tree = ast.parse(DEMO.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_hand_over":
            exports = node.args[1]
            assert isinstance(exports, ast.Dict)
            return {str(key.value) for key in exports.keys if isinstance(key, ast.Constant)}
    raise AssertionError("demo.py no longer calls _hand_over: update this test")


def programs(command: str) -> list[str]:
    """The program of each simple command in ``command`` (after ``VAR=value`` words), in
    ``a && b``, ``a | b``, ``a; b`` and ``$(...)``."""
    inner = re.findall(r"\$\(([^()]*)\)", command)
    outer = re.sub(r"\$\([^()]*\)", "SUBST", command)
    names = []
    for part in [*re.split(r"&&|\|\||[|;]", outer), *inner]:
        words = [w for w in part.strip().split() if w]
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
            words.pop(0)
        if words:
            names.append(words[0])
    return names


def exists_after_the_quickstart(program: str, activated: bool = True) -> bool:
    """Whether ``program`` runs: a builtin, ``.venv/bin/<x>`` of the install, a bare name
    of the virtualenv once it is activated, or a program of the machine's own (on a
    machine with only Python; ``curl`` is the one tool the README assumes besides)."""
    if program in BUILTINS:
        return True
    if program.startswith(".venv/bin/"):
        return program[len(".venv/bin/"):] in venv_programs()
    if activated and program in venv_programs():
        return True
    return program in MACHINE


def venv_programs() -> set[str]:
    """What the quickstart's ``pip install -e '.[dev]'`` puts in ``.venv/bin``: this test
    runs in such an environment, so it is the directory of this interpreter."""
    return {p.name for p in Path(sys.executable).parent.iterdir()}


def test_every_command_of_the_first_hour_can_run_as_written():
    exports = demo_exports()
    defined = set(SHELL_VARIABLES)
    activated = False
    problems = []
    for command in commands(first_hour()):
        if re.search(r"(^|&&\s*)(\.|source)\s+\.venv/bin/activate", command):
            activated = True
        if re.search(r"(^|&&\s*)\.\s+(\./)?jenkins-broker-demo\.env", command):
            defined |= exports
        for name in re.findall(r"(?:^|[\s(;&|])([A-Za-z_][A-Za-z0-9_]*)=", command):
            defined.add(name)  # VAR=value before a command, or an assignment of its own
        for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", command):
            if name not in defined:
                problems.append(f"{command!r} uses ${name}, which nothing before it sets")
        for program in programs(command):
            if not exists_after_the_quickstart(program, activated):
                problems.append(f"{command!r} runs {program!r}, which the quickstart does not "
                                "install and the machine does not have")
    assert not problems, "\n".join(problems)


def test_the_checker_finds_what_a_reader_would_trip_on():
    """The two mistakes users hit: a bare program the quickstart never put on PATH, and a
    variable nothing set (a made-up README)."""
    assert "no-such-program-xyz" in programs("FOO=1 no-such-program-xyz --flag | cat")
    assert not exists_after_the_quickstart("no-such-program-xyz")
    assert not exists_after_the_quickstart("bao", activated=False)  # the virtualenv's, not on PATH
    assert exists_after_the_quickstart(".venv/bin/bao", activated=False)
    assert programs('TOKEN=$(bao read -field=token x) && curl -su "a:$TOKEN" y') == ["curl", "bao"]
    sample = "## Quickstart\n```sh\ncurl $UNSET_THING\n```\n## How it works\n"
    assert commands(sample[sample.index("## Quickstart"):]) == ["curl $UNSET_THING"]


def test_the_demo_exports_what_the_readme_uses():
    assert {"VAULT_ADDR", "VAULT_TOKEN", "JENKINS_URL", "JENKINS_BROKER_ADDR",
            "CI_VAULT_TOKEN"} <= demo_exports()
