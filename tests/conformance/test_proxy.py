"""``bao proxy`` against both modes: auto_auth with a token file, ``api_proxy`` adding that
token to requests that carry none, and a ``cache`` of leased answers.

What the proxy does with a second identical read (answers it from its cache, or forwards it
and mints again) is recorded per mode (``record_property("proxy_second_read", ...)``, printed
with ``-s``), not required: the cache is the proxy's business, not the front's.
"""

from __future__ import annotations

import socket

import pytest
import requests

from tests.support import free_port
from tests.support.baoprocs import BaoProcess, listener_stanza, token_file_auth, vault_stanza

pytestmark = pytest.mark.integration


def accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_client_without_a_token_reads_through_the_proxy(vault_front, tmp_path, record_property):
    mode = vault_front.mode
    token_path = tmp_path / "vault-token"
    token_path.write_text(vault_front.token(), encoding="utf-8")
    token_path.chmod(0o600)
    port = free_port()
    config = (vault_stanza(vault_front.addr) + token_file_auth(token_path)
              + "api_proxy {\n  use_auto_auth_token = true\n}\ncache {}\n" + listener_stanza(port))
    url = f"http://127.0.0.1:{port}/v1/jenkins/creds/ci-bot"
    before = vault_front.token_uuids()
    with BaoProcess("proxy", config, tmp_path / "proxy") as proxy:
        proxy.wait_for(lambda: accepting(port), 15, f"[{mode}] the proxy's listener")

        def read_once():
            answer = requests.get(url, timeout=15)  # no X-Vault-Token: the proxy adds its own
            return answer if answer.status_code == 200 else None
        # Until auto_auth has logged in, the proxy forwards without a token (403, nothing minted).
        first = proxy.wait_for(read_once, 15, f"[{mode}] a read through the proxy to answer 200")
        secret = first.json()
        proxy.secrets.append(secret["data"]["token"])
        assert secret["lease_id"].startswith("jenkins/creds/ci-bot/"), proxy.tail()
        status = vault_front.whoami(secret["data"]["token"])
        assert status == 200, f"the token read through the proxy answered {status}{proxy.tail()}"

        second = requests.get(url, timeout=15)
        assert second.status_code == 200, f"{second.status_code}{proxy.tail()}"
        again = second.json()
        proxy.secrets.append(again["data"]["token"])
        cached = again["lease_id"] == secret["lease_id"]
        same_token = again["data"]["token"] == secret["data"]["token"]
        assert cached == same_token, f"one lease, two tokens (or the reverse){proxy.tail()}"
        minted = len(vault_front.token_uuids() - before)
        assert minted == (1 if cached else 2), f"{minted} tokens minted for two reads{proxy.tail()}"
        what = (f"cached (X-Cache: {second.headers.get('X-Cache')}, one lease)" if cached
                else f"minted again (X-Cache: {second.headers.get('X-Cache')}, a second lease)")
        record_property("proxy_second_read", what)
        print(f"\n[{mode}] a second read through bao proxy: {what}")
        for lease_id in {secret["lease_id"], again["lease_id"]}:
            vault_front.cli("lease", "revoke", lease_id, token=vault_front.root)
