"""The lifecycle is domain code: it reaches Vault, Jenkins and HTTP only through the ports
it is given, so importing it loads no web framework, HTTP client or Vault library."""

import json
import subprocess
import sys

FOREIGN = ("flask", "werkzeug", "hvac", "requests", "urllib3", "cheroot")


def test_the_domain_imports_no_framework_http_or_vault_library():
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import jenkins_broker.domain as domain\n"
        "names = [m.name for m in pkgutil.iter_modules(domain.__path__, 'jenkins_broker.domain.')]\n"
        "assert len(names) >= 10, names\n"
        "for name in names + ['jenkins_broker.values']:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {FOREIGN!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == []
