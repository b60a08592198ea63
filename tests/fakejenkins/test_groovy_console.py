"""The fake's script console runs Groovy for real: one JVM per fake (docs/fake-jenkins-groovy.md).

Output, stack traces and failures as Jenkins' console gives them; the JVM's lifetime (made
on the first script, kept, stopped by pid with the fake and on restart); scripts running
side by side without holding the fake; the answer without Groovy; the rendering of the
Jenkins-shaped sources per version. Tests that need Groovy are skipped without it
(tests/fixtures/jenkins.py), or fail where FAKE_JENKINS_REQUIRE_GROOVY=1.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from jenkins_broker.fakejenkins import groovyruntime, scriptconsole
from jenkins_broker.fakejenkins.groovyruntime import GroovyUnavailable, find_runtime, render
from jenkins_broker.fakejenkins.versions import features_for
from tests.support.processes import alive
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def script(fake, text: str, *, timeout: float = 30.0) -> requests.Response:
    """POST ``text`` to /scriptText as the admin, with a token (no crumb needed)."""
    if not hasattr(fake, "_admin_token"):
        fake._admin_token = fake.add_token("admin", name="console")[1]
    return requests.post(fake.url + "scriptText", auth=("admin", fake._admin_token),
                         data={"script": text}, timeout=timeout)


# -- what a script answers ---------------------------------------------------------------

def test_println_is_the_body_and_a_final_value_adds_a_result_line(fake_jenkins):
    assert script(fake_jenkins, "println(6*7)").text == "42\n"
    assert script(fake_jenkins, "6*7").text == "Result: 42\n"
    assert script(fake_jenkins, "print 'a'; println 'b'; null").text == "ab\n"
    assert script(fake_jenkins, "[1, 2]").text == "Result: [1, 2]\n"
    assert script(fake_jenkins, "def x = 1").text == "Result: 1\n"
    r = script(fake_jenkins, "println 'ü'")
    assert r.status_code == 200 and r.text == "ü\n"
    assert r.headers["Content-Type"] == "text/plain;charset=UTF-8"


def test_a_script_that_throws_answers_200_with_its_stack_trace(fake_jenkins):
    r = script(fake_jenkins, "println 'before'\nthrow new IllegalStateException('boom')")
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert lines[:2] == ["before", "java.lang.IllegalStateException: boom"]
    assert "\tat Script1.run(Script1.groovy:2)" in lines and all(
        line.startswith("\tat ") for line in lines[2:])
    assert r.text.endswith("\n") and not r.text.endswith("\n\n")


def test_causes_come_first_then_caused_as_jenkins_prints_them(fake_jenkins):
    r = script(fake_jenkins, "throw new RuntimeException('outer', new IOException('inner'))")
    text = r.text
    inner, caused, outer = text.partition("\nCaused: java.lang.RuntimeException: outer\n")
    assert inner.startswith("java.io.IOException: inner\n\tat ") and caused
    # Frames the cause shares with the exception it caused are printed once, under it.
    assert "Script1.run" not in inner and "\tat Script1.run(Script1.groovy:1)" in outer
    assert text.count("groovy.lang.GroovyShell.evaluate(GroovyShell.java:") == 3


def test_what_the_fake_jenkins_lacks_fails_as_groovy_does(fake_jenkins):
    unknown_class = script(fake_jenkins, "import hudson.model.FreeStyleProject\nprintln 1")
    assert unknown_class.status_code == 200
    assert unknown_class.text.startswith(
        "org.codehaus.groovy.control.MultipleCompilationErrorsException: startup failed:\n"
        "Script1.groovy: 1: unable to resolve class hudson.model.FreeStyleProject\n")
    missing = script(fake_jenkins, "println Jenkins.get().pluginManager")
    assert missing.text.startswith("groovy.lang.MissingPropertyException: No such property: "
                                   "pluginManager for class: hudson.model.Hudson\n")
    typo = script(fake_jenkins, "User.current().getFulName()")
    assert typo.text.startswith("groovy.lang.MissingMethodException: No signature of method: "
                                "hudson.model.User.getFulName() is applicable for argument "
                                "types: () values: []\n")


def test_the_star_imports_and_the_jenkins_singleton(fake_jenkins):
    assert script(fake_jenkins, "println Jenkins.get().getClass().name").text == "hudson.model.Hudson\n"
    assert script(fake_jenkins, "println Jenkins.instance.is(Jenkins.get())").text == "true\n"
    assert script(fake_jenkins, "println Jenkins.VERSION").text == "2.555.1\n"
    assert script(fake_jenkins, "println Jenkins.get().rootUrl").text == fake_jenkins.url + "\n"
    assert script(fake_jenkins, "println User.current().id").text == "admin\n"


def test_system_out_is_not_the_answer(fake_jenkins):
    assert script(fake_jenkins, "System.out.println('to the log'); println 'answer'").text == "answer\n"


def test_the_page_console_runs_the_script_too(fake_jenkins):
    token = fake_jenkins.add_token("admin", name="page")[1]
    r = requests.post(fake_jenkins.url + "script", auth=("admin", token),
                      data={"script": "println '<b>' + (6*7)"}, timeout=30)
    assert r.status_code == 200 and "<pre>&lt;b&gt;42\n</pre>" in r.text


# -- the JVM -------------------------------------------------------------------------------

def test_one_jvm_per_fake_made_on_the_first_script_and_kept(make_fake_jenkins):
    fake = make_fake_jenkins()
    console = fake.script_console
    assert console.pid is None and console.starts == 0          # nothing until a script comes
    script(fake, "1")
    pid = console.pid
    assert pid is not None and console.info["groovy"].startswith("2.4.")
    for _ in range(5):
        script(fake, "println 1")
    assert console.pid == pid and console.starts == 1


def test_the_jvm_stops_with_the_fake_and_with_a_restart(make_fake_jenkins):
    fake = make_fake_jenkins()
    script(fake, "1")
    first = fake.script_console.pid
    fake.restart()                           # a Jenkins restart ends its JVM
    wait_for(lambda: not alive(first), timeout=10, what="the first JVM to end")
    assert fake.script_console.pid is None
    assert script(fake, "println 2").text == "2\n"
    second = fake.script_console.pid
    assert second != first and fake.script_console.starts == 2
    fake.stop()
    wait_for(lambda: not alive(second), timeout=10, what="the second JVM to end")
    fake.start()                             # started again, it makes a JVM on demand again
    assert script(fake, "println 3").text == "3\n"


def test_a_script_runs_while_the_fake_serves_others(fake_jenkins):
    script(fake_jenkins, "1")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(script, fake_jenkins, "Thread.sleep(2000); println 'slow'")
        time.sleep(0.3)
        began = time.monotonic()
        assert script(fake_jenkins, "println 'fast'").text == "fast\n"
        assert requests.get(fake_jenkins.url + "whoAmI/api/json", timeout=5).status_code == 200
        assert time.monotonic() - began < 1.5
        assert not slow.done()
        assert slow.result(timeout=30).text == "slow\n"


def test_concurrent_scripts_each_get_their_own_answer(fake_jenkins):
    script(fake_jenkins, "1")
    mint = ("def p = User.getById('ci-bot', false).getProperty(jenkins.security.ApiTokenProperty)\n"
            "println p.tokenStore.generateNewToken('t{n}').tokenUuid")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: script(fake_jenkins, mint.format(n=n)).text.strip(),
                                range(16)))
    stored = {t["uuid"]: t["name"] for t in fake_jenkins.tokens("ci-bot")}
    assert sorted(stored.values()) == sorted(f"t{n}" for n in range(16))
    assert [stored[u] for u in answers] == [f"t{n}" for n in range(16)]


def test_stopping_the_fake_ends_a_script_that_never_does(make_fake_jenkins):
    fake = make_fake_jenkins()
    script(fake, "1")
    pid = fake.script_console.pid
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(script, fake, "while (true) { Thread.sleep(50) }")
        time.sleep(0.5)
        began = time.monotonic()
        fake.stop()
        assert time.monotonic() - began < 10
        with pytest.raises(requests.RequestException):
            stuck.result(timeout=15)
    wait_for(lambda: not alive(pid), timeout=10, what="the JVM to end")


# -- the compiled-class cache ----------------------------------------------------------------

def test_later_starts_run_from_the_compiled_cache(make_fake_jenkins, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_JENKINS_GROOVY_CACHE", str(tmp_path))
    first = make_fake_jenkins()
    assert script(first, "println 1").text == "1\n"
    assert first.script_console.info["cached"] is False
    [cached] = [p for p in tmp_path.iterdir()]
    assert (cached / ".complete").is_file() and (cached / "ConsoleServer.class").is_file()
    assert (cached / "hudson" / "model" / "User.class").is_file()
    second = make_fake_jenkins()
    assert script(second, "println User.current().id").text == "admin\n"
    assert second.script_console.info["cached"] is True
    other_line = make_fake_jenkins(version="2.504")           # other classes: another entry
    script(other_line, "1")
    assert len(list(tmp_path.iterdir())) == 2


def test_a_cache_that_fails_is_dropped_and_the_start_made_from_the_sources(
        make_fake_jenkins, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_JENKINS_GROOVY_CACHE", str(tmp_path))
    script(make_fake_jenkins(), "1")
    [cached] = [p for p in tmp_path.iterdir()]
    (cached / "ConsoleServer.class").unlink()               # .complete says otherwise
    fake = make_fake_jenkins()
    assert script(fake, "println 2").text == "2\n"
    assert fake.script_console.info["cached"] is False and fake.script_console.starts == 2
    assert (cached / "ConsoleServer.class").is_file()         # made again


def test_no_cache_when_it_is_off(make_fake_jenkins, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_JENKINS_GROOVY_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fake = make_fake_jenkins()
    assert script(fake, "println 3").text == "3\n"
    assert fake.script_console.info["cached"] is False and list(tmp_path.iterdir()) == []


# -- without Groovy ------------------------------------------------------------------------

def test_without_groovy_a_script_answers_how_to_install_it(make_fake_jenkins, monkeypatch, tmp_path):
    monkeypatch.setenv("GROOVY_HOME", str(tmp_path))
    before = len(scriptconsole.UNAVAILABLE_REASONS)
    try:
        fake = make_fake_jenkins()
        r = script(fake, "println(6*7)")
        assert r.status_code == 200
        assert r.text.startswith(scriptconsole.UNAVAILABLE + f"no groovy-<version>.jar in {tmp_path}")
        assert "apt-get install groovy" in r.text
        assert fake.script_console.pid is None
        assert requests.get(fake.url + "whoAmI/api/json", timeout=5).status_code == 200
    finally:
        del scriptconsole.UNAVAILABLE_REASONS[before:]      # on purpose: not a skip


def test_find_runtime_names_what_is_missing(tmp_path):
    with pytest.raises(GroovyUnavailable, match="`groovy` is not on PATH and GROOVY_HOME is not set"):
        find_runtime({"PATH": str(tmp_path)})
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "groovy-3.0.9.jar").write_bytes(b"")
    with pytest.raises(GroovyUnavailable, match=r"Groovy 3\.0\.9 in .*runs Groovy 2\.4"):
        find_runtime({"GROOVY_HOME": str(tmp_path)})
    (tmp_path / "lib" / "groovy-3.0.9.jar").unlink()
    (tmp_path / "lib" / "groovy-2.4.21.jar").write_bytes(b"")
    (tmp_path / "lib" / "groovy-json-2.4.21.jar").write_bytes(b"")
    with pytest.raises(GroovyUnavailable, match="no Java runtime"):
        find_runtime({"GROOVY_HOME": str(tmp_path), "PATH": str(tmp_path)})
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    found = find_runtime({"GROOVY_HOME": str(tmp_path), "JAVA_HOME": str(tmp_path / "jdk")})
    assert found.java == str(java) and found.groovy_version == "2.4.21"
    assert found.command()[-2:] == ["groovy.ui.GroovyMain", str(groovyruntime.SERVER_SCRIPT)]


@pytest.mark.parametrize("required, outcome", [("", "1 skipped"), ("1", "1 failed")])
def test_a_test_that_needed_groovy_is_skipped_without_it_and_fails_where_required(
        tmp_path, required, outcome):
    env = dict(os.environ, GROOVY_HOME=str(tmp_path), FAKE_JENKINS_REQUIRE_GROOVY=required,
               PYTHONPATH=os.pathsep.join([str(ROOT / "plugin"), str(ROOT)]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-n", "0",
         "tests/fakejenkins/test_scriptconsole.py::test_output_is_exactly_one_line"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in done.stdout, done.stdout[-2000:]
    assert "needs Groovy 2.4 and Java for the fake Jenkins' script console" in done.stdout


# -- the sources, per version ----------------------------------------------------------------

def test_render_keeps_the_blocks_of_the_emulated_version():
    text = ("//@file-if new_tokens\nclass A {\n//@if expiry\n  x\n//@if !revoke_all\n  never\n"
            "//@end\n//@end\n//@if !expiry new_tokens\n  y\n//@end\n}\n")
    current, old = features_for("2.555.1"), features_for("2.504")
    assert render(text, current) == "\nclass A {\n\n  x\n\n\n\n\n\n\n\n}\n"
    assert render(text, old) == "\nclass A {\n\n\n\n\n\n\n\n  y\n\n}\n"
    assert render(text, current).count("\n") == text.count("\n")      # line numbers kept
    assert render(text, features_for("2.107.3")) is None
    with pytest.raises(ValueError, match="unknown feature 'expiri'"):
        render("//@if expiri\n//@end\n", current)
    with pytest.raises(ValueError, match="without //@end"):
        render("//@if expiry\n", current)


def test_the_sources_of_each_version_line():
    names = {v: set(groovyruntime.sources(features_for(v))) for v in ("2.89", "2.107.3", "2.504")}
    assert "jenkins/security/apitoken/ApiTokenStore.groovy" not in names["2.107.3"]
    assert "jenkins/security/apitoken/TokenUuidAndPlainValue.groovy" in names["2.504"]
    assert "jenkins/security/apitoken/TokenUuidAndPlainValue.groovy" not in \
        set(groovyruntime.sources(features_for("2.204")))
    assert "static Jenkins get()" not in groovyruntime.sources(features_for("2.89"))[
        "jenkins/model/Jenkins.groovy"]
