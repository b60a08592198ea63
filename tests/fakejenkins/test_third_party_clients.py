"""Clients we did not write, against the fake: curl (the CloudBees KB recipe) and python-jenkins.

If the fake only agreed with jenkins-broker's own client, these would catch it.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import requests

from tests.fixtures.jenkins import token_url

jenkins = pytest.importorskip("jenkins")           # python-jenkins


def curl(*args: str) -> str:
    out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_cloudbees_kb_recipe_with_real_curl(fake_jenkins, tmp_path):
    jar = str(tmp_path / "jar")
    url = fake_jenkins.url
    crumb = curl("-c", jar, "-u", "ci-bot:botpw",
                 url + 'crumbIssuer/api/xml?xpath=concat(//crumbRequestField,":",//crumb)')
    assert crumb.startswith("Jenkins-Crumb:")
    made = curl("-b", jar, "-u", "ci-bot:botpw", "-H", crumb, "-X", "POST",
                url + "user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/"
                      "generateNewToken", "--data", "newTokenName=x")
    data = json.loads(made)["data"]
    assert data["tokenName"] == "x"
    who = json.loads(curl("-u", "ci-bot:" + data["tokenValue"], url + "whoAmI/api/json"))
    assert who["name"] == "ci-bot" and who["anonymous"] is False


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_recipe_without_the_cookie_jar_fails(fake_jenkins):
    crumb = curl("-u", "ci-bot:botpw",
                 fake_jenkins.url + 'crumbIssuer/api/xml?xpath=concat(//crumbRequestField,":",'
                                    '//crumb)')
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u",
                          "ci-bot:botpw", "-H", crumb, "-X", "POST",
                          token_url(fake_jenkins, "ci-bot", "generateNewToken")],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == "403"


def test_python_jenkins_with_a_token(fake_jenkins):
    _, token = fake_jenkins.add_token("ci-bot", name="pj")
    server = jenkins.Jenkins(fake_jenkins.url, username="ci-bot", password=token, timeout=10)
    me = server.get_whoami()
    assert me["id"] == "ci-bot" and me["_class"] == "hudson.model.User"
    assert server.get_version() == "2.555.1"


def test_python_jenkins_password_post_with_its_crumb_handling(fake_jenkins):
    server = jenkins.Jenkins(fake_jenkins.url, username="ci-bot", password="botpw", timeout=10)
    body = server.jenkins_open(requests.Request(
        "POST", token_url(fake_jenkins, "ci-bot", "generateNewToken"),
        data={"newTokenName": "via-python-jenkins"}))
    data = json.loads(body)["data"]
    assert data["tokenName"] == "via-python-jenkins"
    assert server.crumb["crumbRequestField"] == "Jenkins-Crumb"
    assert jenkins.Jenkins(fake_jenkins.url, "ci-bot", data["tokenValue"]).get_whoami()["id"] \
        == "ci-bot"


def test_python_jenkins_run_script_gets_the_stack_trace(fake_jenkins):
    server = jenkins.Jenkins(fake_jenkins.url, username="admin", password="adminpw", timeout=10)
    with pytest.raises(jenkins.JenkinsException, match="MissingPropertyException"):
        server.run_script("println(Jenkins.instance.numExecutors)")


def test_python_jenkins_revoked_token_is_an_auth_failure(fake_jenkins):
    token_uuid, token = fake_jenkins.add_token("ci-bot", name="doomed")
    server = jenkins.Jenkins(fake_jenkins.url, username="ci-bot", password=token, timeout=10)
    assert server.get_whoami()["id"] == "ci-bot"
    server.jenkins_open(requests.Request("POST", token_url(fake_jenkins, "ci-bot", "revoke"),
                                         data={"tokenUuid": token_uuid}))
    with pytest.raises(jenkins.JenkinsException, match=r"\[401\]"):
        jenkins.Jenkins(fake_jenkins.url, username="ci-bot", password=token).get_whoami()
