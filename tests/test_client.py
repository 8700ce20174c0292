"""The client end to end against the sandbox on 127.0.0.1: every call and every fault.

The sandbox checks each signature with its own implementation of the signing rules,
keeps real state, and injects faults on request. Sleeps between retries are recorded
instead of slept, except where the sandbox needs real time to pass.
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.client import ElucidatClient
from core.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    TimedOutError,
)
from core.models import LearnerAccess, Project, ReleaseMode, ReleaseRequest
from sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SandboxServer

LRS_PASSWORD = "lrs-Secret-2026"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(
    sandbox: SandboxServer, sleeps: list[float]
) -> Iterator[Callable[..., ElucidatClient]]:
    clients: list[ElucidatClient] = []

    def make(**options: Any) -> ElucidatClient:
        options.setdefault("sleep", sleeps.append)
        private_key = options.pop("private_key", DEMO_PRIVATE_KEY)
        client = ElucidatClient(
            sandbox.base_url, DEMO_PUBLIC_KEY, private_key, **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ElucidatClient]) -> ElucidatClient:
    return make_client()


def project_named(client: ElucidatClient, name: str) -> Project:
    return next(p for p in client.list_projects() if p.name == name)


def release_codes(sandbox: SandboxServer, project_code: str) -> list[str]:
    return [record["release_code"] for record in sandbox.releases(project_code)]


# Every call


def test_account(client: ElucidatClient) -> None:
    account = client.account()
    assert account.company_name == "Northwind Learning Ltd"
    assert account.company_email == "learning-team@northwind.example"
    assert account.subscription_level == "Enterprise"


def test_list_projects(client: ElucidatClient, sandbox: SandboxServer) -> None:
    projects = client.list_projects()
    assert [p.project_code for p in projects] == [
        record["project_code"] for record in sandbox.projects()
    ]
    assert projects[0].name == "Data Protection Essentials"
    assert projects[0].created is not None
    assert projects[0].created.year == 2019


def test_list_releases(client: ElucidatClient) -> None:
    project = project_named(client, "Data Protection Essentials")
    releases = client.list_releases(project.project_code)

    modes = sorted(r.release_mode for r in releases)
    scorm = next(r for r in releases if r.mode is ReleaseMode.SCORM)
    assert modes == ["online-public", "scorm"]
    assert scorm.version_number == 3
    assert scorm.view_count == 412
    assert scorm.is_complete


def test_release_details_and_download(client: ElucidatClient) -> None:
    project = project_named(client, "Data Protection Essentials")
    scorm = next(
        r
        for r in client.list_releases(project.project_code)
        if r.mode is ReleaseMode.SCORM
    )
    details = client.release_details(scorm.release_code)
    assert details.download_url
    with client.open_download(details.download_url) as response:
        data = response.raw.read()

    assert details.project is not None
    assert details.project.project_code == project.project_code
    assert details.version_number == 3
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_online_release_has_no_download(client: ElucidatClient) -> None:
    project = project_named(client, "Data Protection Essentials")
    online = next(
        r
        for r in client.list_releases(project.project_code)
        if r.mode is ReleaseMode.ONLINE_PUBLIC
    )
    details = client.release_details(online.release_code)
    assert details.download_url is None
    assert details.launch_url


def test_launch_links(client: ElucidatClient) -> None:
    project = project_named(client, "Data Protection Essentials")
    online = next(
        r
        for r in client.list_releases(project.project_code)
        if r.mode is ReleaseMode.ONLINE_PUBLIC
    )
    anonymous = client.launch_link(online.release_code)
    learner = client.launch_link(
        online.release_code, name="Zoë O'Brien", email="zoe+test@example.com"
    )

    assert anonymous.link_type == "anonymous"
    assert anonymous.url.endswith(f"/launch/{online.release_code}/")
    assert learner.link_type == "learner"
    assert "?learner=" in learner.url


def test_restricted_launch_needs_email(client: ElucidatClient) -> None:
    project = project_named(client, "Customer Service Excellence")
    restricted = client.list_releases(project.project_code)[0]
    with pytest.raises(InvalidRequestError) as caught:
        client.launch_link(restricted.release_code)

    assert caught.value.status == 400
    assert "Missing email_address" in (caught.value.server_message or "")
    assert "Check the e-mail address." in str(caught.value)


def test_simulated_create_changes_nothing(
    client: ElucidatClient, sandbox: SandboxServer
) -> None:
    project = project_named(client, "Manual Handling Basics")
    before = sandbox.releases(project.project_code)
    request = ReleaseRequest(
        project.project_code,
        ReleaseMode.SCORM,
        description="Café — été 2026",
        learner_access=LearnerAccess.IDENTIFY,
    )
    result = client.create_release(request, simulation=True)

    assert result.simulation
    assert result.status == 200
    assert result.release_code
    assert "Simulation mode" in result.message
    assert sandbox.releases(project.project_code) == before


def test_create_release(client: ElucidatClient, sandbox: SandboxServer) -> None:
    project = project_named(client, "Manual Handling Basics")
    request = ReleaseRequest(
        project.project_code,
        ReleaseMode.OFFLINE_BACKUP,
        description="C++ basics + quiz & more = fun  100%",
        lrs_endpoint_url="https://lrs.example.com/xapi/",
        lrs_username="lrs user",
        lrs_password=LRS_PASSWORD,
    )
    result = client.create_release(request, simulation=False)
    listed = client.list_releases(project.project_code)

    assert not result.simulation
    assert result.message == "Release is being prepared."
    assert release_codes(sandbox, project.project_code) == [result.release_code]
    assert listed[0].release_code == result.release_code
    assert listed[0].description == request.description
    assert listed[0].lrs_endpoint == "https://lrs.example.com/xapi/"
    assert listed[0].version_number == 1


def test_re_release(client: ElucidatClient) -> None:
    project = project_named(client, "Fire Safety in the Workplace")
    old = next(
        r
        for r in client.list_releases(project.project_code)
        if r.mode is ReleaseMode.SCORM
    )
    request = ReleaseRequest(
        project.project_code, ReleaseMode.SCORM, release_code=old.release_code
    )
    simulated = client.create_release(request, simulation=True)
    unchanged = client.release_details(old.release_code)
    result = client.create_release(request, simulation=False)
    after = client.release_details(old.release_code)

    assert simulated.release_code == old.release_code
    assert unchanged.version_number == old.version_number
    assert result.release_code == old.release_code
    assert old.version_number is not None
    assert after.version_number == old.version_number + 1


def test_re_release_with_other_mode_names_field(client: ElucidatClient) -> None:
    project = project_named(client, "Fire Safety in the Workplace")
    old = next(
        r
        for r in client.list_releases(project.project_code)
        if r.mode is ReleaseMode.SCORM
    )
    request = ReleaseRequest(
        project.project_code, ReleaseMode.ONLINE_PUBLIC, release_code=old.release_code
    )
    with pytest.raises(InvalidRequestError) as caught:
        client.create_release(request, simulation=True)

    assert caught.value.status == 400
    assert "Check the release mode ('online-public')" in str(caught.value)


def test_invalid_lrs_url_names_field(client: ElucidatClient) -> None:
    project = project_named(client, "Manual Handling Basics")
    request = ReleaseRequest(
        project.project_code,
        ReleaseMode.SCORM,
        lrs_endpoint_url="https://lrs example.com/",
        lrs_password=LRS_PASSWORD,
    )
    with pytest.raises(InvalidRequestError, match="Check the LRS endpoint URL"):
        client.create_release(request, simulation=True)


def test_unknown_project_and_release(client: ElucidatClient) -> None:
    with pytest.raises(NotFoundError) as project:
        client.list_releases("nosuchproject")
    with pytest.raises(NotFoundError) as release:
        client.release_details("nosuchrelease")
    with pytest.raises(NotFoundError) as create:
        client.create_release(
            ReleaseRequest("nosuchproject", ReleaseMode.SCORM), simulation=True
        )

    assert "Project nosuchproject was not found" in str(project.value)
    assert "Release nosuchrelease was not found" in str(release.value)
    assert "Project nosuchproject was not found" in str(create.value)
    assert project.value.status == 404


# Authentication and nonces


def test_wrong_private_key(
    make_client: Callable[..., ElucidatClient], sandbox: SandboxServer
) -> None:
    client = make_client(private_key="not-the-key")
    with pytest.raises(AuthenticationError) as caught:
        client.account()

    assert caught.value.status == 401
    assert "Invalid signature" in (caught.value.server_message or "")
    assert "public key and private key" in str(caught.value)
    assert sandbox.stats.requests_total == 1


def test_rejected_call_retried(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    sandbox.faults.reject_auth = 2
    project = project_named(client, "Manual Handling Basics")
    result = client.create_release(
        ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=False
    )

    assert sleeps == [0.05, 0.1]
    assert release_codes(sandbox, project.project_code) == [result.release_code]


def test_rejected_until_retries_run_out(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    sandbox.faults.reject_auth = 4
    with pytest.raises(AuthenticationError, match="rejected the request"):
        client.list_projects()
    assert sleeps == [0.05, 0.1, 0.2]
    assert sandbox.stats.requests_total == 8


def test_nonce_lag_retry(
    make_client: Callable[..., ElucidatClient], sandbox: SandboxServer
) -> None:
    # Real sleeps: the sandbox rejects a nonce younger than nonce_lag seconds.
    client = make_client(sleep=time.sleep)
    project = project_named(client, "Manual Handling Basics")
    sandbox.faults.nonce_lag = 0.08
    result = client.create_release(
        ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=False
    )

    # The first nonce is used at once and the second 50 ms after it was fetched, so
    # both are younger than 80 ms. The third is used after 100 ms and accepted.
    assert client.stats.auth_retries == 2
    assert release_codes(sandbox, project.project_code) == [result.release_code]


# Faults


def test_create_dropped_after_sending(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    sandbox.faults.drop_after_create = 1
    project = project_named(client, "Manual Handling Basics")
    sandbox.stats.reset()
    with pytest.raises(OutcomeUnknownError) as caught:
        client.create_release(
            ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=False
        )

    assert len(release_codes(sandbox, project.project_code)) == 1
    assert sandbox.stats.requests_by_path == {"/v2/releases/create": 2}
    assert sleeps == []
    assert "may have been created" in str(caught.value)
    assert project.project_code in str(caught.value)


def test_create_not_resent_after_server_error(
    client: ElucidatClient, sandbox: SandboxServer
) -> None:
    project = project_named(client, "Manual Handling Basics")
    sandbox.faults.server_error = 1
    sandbox.stats.reset()
    with pytest.raises(ServerError) as caught:
        client.create_release(
            ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=False
        )

    assert caught.value.status == 500
    assert caught.value.server_message is not None
    assert "Internal Server Error" in caught.value.server_message
    assert sandbox.stats.requests_by_path == {"/v2/releases/create": 2}
    assert release_codes(sandbox, project.project_code) == []


def test_create_not_resent_after_rate_limit(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    project = project_named(client, "Manual Handling Basics")
    sandbox.faults.rate_limit = 1
    sandbox.faults.retry_after = 4
    with pytest.raises(RateLimitedError) as caught:
        client.create_release(
            ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=True
        )
    assert caught.value.retry_after == 4.0
    assert sleeps == []


def test_read_retried_after_server_error(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    sandbox.faults.server_error = 2
    assert client.account().company_name == "Northwind Learning Ltd"
    assert sleeps == [0.5, 1.0]
    assert client.stats.read_retries == 2


def test_read_retried_after_rate_limit(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    sandbox.faults.rate_limit = 1
    sandbox.faults.retry_after = 2
    assert len(client.list_projects()) == 6
    assert sleeps == [2.0]


def test_rate_limited_nonce_request_retried(
    client: ElucidatClient, sandbox: SandboxServer, sleeps: list[float]
) -> None:
    project = project_named(client, "Manual Handling Basics")
    sandbox.faults.hit_nonce_requests = True
    sandbox.faults.rate_limit = 1
    sandbox.stats.reset()
    client.create_release(
        ReleaseRequest(project.project_code, ReleaseMode.SCORM), simulation=True
    )
    assert sleeps == [1.0]
    assert sandbox.stats.requests_by_path == {"/v2/releases/create": 3}


def test_not_json_reply(client: ElucidatClient, sandbox: SandboxServer) -> None:
    sandbox.faults.not_json = 1
    with pytest.raises(ServerError) as caught:
        client.list_projects()

    assert caught.value.status == 200
    assert caught.value.server_message is not None
    assert caught.value.server_message.startswith("Sign in to the network Sign in")
    assert "<" not in caught.value.server_message


def test_latency_beyond_timeout(
    make_client: Callable[..., ElucidatClient],
    sandbox: SandboxServer,
    sleeps: list[float],
) -> None:
    client = make_client(timeout=(2.0, 0.2), max_read_retries=1)
    sandbox.faults.latency = 0.5
    with pytest.raises(TimedOutError):
        client.release_details("anything")
    assert sleeps == [0.5]


# Connections, stats and secrets


def test_one_connection_two_requests_per_call(
    client: ElucidatClient, sandbox: SandboxServer
) -> None:
    project = project_named(client, "Data Protection Essentials")
    request = ReleaseRequest(project.project_code, ReleaseMode.SCORM)
    for _ in range(5):
        client.create_release(request, simulation=True)
    client.list_releases(project.project_code)

    assert sandbox.stats.connections_opened == 1
    assert sandbox.stats.requests_total == 14
    assert client.stats.http_requests == 14
    assert client.stats.calls["create_release"] == 5


def test_no_secret_in_logs_or_errors(
    client: ElucidatClient,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    project = project_named(client, "Manual Handling Basics")
    request = ReleaseRequest(
        project.project_code,
        ReleaseMode.SCORM,
        lrs_endpoint_url="https://lrs.example.com/",
        lrs_username="lrs-user",
        lrs_password=LRS_PASSWORD,
    )
    bad_url = ReleaseRequest(
        project.project_code,
        ReleaseMode.SCORM,
        lrs_endpoint_url=f"https://user:{LRS_PASSWORD}@lrs example.com/",
        lrs_password=LRS_PASSWORD,
    )
    errors: list[Exception] = []
    client.create_release(request, simulation=False)
    sandbox.faults.reject_auth = 4
    sandbox.faults.drop_after_create = 1
    for failing in (request, request, bad_url):
        try:
            client.create_release(failing, simulation=False)
        except Exception as error:
            errors.append(error)

    texts = [caplog.text] + [str(e) for e in errors]
    texts += [getattr(e, "server_message", None) or "" for e in errors]
    assert [type(e) for e in errors] == [
        AuthenticationError,
        OutcomeUnknownError,
        InvalidRequestError,
    ]
    assert "Check the LRS endpoint URL ('https://***@lrs example.com/')" in str(
        errors[2]
    )
    assert "POST releases/create" in caplog.text
    for text in texts:
        assert DEMO_PRIVATE_KEY not in text
        assert LRS_PASSWORD not in text
        assert "oauth_signature" not in text
        assert "Authorization" not in text
