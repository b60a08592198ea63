"""The design record the code cites is in the repository, and every citation resolves.

The code cites docs/jenkins-behaviour.md by section ("docs/jenkins-behaviour.md §4.7",
or a bare "§4.7" in a module that names the page) and the README by section name
(README.md, "Minting strategies"). These tests fail when:

* a file under plugin/, tests/ or benchmarks/ names one of the internal notes
  that are not in the repository (the old names are spelled in pieces below, so
  this file does not name them itself);
* a "§N" there names a section with no ``## §N`` / ``### §N`` heading in
  docs/jenkins-behaviour.md, or a file cites "§N" without naming that page;
* a README section named in a citation has no heading;
* ``fake-jenkins --help`` names a file that is not in the repository;
* the places that document the fake's script console stop saying that it runs the
  Groovy for real, or say again that no test executes it.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = "docs/jenkins-behaviour.md"
SCANNED = ("plugin", "tests", "benchmarks")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", "build", "dist"}

#: Internal notes that are not in the repository; no file may send a reader there.
GONE = ("jenkins-api" + ".md", "PRODUCT" + ".md")

_NUMBER = r"\d+(?:\.\d+)?"
#: "§4.7", "§4.1-4.7" or "§4.1–§4.7" (both ends are checked).
_SECTION = re.compile(rf"§\s?({_NUMBER})(?:\s?[-–]\s?§?({_NUMBER}))?")
#: "jenkins-behaviour.md section 15", the spelling used where "§" is unwelcome.
_SECTION_WORD = re.compile(rf"jenkins-behaviour\.md,?\s+sections?\s+({_NUMBER})", re.I)
_HEADING = re.compile(rf"^#{{2,3}} §({_NUMBER}) \S", re.M)
_README_CITATION = re.compile(r"README(?:\.md)?,?\s+\"([^\"]+)\"")


def scanned_files(roots=SCANNED, base: Path = ROOT):
    """(relative path, text) of every text file under ``roots``."""
    for root in roots:
        for folder, dirs, files in os.walk(base / root):
            dirs[:] = sorted(d for d in dirs
                             if d not in SKIPPED_DIRS and not d.startswith(".")
                             and not d.endswith(".egg-info"))
            for name in sorted(files):
                path = Path(folder) / name
                try:
                    text = path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue                      # binary files cite nothing
                yield path.relative_to(base).as_posix(), text


def doc_sections(text: str) -> set[str]:
    """The section numbers that have a heading in the behaviour doc."""
    return set(_HEADING.findall(text))


def bad_citations(files, sections: set[str]) -> list[str]:
    """One line per problem in ``files`` ((path, text) pairs), given the doc's sections."""
    problems = []
    for path, text in files:
        for gone in GONE:
            if gone in text:
                problems.append(f"{path}: names {gone}, which is not in the repository; "
                                f"cite {DOC} or the README instead")
        cited = []
        for number, line in _numbers(text):
            cited.append(number)
            if number not in sections:
                problems.append(f"{path}:{line}: cites §{number}, which has no heading in {DOC}")
        if cited and "jenkins-behaviour.md" not in text:
            problems.append(f"{path}: cites §{cited[0]} but never names {DOC}")
    return problems


def _numbers(text: str):
    """(section number, line number) of each § citation in ``text``."""
    for pattern in (_SECTION, _SECTION_WORD):
        for found in pattern.finditer(text):
            line = text.count("\n", 0, found.start()) + 1
            for number in found.groups():
                if number is not None:
                    yield number, line


def test_the_doc_has_its_sections():
    text = (ROOT / DOC).read_text(encoding="utf-8")
    sections = doc_sections(text)
    # §1 to §15 at the top level, and the subsections the code relies on most.
    assert {str(n) for n in range(1, 16)} <= sections
    assert {"3.1", "3.6", "4.0", "4.7", "4.10", "4.11", "15.1", "15.11"} <= sections
    numbers = _HEADING.findall(text)
    assert len(numbers) == len(set(numbers)), "a section number is used twice"


def test_no_file_names_the_internal_notes_and_every_section_cited_exists():
    sections = doc_sections((ROOT / DOC).read_text(encoding="utf-8"))
    problems = bad_citations(scanned_files(), sections)
    assert not problems, "\n".join(problems)


def test_the_check_catches_bad_citations():
    """The scanner itself: a missing section, an old name, a bare § with no doc named."""
    sections = {"1", "4", "4.7"}
    good = [("a.py", f'"""See {DOC} §4.7 and §1, §4-4.7."""')]
    assert bad_citations(good, sections) == []
    bad = [("b.py", f"# {DOC} §4.8\n"),
           ("c.py", f"# {DOC} §4.1-4.7\n"),
           ("d.py", f"# see {DOC} section 16\n"),
           ("e.py", "# as " + GONE[0] + " says\n"),
           ("f.py", "# bare §4.7 with no doc named\n")]
    problems = bad_citations(bad, sections)
    assert [p.split(":")[0] for p in problems] == ["b.py", "c.py", "d.py", "e.py", "f.py"]
    # (spelled in pieces: this file is scanned too, and has no section 16 to cite)
    assert "§4.8" in problems[0] and "§4.1" in problems[1] and "§" + "16" in problems[2]


def test_readme_sections_cited_by_the_code_exist():
    headings = set(re.findall(r"^#+ (.+?)\s*$",
                              (ROOT / "README.md").read_text(encoding="utf-8"), re.M))
    cited = {(path, name) for path, text in scanned_files()
             for name in _README_CITATION.findall(text)}
    assert cited, "the code no longer cites README sections: drop this test"
    missing = [f'{path}: README section "{name}"' for path, name in sorted(cited)
               if name not in headings]
    assert not missing, "\n".join(missing)


def _fake_jenkins_help_texts() -> dict[str, str]:
    from jenkins_broker.commands.cli import build_parser
    from jenkins_broker.fakejenkins.command import DESCRIPTION, add_arguments

    texts = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts["jenkins-broker fake-jenkins --help"] = \
                action.choices["fake-jenkins"].format_help()
    module = argparse.ArgumentParser(prog="python -m jenkins_broker.fakejenkins",
                                     description=DESCRIPTION)
    add_arguments(module)
    texts["python -m jenkins_broker.fakejenkins --help"] = module.format_help()
    return texts


def test_fake_jenkins_help_names_only_files_in_the_repository():
    texts = _fake_jenkins_help_texts()
    assert len(texts) == 2
    for where, text in texts.items():
        flat = " ".join(text.split())
        named = set(re.findall(r"[\w./-]+\.md\b", flat))
        assert DOC in named, where
        missing = [name for name in named if not (ROOT / name).is_file()]
        assert not missing, f"{where} names files that are not in the repository: {missing}"


@pytest.mark.parametrize("path", [
    "README.md",
    DOC,
    "docs/fake-jenkins-groovy.md",
    "plugin/jenkins_broker/fakejenkins/__init__.py",
    "plugin/jenkins_broker/fakejenkins/scriptconsole.py",
    "plugin/jenkins_broker/jenkins/scripts.py",
])
def test_the_fake_is_documented_as_running_the_groovy(path):
    text = " ".join((ROOT / path).read_text(encoding="utf-8").split())
    assert re.search(r"Groovy 2\.4", text), path
    assert re.search(r"(runs?|run for real)[^.]*Groovy|Groovy[^.]*(run for real|for real)", text), path
    assert not re.search(r"never executed by any test|no test executes|no Groovy interpreter",
                         text, re.I), path
