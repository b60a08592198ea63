"""What the deployment checks take for granted holds: the files they read exist, and the
environment variables they take as read outside the settings classes are read there."""

from __future__ import annotations

from tests.support.deploy.files import FILES, READ_ELSEWHERE, ROOT


def test_deployment_files_exist():
    assert [f for f in FILES if not (ROOT / f).is_file()] == []


def test_names_read_outside_the_settings_classes_are_really_read():
    package = ROOT / "plugin" / "jenkins_broker"
    for name, module in READ_ELSEWHERE.items():
        assert f'"{name}"' in (package / module).read_text(encoding="utf-8"), name
