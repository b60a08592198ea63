"""The helpers of tests/support that the tests and benchmarks rely on to stop what they start."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import WaitTimedOut, alive, free_port, stop_process, wait_for


def test_wait_for_returns_the_first_truthy_value():
    answers = iter([None, 0, "ready"])
    assert wait_for(lambda: next(answers), timeout=5, interval=0.001, what="an answer") == "ready"


def test_wait_for_fails_naming_what_it_waited_for():
    with pytest.raises(WaitTimedOut, match=r"timed out after 0.05s waiting for the moon") as caught:
        wait_for(lambda: False, timeout=0.05, interval=0.01, what="the moon")
    assert isinstance(caught.value, AssertionError) and isinstance(caught.value, TimeoutError)


def test_wait_for_without_what_names_the_predicate():
    def never():
        return False
    with pytest.raises(WaitTimedOut, match="waiting for .*never"):
        wait_for(never, timeout=0.01, interval=0.005)


def test_free_port_can_be_bound():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))



# A parent that starts a grandchild (printing its pid), then waits: what a wrapper does.
_WRAPPER = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n")


def test_stop_process_stops_the_group_of_a_child_in_a_new_session():
    proc = subprocess.Popen([sys.executable, "-c", _WRAPPER], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    grandchild = int(proc.stdout.readline())
    stop_process(proc, timeout=10)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGTERM
    wait_for(lambda: not alive(grandchild), timeout=10, interval=0.01,
             what="the grandchild to be gone with its group")


def test_stop_process_kills_what_ignores_sigterm_and_reaps_it():
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", ignore], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    proc.stdout.readline()  # the handler is in place
    started = time.monotonic()
    stop_process(proc, timeout=0.3)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)  # reaped: no longer our child


def test_stop_process_signals_only_the_pid_of_a_child_in_our_group():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(proc, timeout=10)
    assert proc.returncode == -signal.SIGTERM  # and this test process is still here


def test_stop_process_reaps_a_child_that_has_exited():
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    wait_for(lambda: _exited(proc.pid), timeout=10, interval=0.01, what="the child to exit")
    stop_process(proc)
    assert proc.returncode == 0


def _exited(pid):
    # Whether the child is a zombie, without reaping it (Popen must do that).
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_every_collected_test_has_its_own_node_id():
    """The suite runs in two workers that schedule by node id: a test sharing another's id
    (schemathesis' operations did, on pytest 9) would silently not run."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider",
         "tests/integration/test_schemathesis.py"],
        cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    operations = [i for i in ids if "::test_every_operation_with_the_root_token[" in i]
    assert len(operations) > 10
    assert "tests/integration/test_schemathesis.py::test_every_operation_with_the_root_token[GET /v1/jenkins/creds/{role}]" in ids
    assert len(set(ids)) == len(ids)
