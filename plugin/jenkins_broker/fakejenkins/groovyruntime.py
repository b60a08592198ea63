"""Where the fake's script console finds Groovy and Java, and the Groovy it gives them.

The script console (:mod:`.groovyconsole`) runs Groovy 2.4, the version Jenkins core
bundles, on any Java runtime from 8 on: Debian's ``groovy`` package (``apt-get install
groovy``) or a Groovy 2.4 distribution anywhere. Groovy is found, in this order, from
``GROOVY_HOME`` (a distribution's root, with ``lib/groovy-2.4.*.jar``) or from ``groovy``
on ``PATH`` (its real path is ``<home>/bin/groovy``). Java is ``$JAVA_HOME/bin/java`` if
that exists, else ``java`` on ``PATH``. Debian's ``groovy`` launcher script is not used:
it insists on ``/usr/lib/jvm/default-java``, which a JDK installed otherwise lacks.

Compiling the console and the classes takes most of a JVM's start, so the first start
for a version line and a Groovy writes them, compiled, to a cache directory
(``$FAKE_JENKINS_GROOVY_CACHE``, else ``$XDG_CACHE_HOME/jenkins-broker/fake-jenkins-groovy``,
else ``~/.cache/...``; ``FAKE_JENKINS_GROOVY_CACHE=off`` for none), in a sub-directory
named by a digest of the Groovy version and every source; later starts run from it.

The Jenkins-shaped classes live in ``groovy/`` beside this module (package data), one
file per class at its package's path. :func:`sources` renders them for one emulated
version: a line ``//@if FEATURE`` (or ``//@if !FEATURE``, several conditions separated by
spaces all holding) starts a block kept only when the
:class:`~jenkins_broker.fakejenkins.versions.Features` flag says so, ``//@end`` ends it
(blocks nest), and a first line ``//@file-if FEATURE`` keeps or drops the whole file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

from .versions import Features

GROOVY_DIR = Path(__file__).resolve().parent / "groovy"
SERVER_SCRIPT = GROOVY_DIR / "ConsoleServer.groovy"
#: Extra JVM options; the defaults favour a quick start over peak speed.
JVM_OPTIONS = ("-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss2m",
               "-Xmx256m", "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8")

INSTALL_HINT = ("Install Groovy 2.4 and a Java runtime: on Debian or Ubuntu `apt-get install groovy`; "
                "elsewhere unpack Groovy 2.4.21 and set GROOVY_HOME "
                '(README, "Groovy for the fake Jenkins").')

_GROOVY_JAR = re.compile(r"\Agroovy-(\d+\.\d+\.\d+)\.jar\Z")
_DIRECTIVE = re.compile(r"\A\s*//@(file-if|if|end)\b(.*)\Z")


class GroovyUnavailable(RuntimeError):
    """No usable Groovy 2.4 or Java runtime; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class GroovyRuntime:
    java: str
    groovy_home: str
    groovy_version: str
    classpath: tuple[str, ...]

    def command(self, compiled: Path | None = None) -> list[str]:
        """The command that starts the console server: from its source, or from ``compiled``
        (a complete cache directory)."""
        if compiled is not None:
            return [self.java, *JVM_OPTIONS, "-cp", os.pathsep.join([str(compiled), *self.classpath]),
                    SERVER_SCRIPT.stem]
        return [self.java, *JVM_OPTIONS, "-cp", os.pathsep.join(self.classpath),
                "groovy.ui.GroovyMain", str(SERVER_SCRIPT)]


def cache_root(environ=None) -> Path | None:
    """Where compiled consoles are kept, or None (``FAKE_JENKINS_GROOVY_CACHE=off``)."""
    environ = os.environ if environ is None else environ
    given = environ.get("FAKE_JENKINS_GROOVY_CACHE")
    if given is not None:
        return None if given.strip() in ("", "off") else Path(given)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jenkins-broker" / "fake-jenkins-groovy"


def cache_key(runtime: GroovyRuntime, rendered: dict[str, str]) -> str:
    """A digest of what the compiled classes depend on: Groovy's version and every source."""
    digest = hashlib.sha256(f"groovy {runtime.groovy_version}\n".encode())
    digest.update(SERVER_SCRIPT.read_bytes())
    for path, text in sorted(rendered.items()):
        digest.update(f"\0{path}\0{text}".encode())
    return digest.hexdigest()[:32]


def _groovy_home(environ) -> Path:
    given = environ.get("GROOVY_HOME")
    if given:
        return Path(given)
    launcher = shutil.which("groovy", path=environ.get("PATH"))
    if launcher is None:
        raise GroovyUnavailable("`groovy` is not on PATH and GROOVY_HOME is not set. " + INSTALL_HINT)
    return Path(launcher).resolve().parent.parent


def _java(environ) -> str:
    home = environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    found = shutil.which("java", path=environ.get("PATH"))
    if found is None:
        raise GroovyUnavailable("no Java runtime: `java` is not on PATH and JAVA_HOME has none. "
                                + INSTALL_HINT)
    return found


def find_runtime(environ=None) -> GroovyRuntime:
    """The Java and Groovy 2.4 to run the console with; :class:`GroovyUnavailable` if none."""
    environ = os.environ if environ is None else environ
    home = _groovy_home(environ)
    lib = home / "lib"
    jars = sorted(lib.glob("groovy-*.jar")) if lib.is_dir() else []
    core = [(m[1], jar) for jar in jars if (m := _GROOVY_JAR.match(jar.name))]
    if not core:
        raise GroovyUnavailable(f"no groovy-<version>.jar in {lib}. " + INSTALL_HINT)
    version, core_jar = core[-1]
    if not version.startswith("2.4."):
        raise GroovyUnavailable(f"Groovy {version} in {home}, but the script console of Jenkins "
                                "runs Groovy 2.4 and so does this fake. " + INSTALL_HINT)
    json_jar = next((j for j in jars if j.name.startswith("groovy-json")), None)
    if json_jar is None:
        raise GroovyUnavailable(f"no groovy-json jar in {lib}. " + INSTALL_HINT)
    return GroovyRuntime(_java(environ), str(home), version, (str(core_jar), str(json_jar)))


def _holds(condition: str, features: Features) -> bool:
    names = {f.name for f in fields(Features)}
    result = True
    for term in condition.split():
        name = term.lstrip("!")
        if name not in names:
            raise ValueError(f"unknown feature {name!r} in a Groovy source of the fake")
        result = result and (bool(getattr(features, name)) != term.startswith("!"))
    return result


def render(text: str, features: Features) -> str | None:
    """``text`` with the blocks ``features`` lacks left out; ``None`` if the file is left out."""
    lines = text.splitlines()
    first = _DIRECTIVE.match(lines[0]) if lines else None
    if first and first[1] == "file-if":
        if not _holds(first[2], features):
            return None
        lines = lines[1:]
    kept: list[str] = []
    if first and first[1] == "file-if":
        kept.append("")
    stack: list[bool] = []
    for number, line in enumerate(lines, len(kept) + 1):
        directive = _DIRECTIVE.match(line)
        if directive is None:
            kept.append(line if all(stack) else "")
            continue
        if directive[1] == "if":
            stack.append(_holds(directive[2], features))
        elif directive[1] == "end" and stack:
            stack.pop()
        else:
            raise ValueError(f"misplaced //@{directive[1]} on line {number}")
        kept.append("")   # lines are blanked, not dropped: stack traces point at the source
    if stack:
        raise ValueError("//@if without //@end")
    return "\n".join(kept) + "\n"


def sources(features: Features) -> dict[str, str]:
    """``{path: text}`` of the Jenkins-shaped classes as the emulated version has them."""
    rendered = {}
    for path in sorted(GROOVY_DIR.rglob("*.groovy")):
        if path == SERVER_SCRIPT:
            continue
        text = render(path.read_text(encoding="utf-8"), features)
        if text is not None:
            rendered[path.relative_to(GROOVY_DIR).as_posix()] = text
    return rendered
