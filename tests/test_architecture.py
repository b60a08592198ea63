"""docs/architecture.md and the layout it describes stay true.

* every file path the page names in backticks exists, and every package of
  ``plugin/jenkins_broker/`` is named in it (as ``name/``);
* every route of the HTTP API, every command of the CLI, every blueprint module and every
  engine path module is named in it;
* at most 8 modules at the top of the package;
* no import cycle among the package's modules;
* the layer rules of the page (``FORBIDDEN``);
* no file of source or tests over 500 lines.

The import graph is built statically with ``ast``, so nothing is imported to check it. An
edge is what an import statement names: ``import a.b`` is an edge to ``a.b``; ``from a
import b`` is an edge to the module ``a.b`` if there is one, else to ``a`` (a name defined
or re-exported by ``a``, so a package's ``__init__`` counts). Relative imports are
resolved; imports inside functions count; imports under ``if TYPE_CHECKING:`` do not
(they never run). A parent package, which Python initialises before any of its modules,
is not an edge of its own: that would make every package whose ``__init__`` re-exports
from its modules a cycle.

The last section tests the checkers themselves on small synthetic packages, so that
each check is seen to fail when it should.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugin" / "jenkins_broker"
PAGE = ROOT / "docs" / "architecture.md"

MAX_TOP_MODULES = 8
MAX_LINES = 500
#: Where source and test files are looked for; generated modules are nobody's to split.
LINE_ROOTS = ("plugin", "tests", "benchmarks")
GENERATED = re.compile(r"vaultplugin/proto/\w+_(pb2|grpc)\.py$")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", "build", "dist"}

#: The layer rules of docs/architecture.md: a module of the layer on the left imports
#: nothing from those on the right. A layer is a sub-package; "top" is the modules at the
#: top of the package (errors, values, ...), and a name on the right may also be one of
#: those ("transport": the domain sends no HTTP). Nothing but commands/ imports commands/
#: (the tests, which may, are outside the package).
LAYERS = ("commands", "server", "web", "domain", "jenkins", "vault", "fakejenkins", "vaultplugin")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "top": LAYERS,
    "domain": ("commands", "server", "web", "jenkins", "vault", "fakejenkins", "vaultplugin",
               "transport"),
    "jenkins": ("commands", "server", "web", "vault"),
    "vault": ("commands", "server", "web", "jenkins"),
    "web": ("commands", "server", "jenkins", "vault"),
    "server": ("commands",),
    "fakejenkins": ("commands",),
    "vaultplugin": ("commands",),
}


# -- the page ----------------------------------------------------------------------

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_FILE = re.compile(r"[\w.*-]+(?:/[\w.*-]+)*\.(?:py|md|yaml|yml|hcl|toml|txt|sh|proto|json)")
_DIR = re.compile(r"[\w.-]+(?:/[\w.-]+)*/")


def named_paths(text: str) -> list[str]:
    """The file and folder paths the page names in inline backticks (``x/y.py``, ``x/``).

    A Vault path such as ``jenkins/creds/<role>`` or ``sys/leases/renew`` is neither: it has
    no file extension and no trailing slash. ``tests/x.py::test_y`` names ``tests/x.py``."""
    found = []
    for code in _CODE.findall(_FENCE.sub("", text)):
        code = code.split("::")[0]
        if _FILE.fullmatch(code) or _DIR.fullmatch(code):
            found.append(code)
    return found


def missing_paths(text: str, repo: Path, package: Path) -> list[str]:
    """Named paths that do not exist: repository-relative when the first part is an entry
    at the top of the repository, else relative to the package."""
    missing = []
    for name in named_paths(text):
        base = repo if (repo / name.split("/")[0]).exists() else package
        pattern = name.rstrip("/")
        matches = list(base.glob(pattern)) if "*" in pattern else [base / pattern]
        kind = Path.is_dir if name.endswith("/") else Path.is_file
        if not any(kind(m) for m in matches):
            missing.append(name)
    return sorted(set(missing))


def packages(package: Path) -> list[str]:
    """Every package under ``package`` (a folder with ``__init__.py``), relative to it; the
    package itself as its path from the repository (``plugin/jenkins_broker``)."""
    found = [package.relative_to(package.parent.parent).as_posix()]
    for init in sorted(package.rglob("__init__.py")):
        if init.parent != package and "__pycache__" not in init.parts:
            found.append(init.parent.relative_to(package).as_posix())
    return found


def unnamed_packages(text: str, package: Path) -> list[str]:
    """Packages the page does not name as ``name/`` (a folder, not a prefix of a longer
    path: ``jenkins/creds/<role>`` does not name ``jenkins/``)."""
    return [name for name in packages(package)
            if not re.search(rf"(?<![\w/.-]){re.escape(name)}/(?![\w.<*-])", text)]


# -- the import graph --------------------------------------------------------------

def module_name(path: Path, source_root: Path) -> str:
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package: Path) -> dict[str, Path]:
    return {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))
            if "__pycache__" not in p.parts}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(nodes):
    """Every import statement in ``nodes`` and below (in functions too), but not in the
    body of an ``if TYPE_CHECKING:`` (its ``else:`` does run)."""
    for node in nodes:
        if isinstance(node, ast.If) and _type_checking(node.test):
            yield from _import_nodes(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _import_nodes(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The package's modules that module ``name`` (at ``path``) imports: {module: line}."""
    out: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in modules:   # import a.b.C (a class): the module a.b
            target = target.rpartition(".")[0]
        if target and target != name:
            out.setdefault(target, line)

    for node in _import_nodes([ast.parse(path.read_text(encoding="utf-8"), str(path))]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
            continue
        base = node.module or ""
        if node.level:
            here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            here = here[:len(here) - (node.level - 1)]
            base = ".".join(here + ([node.module] if node.module else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            add(sub if sub in modules else base, node.lineno)
    return out


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    modules = package_modules(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) through each strongly connected component of more
    than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, {})))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return [_cycle_in(graph, set(c), c[0]) for c in sorted(components)]


def _cycle_in(graph: dict[str, dict[str, int]], component: set[str], start: str) -> list[str]:
    """A shortest path from ``start`` back to itself within ``component`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target in component and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")   # a component always has one


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(cycle) + " (" + "; ".join(
        f"{a} line {graph[a][b]}" for a, b in zip(cycle, cycle[1:])) + ")"


def layer_of(module: str) -> str:
    """``jenkins_broker.domain.leases``: domain; a module at the top of the package: top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "top"


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        forbidden = FORBIDDEN.get(layer_of(module), ())
        for target, line in sorted(targets.items()):
            target_layer = layer_of(target)
            if target_layer in forbidden or (target_layer == "top" and
                                            target.split(".")[-1] in forbidden):
                found.append(f"{module} (line {line}) imports {target}")
    return found


# -- file sizes --------------------------------------------------------------------

def long_files(repo: Path, roots=LINE_ROOTS, limit: int = MAX_LINES) -> dict[str, int]:
    """{path: lines} of every .py file under ``roots`` over ``limit`` lines, but generated ones."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(repo / root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")
                             and not d.endswith(".egg-info"))
            for file in sorted(f for f in files if f.endswith(".py")):
                path = Path(folder) / file
                relative = path.relative_to(repo).as_posix()
                if GENERATED.search(relative):
                    continue
                lines = len(path.read_text(encoding="utf-8").splitlines())
                if lines > limit:
                    found[relative] = lines
    return found


# -- the tests ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph(PACKAGE)


def test_every_path_the_page_names_exists(page):
    assert len(named_paths(page)) > 50       # the page does name files, and the parser finds them
    assert missing_paths(page, ROOT, PACKAGE) == [], "named in docs/architecture.md, not in the tree"


def test_every_package_is_named_in_the_page(page):
    assert unnamed_packages(page, PACKAGE) == [], "packages docs/architecture.md does not name"


def test_every_route_of_the_api_is_in_the_page(page):
    routes = set()
    for path in sorted((PACKAGE / "web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "route" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                routes.add(re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", node.args[0].value))
    assert len(routes) > 15
    missing = [r for r in sorted(routes) if not re.search(re.escape(r) + r"(?![\w/<-])", page)]
    assert missing == [], "routes docs/architecture.md does not name"


def test_every_command_is_in_the_page(page):
    from jenkins_broker.commands.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sub.choices is not None and len(sub.choices) > 10
    missing = [c for c in sorted(sub.choices) if f"`{c}`" not in page]
    assert missing == [], "commands docs/architecture.md does not name"


def test_every_blueprint_and_engine_path_module_is_in_the_page(page):
    modules = [p.relative_to(PACKAGE).as_posix() for p in sorted((PACKAGE / "web").glob("*.py"))
               + sorted((PACKAGE / "vaultplugin").glob("path_*.py"))]
    missing = [m for m in modules if f"`{m}`" not in page]
    assert missing == [], "modules docs/architecture.md does not name"


def test_at_most_eight_modules_at_the_top_of_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules at the top of the package: {top}"


def test_no_import_cycle(graph):
    assert len(graph) > 80 and sum(map(len, graph.values())) > 250   # the graph was built
    found = [describe(c, graph) for c in cycles(graph)]
    assert found == [], "import cycles:\n" + "\n".join(found)


def test_layer_rules(graph):
    found = layer_violations(graph)
    assert found == [], "layer rules broken (see FORBIDDEN):\n" + "\n".join(found)


def test_no_file_over_500_lines():
    found = long_files(ROOT)
    assert found == {}, "over 500 lines:\n" + "\n".join(f"{p}: {n}" for p, n in sorted(found.items()))


# -- the checkers fail when they should --------------------------------------------

def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


@pytest.fixture
def bad_package(tmp_path) -> Path:
    """A small jenkins_broker with a cycle through a function-level import and a package
    re-export, a domain module that imports the web layer, and an import that only a type
    checker sees."""
    write(tmp_path / "plugin", {
        "jenkins_broker/__init__.py": "",
        "jenkins_broker/errors.py": "",
        "jenkins_broker/transport.py": "from .errors import *\n",
        "jenkins_broker/domain/__init__.py": "",
        "jenkins_broker/domain/leases.py": (
            "from typing import TYPE_CHECKING\nfrom .. import errors\n"
            "if TYPE_CHECKING:\n    from ..jenkins import client\n"
            "def f():\n    from ..web import Thing\n"),
        "jenkins_broker/web/__init__.py": "from .creds import Thing\n",
        "jenkins_broker/web/creds.py": "import jenkins_broker.domain.leases\nThing = 1\n",
        "jenkins_broker/jenkins/__init__.py": "",
        "jenkins_broker/jenkins/client.py": "from ..domain import leases\nfrom jenkins_broker import transport\n",
    })
    return tmp_path / "plugin" / "jenkins_broker"


def test_the_graph_resolves_imports_and_skips_type_checking(bad_package):
    graph = import_graph(bad_package)
    assert graph["jenkins_broker.domain.leases"] == {"jenkins_broker.errors": 2, "jenkins_broker.web": 6}
    assert graph["jenkins_broker.web"] == {"jenkins_broker.web.creds": 1}
    assert graph["jenkins_broker.jenkins.client"] == {"jenkins_broker.domain.leases": 1,
                                                      "jenkins_broker.transport": 2}
    assert graph["jenkins_broker.transport"] == {"jenkins_broker.errors": 1}


def test_a_cycle_is_found_and_named(bad_package):
    graph = import_graph(bad_package)
    assert [describe(c, graph) for c in cycles(graph)] == [
        "jenkins_broker.domain.leases -> jenkins_broker.web -> jenkins_broker.web.creds"
        " -> jenkins_broker.domain.leases (jenkins_broker.domain.leases line 6;"
        " jenkins_broker.web line 1; jenkins_broker.web.creds line 1)"]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) == []
    assert cycles({"a": {"b": 1}, "b": {"a": 1}, "c": {"d": 1}, "d": {"c": 1}}) == [
        ["a", "b", "a"], ["c", "d", "c"]]


def test_a_layer_violation_is_found(bad_package):
    assert layer_violations(import_graph(bad_package)) == [
        "jenkins_broker.domain.leases (line 6) imports jenkins_broker.web"]
    assert layer_violations({"jenkins_broker.domain.x": {"jenkins_broker.transport": 3},
                             "jenkins_broker.vault.y": {"jenkins_broker.commands.cli": 4},
                             "jenkins_broker.errors": {"jenkins_broker.domain": 5}}) == [
        "jenkins_broker.domain.x (line 3) imports jenkins_broker.transport",
        "jenkins_broker.errors (line 5) imports jenkins_broker.domain",
        "jenkins_broker.vault.y (line 4) imports jenkins_broker.commands.cli"]


def test_a_missing_path_or_an_unnamed_package_is_found(bad_package):
    repo = bad_package.parent.parent
    write(repo, {"tests/test_x.py": ""})
    text = ("`domain/leases.py` `tests/test_x.py::test_y` `domain/` `domain/gone.py` `tests/gone.py`\n"
            "`jenkins/creds/<role>` `sys/leases/renew` `web/*.py` `jenkins/*.yaml` `errors.py/`\n"
            "```text\n`fenced/away.py`\n```\n"
            "plugin/jenkins_broker/ has web/ and jenkins/creds/<role>\n")
    assert missing_paths(text, repo, bad_package) == [
        "domain/gone.py", "errors.py/", "jenkins/*.yaml", "tests/gone.py"]
    assert unnamed_packages(text, bad_package) == ["jenkins"]


def test_long_files_are_found(tmp_path):
    write(tmp_path, {"plugin/a.py": "x\n" * 501, "plugin/b.py": "x\n" * 500,
                     "tests/c.py": "x\n" * 600, "plugin/vaultplugin/proto/d_pb2.py": "x\n" * 900,
                     "tests/__pycache__/e.py": "x\n" * 900})
    assert long_files(tmp_path) == {"plugin/a.py": 501, "tests/c.py": 600}
