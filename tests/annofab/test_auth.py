"""Authentication against the emulator: PAT, lazy login, single-flight refresh, re-login,
giving up, MFA, and secrets kept out of reprs, logs and errors."""

from __future__ import annotations

import asyncio
import logging
import pickle
from pathlib import Path

import pytest

from annoq import AuthenticationError, MFARequiredError
from annoq.annofab import AnnofabSession, LoginAuth, PatAuth
from annoq.emulator import Emulator
from tests._support import FAST_RETRIES


def login_session(emu: Emulator, password: str | None = None) -> AnnofabSession:
    return AnnofabSession(
        user_id=emu.annofab.user_id,
        password=password or emu.annofab.password,
        endpoint=emu.base_url,
        retry_policy=FAST_RETRIES,
    )


async def test_a_pat_goes_as_bearer_and_an_expired_login_token_does_not_affect_it(
    emu: Emulator, af: AnnofabSession
) -> None:
    ids = emu.annofab.seed_tasks(3)
    project = af.project(emu.annofab.project_id)
    assert (await project.task(ids[0])).task_id == ids[0]
    emu.annofab.expire_id_tokens()
    assert (await project.task(ids[1])).task_id == ids[1]
    assert isinstance(af.auth, PatAuth)
    assert (emu.annofab.logins, emu.annofab.refreshes) == (0, 0)


async def test_a_refused_pat_is_final_no_refresh_no_login(emu: Emulator) -> None:
    async with AnnofabSession(pat="not-a-token", endpoint=emu.base_url) as af:
        with pytest.raises(AuthenticationError) as caught:
            await af.account_id()
    assert caught.value.status == 401
    assert (emu.annofab.logins, emu.annofab.refreshes) == (0, 0)


async def test_login_happens_lazily_once_for_fifty_concurrent_first_requests(
    emu: Emulator,
) -> None:
    ids = emu.annofab.seed_tasks(50)
    async with login_session(emu) as af:
        assert emu.annofab.logins == 0  # creating the session sends nothing
        project = af.project(emu.annofab.project_id)
        tasks = await asyncio.gather(*(project.task(t) for t in ids))
    assert [t.task_id for t in tasks] == ids
    assert emu.annofab.logins == 1


async def test_fifty_concurrent_requests_on_an_expired_token_refresh_exactly_once(
    emu: Emulator,
) -> None:
    ids = emu.annofab.seed_tasks(50)
    async with login_session(emu) as af:
        project = af.project(emu.annofab.project_id)
        await project.task(ids[0])
        emu.annofab.expire_id_tokens()
        tasks = await asyncio.gather(*(project.task(t) for t in ids))
        assert isinstance(af.auth, LoginAuth)
        assert af.auth.refreshes == 1
    assert [t.task_id for t in tasks] == ids
    assert (emu.annofab.logins, emu.annofab.refreshes) == (1, 1)


async def test_an_expired_refresh_token_falls_back_to_exactly_one_login(emu: Emulator) -> None:
    ids = emu.annofab.seed_tasks(20)
    async with login_session(emu) as af:
        project = af.project(emu.annofab.project_id)
        await project.task(ids[0])
        emu.annofab.expire_id_tokens()
        emu.annofab.expire_refresh_tokens()
        tasks = await asyncio.gather(*(project.task(t) for t in ids))
    assert len(tasks) == 20
    assert (emu.annofab.refreshes, emu.annofab.logins) == (1, 2)


async def test_bad_credentials_raise_authentication_error_and_are_never_resent(
    emu: Emulator,
) -> None:
    async with login_session(emu, password="wrong-password") as af:
        with pytest.raises(AuthenticationError) as caught:
            await af.account_id()
        results = await asyncio.gather(
            *(af.account_id() for _ in range(10)), return_exceptions=True
        )
    assert caught.value.status == 401
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert (emu.annofab.logins, emu.annofab.refreshes, emu.annofab.account_reads) == (1, 0, 0)


async def test_an_mfa_account_raises_mfa_required_saying_to_use_a_pat(emu: Emulator) -> None:
    emu.annofab.add_user("mfa-user", password="mfa-password", mfa=True)
    async with AnnofabSession(
        user_id="mfa-user", password="mfa-password", endpoint=emu.base_url
    ) as af:
        with pytest.raises(MFARequiredError) as caught:
            await af.account_id()
    assert isinstance(caught.value, AuthenticationError)
    assert "personal access token" in str(caught.value)
    assert "ANNOFAB_PAT" in str(caught.value)
    assert emu.annofab.logins == 1


async def test_account_id_is_fetched_once_for_concurrent_callers_and_cached(
    emu: Emulator, af: AnnofabSession
) -> None:
    found = await asyncio.gather(*(af.account_id() for _ in range(20)))
    again = await af.with_options(timeout=5.0).account_id()
    assert set(found) == {emu.annofab.account_id} == {again}
    assert emu.annofab.account_reads == 1


async def test_the_password_never_appears_in_logs_reprs_or_errors(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Pa55word-XYZ"
    emu.annofab.add_user("carol", password=secret, role="owner")
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    async with AnnofabSession(
        user_id="carol", password=secret, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as af:
        shown += [repr(af), repr(af.auth), str(af.auth)]
        await af.account_id()
        emu.annofab.expire_id_tokens()
        emu.annofab.expire_refresh_tokens()
        await af.project(emu.annofab.project_id).task_page()
    async with AnnofabSession(
        user_id="carol", password=secret + "-typo", endpoint=emu.base_url
    ) as bad:
        with pytest.raises(AuthenticationError) as caught:
            await bad.account_id()
        shown += [repr(bad), repr(bad.auth)]
    error = caught.value
    shown += [str(error), repr(error), repr(error.body), repr(error.__dict__)]
    shown.append(repr(pickle.loads(pickle.dumps(error)).__dict__))
    shown.append(caplog.text)
    assert emu.annofab.logins == 3  # the password was really sent, so the test can fail
    for text in shown:
        assert secret not in text
    assert "carol" in repr(af.auth)


async def test_credentials_from_netrc_for_the_endpoint_host_log_in(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine 127.0.0.1 login {emu.annofab.user_id} password {emu.annofab.password}\n"
    )
    netrc.chmod(0o600)
    for name in ("ANNOFAB_PAT", "ANNOFAB_USER_ID", "ANNOFAB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("ANNOFAB_ENDPOINT_URL", emu.base_url)
    async with AnnofabSession() as af:
        assert af.auth.source == "netrc"
        assert await af.account_id() == emu.annofab.account_id
    assert emu.annofab.logins == 1
