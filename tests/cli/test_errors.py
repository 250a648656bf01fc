"""Exit codes and one-line errors: credentials, unreachable servers, usage, --debug."""

from __future__ import annotations

import socket

import pytest

from annoq import __version__
from annoq.cli import main

from ._support import annoq


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_missing_credentials_exit_3_and_say_where_keys_come_from(emu):
    ran = await annoq("stats", "--base-url", emu.base_url, emu.project, "q")
    assert ran.code == 3
    ran.assert_one_error_line("no W&B API key", "--api-key", "WANDB_API_KEY", "netrc")


async def test_key_from_the_environment_is_used(emu, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", emu.api_key)
    monkeypatch.setenv("WF_TRACE_SERVER_URL", emu.base_url)
    queue_id = emu.weave.seed_queue(2)
    ran = await annoq("stats", "--json", emu.project, queue_id)
    assert ran.code == 0, ran.err
    assert '"total_items":2' in ran.out


async def test_key_from_netrc_is_used(emu, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine api.wandb.ai login user password {emu.api_key}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    ran = await annoq("queues", "--base-url", emu.base_url, emu.project)
    assert ran.code == 0, ran.err


async def test_a_wrong_key_exits_3(emu):
    ran = await annoq("queues", "--base-url", emu.base_url, "--api-key", "wrong", emu.project)
    assert ran.code == 3
    ran.assert_one_error_line("authentication failed", "Invalid API key")


async def test_a_project_the_key_may_not_see_exits_3(emu):
    outsider = emu.add_user("outsider", projects=["other/project"])
    args = ("--base-url", emu.base_url, "--api-key", outsider.api_key)
    ran = await annoq("mark", *args, emu.project, emu.weave.seed_queue(2), "completed")
    assert ran.code == 3
    ran.assert_one_error_line("permission denied")
    assert emu.weave.applied_writes() == 0


async def test_an_unreachable_server_exits_1_with_one_line():
    url = f"http://127.0.0.1:{closed_port()}"
    ran = await annoq(
        "stats", "--base-url", url, "--api-key", "k", "--max-retries", "0", "e/p", "q"
    )
    assert ran.code == 1
    ran.assert_one_error_line("cannot reach the server", url, "--base-url")


async def test_debug_adds_the_traceback():
    url = f"http://127.0.0.1:{closed_port()}"
    ran = await annoq(
        "--debug", "stats", "--base-url", url, "--api-key", "k", "--max-retries", "0", "e/p", "q"
    )
    assert ran.code == 1
    assert "Traceback (most recent call last)" in ran.err
    assert ran.err.rstrip().splitlines()[-1].startswith("annoq: error: cannot reach the server")


async def test_plain_http_to_another_machine_is_refused_before_sending_the_key():
    ran = await annoq("queues", "--base-url", "http://192.0.2.1", "--api-key", "k", "e/p")
    assert ran.code == 2
    ran.assert_one_error_line("plain http", "--allow-insecure-http")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["demo", "--items", "many"], "argument --items: not an integer: 'many'"),
        (["demo", "--items", "0"], "argument --items: must be >= 1"),
        (["stats", "e/p"], "the following arguments are required: QUEUE"),
        (["items", "e/p", "q", "--timeout", "-1"], "must be > 0 seconds"),
    ],
)
async def test_usage_errors_exit_2_with_one_line(argv, fragment):
    ran = await annoq(*argv)
    assert ran.code == 2
    ran.assert_one_error_line(fragment)


def test_version_and_help_exit_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"annoq {__version__}"
    assert main(["mark", "--help"]) == 0
    assert "--ids-from FILE" in capsys.readouterr().out


def test_main_runs_a_command_in_its_own_event_loop(capsys):
    assert main(["stats", "e/p", "q"]) == 3  # no credentials in this test's environment
    assert capsys.readouterr().err.startswith("annoq: error: no W&B API key")
