"""Where credentials and the server come from, and that the key never leaks."""

from __future__ import annotations

import base64
import logging
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from annoq import (
    AnnoqError,
    InsecureTransportError,
    InvalidArgumentError,
    MissingCredentialsError,
    RetryPolicy,
    TransportError,
    WeaveSession,
)
from tests._support import (
    API_KEY,
    BASE,
    FAST_RETRIES,
    KEY_B64,
    PROJECT,
    MockHTTP,
    only_call,
    url,
)

ENV_KEY = "env-key-1111111111111111111111111111"
NETRC_KEY = "netrc-key-222222222222222222222222222"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials or server from the machine running the tests."""
    for name in (
        "WANDB_API_KEY",
        "WF_TRACE_SERVER_URL",
        "WEAVE_TRACE_BASE_URL",
        "WANDB_BASE_URL",
        "WANDB_PUBLIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def netrc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "netrc"
    path.write_text(
        "machine example.org login someone password other-secret\n"
        f"machine api.wandb.ai login user password {NETRC_KEY}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    return path


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


async def sent_authorization(http: MockHTTP, **kwargs: object) -> str:
    http.post(url("/annotation_queues"), payload={"id": "q"})
    async with WeaveSession(base_url=BASE, **kwargs) as weave:  # type: ignore[arg-type]
        await weave.create_queue(PROJECT, name="x")
    _, _, call = only_call(http)
    header: str = call.kwargs["headers"]["Authorization"]
    return header


# -- where the key comes from ---------------------------------------------------------------


async def test_argument_wins_over_environment_and_netrc(
    http: MockHTTP, monkeypatch: pytest.MonkeyPatch, netrc_file: Path
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", ENV_KEY)
    assert await sent_authorization(http, api_key=API_KEY) == basic(API_KEY)


async def test_environment_wins_over_netrc(
    http: MockHTTP, monkeypatch: pytest.MonkeyPatch, netrc_file: Path
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", ENV_KEY)
    assert await sent_authorization(http) == basic(ENV_KEY)


async def test_netrc_password_for_api_wandb_ai_is_the_last_resort(
    http: MockHTTP, netrc_file: Path
) -> None:
    assert await sent_authorization(http) == basic(NETRC_KEY)


async def test_empty_environment_variable_falls_through_to_netrc(
    http: MockHTTP, monkeypatch: pytest.MonkeyPatch, netrc_file: Path
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "")
    assert await sent_authorization(http) == basic(NETRC_KEY)


async def test_bearer_token_argument_is_used_instead_of_any_key(
    http: MockHTTP, monkeypatch: pytest.MonkeyPatch, netrc_file: Path
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", ENV_KEY)
    assert await sent_authorization(http, bearer_token="tok") == "Bearer tok"


def test_no_credentials_anywhere_is_a_missing_credentials_error() -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        WeaveSession(base_url=BASE)

    message = str(caught.value)
    assert "api_key" in message
    assert "WANDB_API_KEY" in message
    assert "netrc" in message
    assert "api.wandb.ai" in message


def test_netrc_without_a_wandb_entry_is_missing_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine example.org login a password b\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(path))
    with pytest.raises(MissingCredentialsError):
        WeaveSession(base_url=BASE)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"api_key": "   "},
        {"bearer_token": ""},
        {"api_key": "k", "bearer_token": "t"},
    ],
)
def test_empty_or_conflicting_credentials_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidArgumentError):
        WeaveSession(base_url=BASE, **kwargs)


# -- where the server is --------------------------------------------------------------------


def test_base_url_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_TRACE_SERVER_URL", "https://wf.example")
    monkeypatch.setenv("WEAVE_TRACE_BASE_URL", "https://weave.example")
    assert WeaveSession(API_KEY, base_url="https://arg.example").base_url == "https://arg.example"


def test_wf_trace_server_url_wins_over_weave_trace_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WF_TRACE_SERVER_URL", "https://wf.example")
    monkeypatch.setenv("WEAVE_TRACE_BASE_URL", "https://weave.example")
    assert WeaveSession(API_KEY).base_url == "https://wf.example"


def test_weave_trace_base_url_is_used_when_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVE_TRACE_BASE_URL", "https://weave.example")
    assert WeaveSession(API_KEY).base_url == "https://weave.example"


def test_default_base_url_is_the_wandb_trace_server() -> None:
    assert WeaveSession(API_KEY).base_url == "https://trace.wandb.ai"


async def test_requests_go_to_the_environment_base_url(
    http: MockHTTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WF_TRACE_SERVER_URL", "https://wf.example")
    http.post("https://wf.example/annotation_queues", payload={"id": "q"})
    async with WeaveSession(API_KEY) as weave:
        assert await weave.create_queue(PROJECT, name="x") == "q"


# -- WANDB_BASE_URL, as the official clients read it ---------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WANDB_BASE_URL": "https://wandb.corp.example"}, "https://wandb.corp.example/traces"),
        ({"WANDB_BASE_URL": "https://wandb.corp.example/"}, "https://wandb.corp.example/traces"),
        ({"WANDB_BASE_URL": "https://api.wandb.ai"}, "https://trace.wandb.ai"),
        ({"WANDB_BASE_URL": "https://api.wandb.ai/"}, "https://trace.wandb.ai"),
        ({"WANDB_BASE_URL": ""}, "https://trace.wandb.ai"),
        (
            {"WANDB_BASE_URL": "https://wandb.corp.example", "WF_TRACE_SERVER_URL": "https://wf.x"},
            "https://wf.x",
        ),
        (
            {"WANDB_BASE_URL": "https://wandb.corp.example", "WEAVE_TRACE_BASE_URL": "https://w.x"},
            "https://w.x",
        ),
        (
            {
                "WANDB_BASE_URL": "https://wandb.corp.example",
                "WANDB_PUBLIC_BASE_URL": "https://public.corp.example",
            },
            "https://public.corp.example/traces",
        ),
    ],
)
def test_the_trace_server_follows_the_official_precedence_of_wandb_base_url(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert WeaveSession(API_KEY).base_url == expected


def test_the_base_url_argument_wins_over_wandb_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.corp.example")
    assert WeaveSession(API_KEY, base_url="https://arg.example").base_url == "https://arg.example"


@pytest.mark.parametrize(
    ("wandb_base_url", "machine"),
    [
        ("https://wandb.corp.example", "wandb.corp.example"),
        ("https://wandb.corp.example:8443/", "wandb.corp.example:8443"),
    ],
)
async def test_the_netrc_machine_is_the_host_of_wandb_base_url(
    http: MockHTTP,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    wandb_base_url: str,
    machine: str,
) -> None:
    path = tmp_path / "netrc"
    path.write_text(
        f"machine api.wandb.ai login user password {NETRC_KEY}\n"
        f"machine {machine} login user password {ENV_KEY}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.setenv("WANDB_BASE_URL", wandb_base_url)
    trace = wandb_base_url.rstrip("/") + "/traces"
    http.post(trace + "/annotation_queues", payload={"id": "q"})
    async with WeaveSession() as weave:
        assert weave.base_url == trace
        await weave.create_queue(PROJECT, name="x")
    _, _, call = only_call(http)
    assert call.kwargs["headers"]["Authorization"] == basic(ENV_KEY)


def test_missing_credentials_name_the_netrc_machine_of_wandb_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.corp.example")
    with pytest.raises(MissingCredentialsError, match=r"machine wandb\.corp\.example "):
        WeaveSession()


# -- plain http -----------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["http://example.com", "http://10.0.0.5:8080/weave"])
def test_plain_http_to_another_machine_is_refused(base_url: str) -> None:
    with pytest.raises(InsecureTransportError, match="allow_insecure_http") as caught:
        WeaveSession(API_KEY, base_url=base_url)
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8080", "http://localhost:8080", "http://LOCALHOST", "http://[::1]:9000"],
)
def test_plain_http_to_loopback_is_allowed(base_url: str) -> None:
    assert WeaveSession(API_KEY, base_url=base_url).base_url.startswith("http://")


def test_plain_http_to_another_machine_is_allowed_when_the_caller_opts_in() -> None:
    weave = WeaveSession(API_KEY, base_url="http://example.com", allow_insecure_http=True)
    assert weave.base_url == "http://example.com"


@pytest.mark.parametrize("base_url", ["ftp://example.com", "trace.example", "https://"])
def test_a_base_url_that_is_not_http_is_refused(base_url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="base_url"):
        WeaveSession(API_KEY, base_url=base_url)


# -- the key never leaks --------------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    assert API_KEY not in text
    assert KEY_B64 not in text


def exception_texts(error: BaseException) -> Iterator[str]:
    seen: BaseException | None = error
    while seen is not None:
        yield str(seen)
        yield repr(seen)
        yield repr(seen.args)
        yield repr(vars(seen))
        seen = seen.__cause__ or seen.__context__
    yield "".join(traceback.format_exception(error))


def test_repr_of_a_session_and_its_views_hides_the_key() -> None:
    weave = WeaveSession(API_KEY, base_url=BASE)
    for text in (repr(weave), repr(weave.with_options(max_retries=0)), repr(weave.options)):
        assert_no_secret(text)
    assert "trace.example" in repr(weave)
    assert_no_secret(repr(WeaveSession(bearer_token=API_KEY, base_url=BASE)))


def test_a_key_inside_the_base_url_is_stripped() -> None:
    weave = WeaveSession(API_KEY, base_url=f"https://api:{API_KEY}@trace.example")
    assert weave.base_url == "https://trace.example"
    assert_no_secret(repr(weave))


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_failing_requests_never_put_the_key_in_exceptions_or_debug_logs(
    http: MockHTTP, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    http.post(
        url("/annotation_queues/stats"),
        status=status,
        payload={"reason": "nope"},
        headers={"Retry-After": "0"},
        repeat=True,
    )

    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=FAST_RETRIES) as weave:
        with pytest.raises(AnnoqError) as caught:
            await weave.queue_stats(PROJECT, ["q"])  # retried

    assert getattr(caught.value, "status", None) == status
    for text in exception_texts(caught.value):
        assert_no_secret(text)
    if status == 500:
        assert "retrying POST" in caplog.text  # the DEBUG log was captured, and is clean
    assert_no_secret(caplog.text)


async def test_connection_refused_never_puts_the_key_in_the_error_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_cap=0.001)

    async with WeaveSession(API_KEY, base_url=f"http://127.0.0.1:{port}", retry_policy=policy) as w:
        with pytest.raises(TransportError) as caught:
            await w.queue_stats(PROJECT, ["q"])  # retried

    assert caught.value.attempts == 2
    assert "connection failed" in str(caught.value)
    for text in exception_texts(caught.value):
        assert_no_secret(text)
    assert "retrying POST" in caplog.text
    assert_no_secret(caplog.text)
