"""``jenkins-broker plugin build``: the plugin as one file whose SHA-256 covers its code.

OpenBao checks the SHA-256 of the registered file before each start; a wrapper
that runs code from elsewhere would make that check meaningless. So the file is
a zip application: a ``#!`` line naming the interpreter, then a zip holding the
engine's modules and every third-party module it imports, all pure Python
(compiled extensions cannot be imported from a zip, and need none: protobuf
runs its pure-Python implementation, multidict and charset_normalizer their
pure-Python fallbacks, the certificate is made with the pure-Python ``ecdsa``).

The interpreter runs with ``-I -S``: no site-packages, no ``PYTHON*``
variables, no user site; only the standard library and the zip. ``__main__``
also drops any other path entry and import hook it finds, for interpreters
named through ``/usr/bin/env``, which cannot take flags. The zip is written
reproducibly (sorted entries, fixed timestamps), so the same sources and
dependencies give the same SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import marshal
import os
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import __version__

#: The engine's own modules (relative to the ``jenkins_broker`` package).
OWN = ("__init__.py", "errors.py", "durations.py", "transport.py", "values.py", "domain/__init__.py",
       "domain/roles.py", "domain/records.py", "domain/jenkins_config.py", "jenkins", "vaultplugin")
#: Third-party modules the engine imports at run time: import name -> distribution.
THIRD_PARTY = {
    "grpclib": "grpclib", "h2": "h2", "hpack": "hpack", "hyperframe": "hyperframe",
    "multidict": "multidict", "google.protobuf": "protobuf", "ecdsa": "ecdsa", "six": "six",
    "urllib3": "urllib3", "certifi": "certifi",
    # multidict needs it before Python 3.11; elsewhere it is only named under TYPE_CHECKING.
    "typing_extensions": "typing_extensions",
}
OPTIONAL = {"typing_extensions"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".c", ".h", ".pxd", ".pyx", ".proto")
_SKIP_DIRS = {"__pycache__", "tests", "test"}
_STAMP = (1980, 1, 1, 0, 0, 0)
MAIN = '''\
"""jenkins-broker's secrets-engine plugin for OpenBao and Vault (built by `jenkins-broker plugin build`)."""
import os
import sys
import sysconfig

# Compiled extensions cannot load from this zip: use the pure-Python implementations.
os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
os.environ["MULTIDICT_NO_EXTENSIONS"] = "1"


def _isolate():
    """Import only from this file and the standard library."""
    archive = os.path.dirname(os.path.abspath(__file__))
    stdlib = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}

    def ours(entry):
        real = os.path.realpath(entry or ".")
        if real == os.path.realpath(archive):
            return True
        if "site-packages" in real or "dist-packages" in real:
            return False
        return any(real == top or real.startswith(top + os.sep) for top in stdlib) or \\
            (real.endswith(".zip") and os.path.basename(real).startswith("python"))

    sys.path[:] = [entry for entry in sys.path if ours(entry)]
    if sys.path[:1] != [archive]:
        sys.path.insert(0, archive)
    sys.meta_path[:] = [finder for finder in sys.meta_path
                        if getattr(finder, "__module__", "").startswith(("importlib", "_frozen_importlib"))
                        or finder.__class__.__module__.startswith(("importlib", "_frozen_importlib"))]
    for name in [n for n in sys.modules if n.split(".")[0] in ("jenkins_broker", "google")]:
        del sys.modules[name]


_isolate()
from jenkins_broker.vaultplugin.command import main_plugin  # noqa: E402

sys.exit(main_plugin())
'''


@dataclass(frozen=True)
class BuildResult:
    """The file written and its SHA-256 (hex), as the plugin catalog wants it."""

    path: Path
    sha256: str
    size: int
    python: str

    def instructions(self, *, catalog_name: str = "jenkins") -> str:
        """What ``plugin build`` prints: the file, its hash, and the commands to register it."""
        name = self.path.name
        lines = [f"Wrote {self.path} ({self.size / 1_000_000:.1f} MB, runs with {self.python})",
                 f"SHA-256: {self.sha256}", "",
                 "The file must be in the server's plugin_directory. Register and enable it:", ""]
        for tool in ("bao", "vault"):
            lines += [f"  {tool} plugin register -sha256={self.sha256} -command={name} secret {catalog_name}",
                      f"  {tool} secrets enable -path=jenkins {catalog_name}", ""]
        lines += ["After a rebuild, register the new SHA-256 and run", "",
                  f"  bao plugin reload -plugin={catalog_name}", ""]
        return "\n".join(lines)


def _own_files(package_root: Path):
    for entry in OWN:
        source = package_root / entry
        if source.is_file():
            yield source, f"jenkins_broker/{entry}"
            continue
        yield from _tree(source, f"jenkins_broker/{entry}")


def _tree(folder: Path, prefix: str):
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or _SKIP_DIRS & set(relative.parts[:-1]) or path.name.endswith(_SKIP_SUFFIXES):
            continue
        yield path, f"{prefix}/{relative.as_posix()}"


def _third_party_files():
    for module, dist in THIRD_PARTY.items():
        spec = importlib.util.find_spec(module)
        if spec is None and module in OPTIONAL:
            continue
        if spec is None:
            raise RuntimeError(f"{module} is not installed: install jenkins-broker with its plugin extra "
                               "(pip install 'jenkins-broker[plugin]')")
        arcname = module.replace(".", "/")
        if spec.submodule_search_locations:
            yield from _tree(Path(next(iter(spec.submodule_search_locations))), arcname)
        elif spec.origin is not None:
            yield Path(spec.origin), f"{arcname}.py"
        else:
            raise RuntimeError(f"{module} has no source file to bundle")
        yield from _licenses(dist)


def _licenses(dist: str):
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return
    for file in files:
        text = str(file)
        if ".dist-info/" in text and any(word in file.name.upper() for word in ("LICENSE", "COPYING", "NOTICE")):
            yield Path(file.locate()), f"licenses/{dist}/{file.name}"


def _versions() -> dict[str, str]:
    found = {}
    for dist in sorted(set(THIRD_PARTY.values())):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def default_python() -> str:
    """The interpreter running this build, outside any virtualenv (the plugin needs only its stdlib)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _check_python(python: str) -> tuple[int, ...] | None:
    """The version of ``python`` as (major, minor), or None when it cannot be run here."""
    if " " in python or not os.path.exists(python):
        return None  # "/usr/bin/env python3", or a path on another host: cannot be checked here
    try:
        found = subprocess.run([python, "-I", "-S", "-c", "import sys, ssl; print(*sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{python} does not run as a Python interpreter with ssl: {exc}") from None
    if tuple(map(int, found)) < (3, 10):
        raise RuntimeError(f"{python} is Python {'.'.join(found)}; the plugin needs 3.10 or later")
    return tuple(map(int, found))


def _bytecode(source: bytes, arcname: str) -> bytes:
    # Unchecked hash-based .pyc (PEP 552): zipimport loads it without looking at the
    # .py beside it, and its content is covered by the file's SHA-256 like the source.
    code = compile(source, arcname, "exec", dont_inherit=True, optimize=0)
    return importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + \
        importlib.util.source_hash(source) + marshal.dumps(code)


def build_archive(python: str, *, bytecode: bool = True) -> bytes:
    """The plugin file's bytes: the ``#!`` line, then the reproducible zip.

    With ``bytecode`` (only when ``python`` is the same version as the one
    building), every module is also stored compiled, so the plugin starts
    without compiling anything: zipimport cannot cache bytecode itself.
    """
    package_root = Path(__file__).resolve().parents[1]
    # zipimport does not do namespace packages: google/ becomes a regular one.
    entries: dict[str, bytes] = {"__main__.py": MAIN.encode("utf-8"), "google/__init__.py": b""}
    for source, arcname in [*_own_files(package_root), *_third_party_files()]:
        entries[arcname] = source.read_bytes()
    if bytecode:
        for arcname in [name for name in entries if name.endswith(".py") and name != "__main__.py"]:
            entries[arcname + "c"] = _bytecode(entries[arcname], arcname)
    entries["jenkins_broker_plugin.json"] = json.dumps(
        {"jenkins_broker": __version__, "python": python, "dependencies": _versions()},
        indent=2, sort_keys=True).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[arcname], compresslevel=9)
    shebang = f"#!{python}\n" if " " in python else f"#!{python} -IS\n"
    return shebang.encode("utf-8") + buffer.getvalue()


def build_plugin(output: str | os.PathLike, *, python: str | None = None,
                 name: str = "jenkins-broker-plugin") -> BuildResult:
    """Write the plugin file ``name`` into ``output`` (created if needed); returns what was written.

    Raises ``RuntimeError`` when a dependency is missing or ``python`` is not a
    usable interpreter.
    """
    python = python or default_python()
    version = _check_python(python)
    if "/" in name or not name:
        raise ValueError(f"the plugin file name {name!r} must be a plain file name")
    data = build_archive(python, bytecode=version == tuple(sys.version_info[:2]))
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    temporary = folder / f".{name}.tmp"
    temporary.write_bytes(data)
    temporary.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(temporary, target)
    return BuildResult(path=target.resolve(), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       python=python)
