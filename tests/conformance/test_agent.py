"""``bao agent`` against both modes: auto_auth (``token_file``, ``approle``), a template that
renders a Jenkins token to a file and keeps its lease alive, and ``exec`` with an
``env_template`` handing the token to a child process.

Each agent is a process of its own (:class:`~tests.support.baoprocs.BaoProcess`), its config
and log in ``tmp_path``, stopped by its pid at the end of its test whatever happened. A refused
login makes it exit at once (``exit_on_err``): a test then fails at once with the log's tail.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.baoprocs import (
    BaoProcess,
    approle_auth,
    hcl,
    secret_template,
    template_stanza,
    token_file_auth,
    vault_stanza,
)

pytestmark = pytest.mark.integration

#: From the agent's start to its first render, at most (it takes well under a second when
#: it works; a missing answer must not hang the suite).
RENDER_WITHIN = 15.0
#: short-bot's durations (``conftest.ROLES``).
SHORT_TTL, SHORT_MAX_TTL = 10.0, 30.0


def secret_file(path, value: str):
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)
    return path


def rendered(path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


@pytest.fixture
def token_path(vault_front, tmp_path):
    """A file holding a fresh client token, for the ``token_file`` method."""
    return secret_file(tmp_path / "vault-token", vault_front.token())


def test_token_file_agent_renders_renews_and_rerenders_before_max_ttl(vault_front, token_path, tmp_path):
    mode = vault_front.mode
    token_out, lease_out = tmp_path / "jenkins-token", tmp_path / "lease-id"
    config = (vault_stanza(vault_front.addr) + token_file_auth(token_path)
              + template_stanza(secret_template("jenkins/creds/short-bot", ".Data.token"), token_out)
              + template_stanza(secret_template("jenkins/creds/short-bot", ".LeaseID"), lease_out))
    with BaoProcess("agent", config, tmp_path / "agent") as agent:
        agent.wait_for(lambda: rendered(token_out) and rendered(lease_out), RENDER_WITHIN,
                       f"[{mode}] the agent's first render")
        first_at = time.monotonic()
        old_token, old_lease = rendered(token_out), rendered(lease_out)
        agent.secrets.append(old_token)
        status = vault_front.whoami(old_token)
        assert status == 200, f"the rendered token answered {status} in Jenkins{agent.tail()}"
        assert old_lease.startswith("jenkins/creds/short-bot/"), agent.tail()

        # The agent renews the lease before it ends (at about 2/3 of its 10 s).
        agent.wait_for(lambda: (vault_front.lease(old_lease) or {}).get("last_renewal"), SHORT_TTL + 2,
                       f"[{mode}] a renewal of the rendered lease", interval=0.2)

        # Renewals stop at max_ttl: before then the agent reads again and renders a new token.
        agent.wait_for(lambda: rendered(lease_out) not in ("", old_lease)
                       and rendered(token_out) not in ("", old_token),
                       SHORT_MAX_TTL, f"[{mode}] a re-render with a new lease before max_ttl", interval=0.2)
        after = time.monotonic() - first_at
        assert after < SHORT_MAX_TTL, f"re-rendered {after:.1f}s after the first render{agent.tail()}"
        new_token = rendered(token_out)
        agent.secrets.append(new_token)
        status = vault_front.whoami(new_token)
        assert status == 200, f"the re-rendered token answered {status} in Jenkins{agent.tail()}"

        # The old lease ends at its max_ttl, and its token with it.
        left = first_at + SHORT_MAX_TTL + 8 - time.monotonic()
        agent.wait_for(lambda: vault_front.whoami(old_token) == 401, max(left, 1.0),
                       f"[{mode}] the old token to answer 401 once its lease ended", interval=0.2)


def test_approle_agent_renders_a_working_token(vault_front, tmp_path):
    role_id, secret_id = vault_front.approle("conformance-agent")
    out = tmp_path / "jenkins-token"
    config = (vault_stanza(vault_front.addr)
              + approle_auth(secret_file(tmp_path / "role-id", role_id),
                             secret_file(tmp_path / "secret-id", secret_id))
              + template_stanza(secret_template("jenkins/creds/ci-bot", ".Data.token"), out))
    with BaoProcess("agent", config, tmp_path / "agent") as agent:
        agent.secrets.append(secret_id)
        agent.wait_for(lambda: rendered(out), RENDER_WITHIN, f"[{vault_front.mode}] the approle agent's render")
        agent.secrets.append(rendered(out))
        status = vault_front.whoami(rendered(out))
        assert status == 200, f"the rendered token answered {status} in Jenkins{agent.tail()}"


def test_exec_agent_hands_the_token_to_its_child_in_an_env_template(vault_front, token_path, tmp_path):
    """OpenBao's agent has ``exec`` and ``env_template`` (as Vault's: the child starts once every
    env_template rendered, and the agent exits with the child's status)."""
    seen = tmp_path / "child-saw"
    script = f'umask 077; printf %s "$JENKINS_TOKEN" > {seen}'
    config = (vault_stanza(vault_front.addr) + token_file_auth(token_path)
              + f"exec {{\n  command = {json.dumps(['/bin/sh', '-c', script])}\n"
              '  restart_on_secret_changes = "never"\n}\n'
              f'env_template "JENKINS_TOKEN" {{\n  contents = '
              f'{hcl(secret_template("jenkins/creds/ci-bot", ".Data.token"))}\n'
              "  error_on_missing_key = true\n}\n")
    with BaoProcess("agent", config, tmp_path / "agent") as agent:
        agent.wait_for(lambda: rendered(seen), RENDER_WITHIN, f"[{vault_front.mode}] the child to see JENKINS_TOKEN")
        agent.secrets.append(rendered(seen))
        status = vault_front.whoami(rendered(seen))
        assert status == 200, f"the child's JENKINS_TOKEN answered {status} in Jenkins{agent.tail()}"
        agent.wait_for(lambda: not agent.running, 10, "the agent to exit after its child", may_exit=True)
        assert agent.proc is not None and agent.proc.returncode == 0, agent.tail()
