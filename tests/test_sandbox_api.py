"""The sandbox's endpoints: replies, validation messages, simulation and publishing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from test_sandbox_support import (
    DATA_PROTECTION,
    FIRE_SAFETY,
    MANUAL_HANDLING,
    SignedClient,
)

from sandbox.server import SandboxServer

CODE = re.compile(r"^[0-9a-f]{13}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ZERO_DATE = "0000-00-00 00:00:00"
CUSTOMER_SERVICE = "60c8adc699cf4"
RESTRICTED_RELEASE = "60dd843da8db9"  # online-private, learner_access restricted
SCORM_RELEASE = "63da38278cd2f"  # Data Protection, scorm, version 3
ONLINE_RELEASE = "65e5d91287c50"  # Data Protection, online-public
OFFLINE_RELEASE = "6099542d33232"  # Fire Safety, offline-backup


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[SignedClient]:
    signed_client = SignedClient(sandbox.base_url)
    yield signed_client
    signed_client.close()


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(publish_delay=0.4) as server:
        yield server


def _all_releases(server: SandboxServer) -> dict[str, list[dict[str, Any]]]:
    return {
        project["project_code"]: server.releases(project["project_code"])
        for project in server.projects()
    }


def _message(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/json"
    return str(response.json()["message"])


def test_projects_list(client: SignedClient) -> None:
    response = client.call("GET", "projects")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    projects = response.json()
    assert len(projects) == 6
    for project in projects:
        assert CODE.match(project["project_code"])
        assert project["name"]
        assert DATE.match(project["created"])
    codes = [project["project_code"] for project in projects]
    assert DATA_PROTECTION in codes
    assert MANUAL_HANDLING in codes


def test_account_info(client: SignedClient) -> None:
    response = client.call("GET", "account")
    assert response.status_code == 200
    account = response.json()
    assert account["company_name"] == "Northwind Learning Ltd"
    assert "@" in account["company_email"]
    assert account["subscription_level"]
    assert account["project_count"] == "6"


def test_releases_list_record_format(client: SignedClient) -> None:
    response = client.call("GET", "releases", [("project_code", DATA_PROTECTION)])
    assert response.status_code == 200
    releases = response.json()
    assert [r["release_code"] for r in releases] == [ONLINE_RELEASE, SCORM_RELEASE]
    for release in releases:
        assert CODE.match(release["release_code"])
        assert release["status"] == "complete"
        assert re.match(r"^\d+$", release["version_number"])
        assert DATE.match(release["created"])
        assert release["modified"] == ZERO_DATE or DATE.match(release["modified"])
        assert release["download_url"] is None
        assert release["launch_url"].startswith("http://127.0.0.1:")
        assert re.match(r"^\d+$", release["view_count"])
        assert "project" not in release
    scorm = releases[1]
    assert scorm["release_mode"] == "scorm"
    assert scorm["version_number"] == "3"
    assert releases[0]["modified"] == ZERO_DATE


def test_demo_data_covers_modes(sandbox: SandboxServer) -> None:
    modes = {
        (release["release_mode"], release["status"])
        for releases in _all_releases(sandbox).values()
        for release in releases
    }
    assert ("scorm", "complete") in modes
    assert ("offline-backup", "complete") in modes
    assert ("online-public", "complete") in modes
    assert ("online-private", "complete") in modes


def test_releases_of_project_without_releases(client: SignedClient) -> None:
    response = client.call("GET", "releases", [("project_code", MANUAL_HANDLING)])
    assert response.status_code == 200
    assert response.json() == []


def test_details_of_scorm_release(client: SignedClient) -> None:
    response = client.details(SCORM_RELEASE)
    assert response.status_code == 200
    details = response.json()
    assert details["release_code"] == SCORM_RELEASE
    assert details["project"] == {
        "project_code": DATA_PROTECTION,
        "name": "Data Protection Essentials",
    }
    assert details["download_url"].startswith(client.base_url.replace("/v2/", "/"))


def test_details_of_online_release(client: SignedClient) -> None:
    details = client.details(ONLINE_RELEASE).json()
    assert details["release_mode"] == "online-public"
    assert details["download_url"] is None
    assert details["project"]["project_code"] == DATA_PROTECTION


def test_launch_link_anonymous(client: SignedClient) -> None:
    response = client.call("GET", "releases/launch", [("release_code", ONLINE_RELEASE)])
    assert response.status_code == 200
    link = response.json()
    assert link["link_type"] == "anonymous"
    page = requests.get(link["url"], timeout=5)
    assert page.status_code == 200
    assert "Data Protection Essentials" in page.text


def test_launch_link_for_learner(client: SignedClient) -> None:
    fields = [
        ("release_code", ONLINE_RELEASE),
        ("name", "Zoë Ångström"),
        ("email_address", "zoe@example.com"),
    ]
    link = client.call("GET", "releases/launch", fields).json()
    assert link["link_type"] == "learner"
    page = requests.get(link["url"], timeout=5)
    assert "Welcome, Zoë Ångström." in page.text


def test_launch_restricted_needs_email(client: SignedClient) -> None:
    response = client.call(
        "GET", "releases/launch", [("release_code", RESTRICTED_RELEASE)]
    )
    assert response.status_code == 400
    assert "email_address" in _message(response)
    allowed = client.call(
        "GET",
        "releases/launch",
        [("release_code", RESTRICTED_RELEASE), ("email_address", "a@example.com")],
    )
    assert allowed.status_code == 200


def test_launch_invalid_email(client: SignedClient) -> None:
    response = client.call(
        "GET",
        "releases/launch",
        [("release_code", ONLINE_RELEASE), ("email_address", "not-an-address")],
    )
    assert response.status_code == 400
    assert "Invalid email_address 'not-an-address'" in _message(response)


def test_create_reply(sandbox: SandboxServer, client: SignedClient) -> None:
    response = client.create(
        project_code=MANUAL_HANDLING, release_mode="scorm", description="First"
    )
    assert response.status_code == 200
    reply = response.json()
    assert reply["message"] == "Release is being prepared."
    assert CODE.match(reply["release_code"])
    listed = sandbox.releases(MANUAL_HANDLING)
    assert [release["release_code"] for release in listed] == [reply["release_code"]]
    assert listed[0]["description"] == "First"
    assert listed[0]["version_number"] == "1"


def test_create_inherits_project_settings(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    code = client.create(
        project_code=CUSTOMER_SERVICE, release_mode="online-public"
    ).json()["release_code"]
    record = client.details(code).json()
    assert record["learner_access"] == "identify"
    assert record["description"] == ""


def test_create_with_all_fields(sandbox: SandboxServer, client: SignedClient) -> None:
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="online-private",
        description="Révision d’été – ünïcode & symbols +=?",
        learner_access="restricted",
        xapi_lrs_endpoint_url="https://lrs.example.com/xapi/",
        xapi_lrs_endpoint_username="lrs-user",
        xapi_lrs_endpoint_password="LrsPassw0rd!",
    )
    assert response.status_code == 200, response.text
    details = client.details(response.json()["release_code"])
    record = details.json()
    assert record["description"] == "Révision d’été – ünïcode & symbols +=?"
    assert record["learner_access"] == "restricted"
    assert record["lrs_endpoint"] == "https://lrs.example.com/xapi/"
    assert "LrsPassw0rd!" not in details.text
    listed = client.call("GET", "releases", [("project_code", DATA_PROTECTION)])
    assert "LrsPassw0rd!" not in listed.text


def test_publishing_then_complete(
    slow_sandbox: SandboxServer,
) -> None:
    client = SignedClient(slow_sandbox.base_url)
    code = client.create(project_code=MANUAL_HANDLING, release_mode="scorm").json()[
        "release_code"
    ]

    publishing = client.details(code).json()
    assert publishing["status"] == "publishing"
    assert publishing["download_url"] is None
    assert publishing["launch_url"] == ""

    time.sleep(0.5)
    complete = client.details(code).json()
    assert complete["status"] == "complete"
    assert complete["version_number"] == "1"
    assert complete["download_url"]
    assert DATE.match(complete["modified"])
    client.close()


def test_zero_delay_complete_on_next_read(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    code = client.create(project_code=MANUAL_HANDLING, release_mode="scorm").json()[
        "release_code"
    ]
    assert sandbox.releases(MANUAL_HANDLING)[0]["release_code"] == code
    assert sandbox.releases(MANUAL_HANDLING)[0]["status"] == "complete"


def test_publishing_queue_one_at_a_time(slow_sandbox: SandboxServer) -> None:
    client = SignedClient(slow_sandbox.base_url)
    first = client.create(project_code=MANUAL_HANDLING, release_mode="scorm").json()
    second = client.create(
        project_code=MANUAL_HANDLING, release_mode="online-public"
    ).json()
    time.sleep(0.5)
    statuses = {
        release["release_code"]: release["status"]
        for release in slow_sandbox.releases(MANUAL_HANDLING)
    }
    assert statuses[first["release_code"]] == "complete"
    assert statuses[second["release_code"]] == "publishing"
    time.sleep(0.4)
    assert all(
        release["status"] == "complete"
        for release in slow_sandbox.releases(MANUAL_HANDLING)
    )
    client.close()


def test_re_release_raises_version(slow_sandbox: SandboxServer) -> None:
    client = SignedClient(slow_sandbox.base_url)
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="scorm",
        release_code=SCORM_RELEASE,
        description="Fixed a typo",
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "release_code": SCORM_RELEASE,
        "message": "Release is being prepared.",
    }

    during = client.details(SCORM_RELEASE).json()
    assert during["status"] == "publishing"
    assert during["version_number"] == "3"
    assert during["description"] == "Fixed a typo"
    assert during["launch_url"]  # The previous version stays online.

    time.sleep(0.5)
    after = client.details(SCORM_RELEASE).json()
    assert after["status"] == "complete"
    assert after["version_number"] == "4"
    codes = [r["release_code"] for r in slow_sandbox.releases(DATA_PROTECTION)]
    assert codes.count(SCORM_RELEASE) == 1
    client.close()


def test_re_release_while_publishing(slow_sandbox: SandboxServer) -> None:
    client = SignedClient(slow_sandbox.base_url)
    fields = {
        "project_code": DATA_PROTECTION,
        "release_mode": "scorm",
        "release_code": SCORM_RELEASE,
    }
    assert client.create(**fields).status_code == 200
    again = client.create(**fields)
    assert again.status_code == 400
    assert "still publishing" in _message(again)
    client.close()


def test_simulation_of_new_release(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    before = _all_releases(sandbox)
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="scorm",
        description="Dry run",
        simulation_mode="simulation",
    )
    assert response.status_code == 200
    reply = response.json()
    assert CODE.match(reply["release_code"])
    assert "Simulation" in reply["message"]
    assert _all_releases(sandbox) == before
    assert client.details(reply["release_code"]).status_code == 404


def test_simulation_of_re_release(sandbox: SandboxServer, client: SignedClient) -> None:
    before = _all_releases(sandbox)
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="scorm",
        release_code=SCORM_RELEASE,
        simulation_mode="simulation",
    )
    assert response.status_code == 200
    assert response.json()["release_code"] == SCORM_RELEASE
    assert _all_releases(sandbox) == before


def test_simulation_still_validates(
    sandbox: SandboxServer, client: SignedClient
) -> None:
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="pdf",
        simulation_mode="simulation",
    )
    assert response.status_code == 400
    assert "release_mode 'pdf'" in _message(response)


CREATE_ERRORS = [
    pytest.param(
        {"release_mode": "scorm"}, 404, ["Missing project_code"], id="missing-project"
    ),
    pytest.param(
        {"project_code": "0000000000aaa", "release_mode": "scorm"},
        404,
        ["Project '0000000000aaa' not found"],
        id="unknown-project",
    ),
    pytest.param(
        {"project_code": DATA_PROTECTION},
        400,
        ["Missing release_mode", "online-public", "offline-backup"],
        id="missing-mode",
    ),
    pytest.param(
        {"project_code": DATA_PROTECTION, "release_mode": "pdf"},
        400,
        ["Invalid release_mode 'pdf'", "scorm"],
        id="invalid-mode",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "learner_access": "everyone",
        },
        400,
        ["Invalid learner_access 'everyone'", "identify"],
        id="invalid-learner-access",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "release_code": "0000000000bbb",
        },
        404,
        ["Release '0000000000bbb' not found"],
        id="unknown-release",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "offline-backup",
            "release_code": OFFLINE_RELEASE,
        },
        400,
        [f"Release '{OFFLINE_RELEASE}' belongs to project '{FIRE_SAFETY}'"],
        id="release-of-other-project",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "online-public",
            "release_code": SCORM_RELEASE,
        },
        400,
        ["Invalid release_mode 'online-public' for re-release", "'scorm'"],
        id="re-release-other-mode",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "xapi_lrs_endpoint_url": "ftp://lrs.example.com/",
        },
        400,
        ["Invalid xapi_lrs_endpoint_url 'ftp://lrs.example.com/'"],
        id="lrs-url-scheme",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "xapi_lrs_endpoint_url": "https://",
        },
        400,
        ["Invalid xapi_lrs_endpoint_url 'https://'", "host name"],
        id="lrs-url-no-host",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "xapi_lrs_endpoint_url": "lrs.example.com/xapi",
        },
        400,
        ["Invalid xapi_lrs_endpoint_url 'lrs.example.com/xapi'"],
        id="lrs-url-not-url",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "simulation_mode": "yes",
        },
        400,
        ["Invalid simulation_mode 'yes'"],
        id="invalid-simulation-mode",
    ),
    pytest.param(
        {
            "project_code": DATA_PROTECTION,
            "release_mode": "scorm",
            "lrs_endpoint_url": "https://lrs.example.com/",
        },
        400,
        ["Unknown field 'lrs_endpoint_url'", "xapi_lrs_endpoint_url"],
        id="unknown-field",
    ),
]


@pytest.mark.parametrize(("fields", "status", "phrases"), CREATE_ERRORS)
def test_create_validation(
    sandbox: SandboxServer,
    client: SignedClient,
    fields: dict[str, str],
    status: int,
    phrases: list[str],
) -> None:
    before = _all_releases(sandbox)
    response = client.create(**fields)
    assert response.status_code == status
    message = _message(response)
    for phrase in phrases:
        assert phrase in message
    assert _all_releases(sandbox) == before


def test_lrs_url_error_hides_userinfo(client: SignedClient) -> None:
    response = client.create(
        project_code=DATA_PROTECTION,
        release_mode="scorm",
        xapi_lrs_endpoint_url="ftp://user:S3cretPw@lrs.example.com/",
    )
    assert response.status_code == 400
    assert "S3cretPw" not in response.text


@pytest.mark.parametrize(
    ("path", "fields", "status", "phrase"),
    [
        ("releases", [], 404, "Missing project_code"),
        ("releases", [("project_code", "0000000000aaa")], 404, "not found"),
        ("releases/details", [], 404, "Missing release_code"),
        (
            "releases/details",
            [("release_code", "0000000000bbb")],
            404,
            "Release '0000000000bbb' not found",
        ),
        ("releases/launch", [], 404, "Missing release_code"),
        ("projects", [("page", "2")], 400, "Unknown field 'page'"),
    ],
)
def test_read_validation(
    client: SignedClient,
    path: str,
    fields: list[tuple[str, str]],
    status: int,
    phrase: str,
) -> None:
    response = client.call("GET", path, fields)
    assert response.status_code == status
    assert phrase in _message(response)


def test_wrong_method(client: SignedClient) -> None:
    response = client.call(
        "GET", "releases/create", [("project_code", MANUAL_HANDLING)]
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "releases/create takes POST" in _message(response)


def test_unknown_endpoint(client: SignedClient) -> None:
    response = client.send("GET", "courses", nonce=None)
    assert response.status_code == 404
    assert "Unknown endpoint '/v2/courses'" in _message(response)


def test_post_with_query_string(client: SignedClient) -> None:
    nonce = client.fetch_nonce("releases/create", "POST")
    response = client.send(
        "POST", f"releases/create?project_code={DATA_PROTECTION}", nonce=nonce
    )
    assert response.status_code == 400
    assert "form body" in _message(response)


def test_post_json_body(sandbox: SandboxServer, client: SignedClient) -> None:
    response = client.session.post(
        sandbox.base_url + "releases/create",
        json={"project_code": DATA_PROTECTION},
        timeout=5,
    )
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in _message(response)
