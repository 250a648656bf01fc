"""Multi-factor login (a one-time code, or a function answering each challenge), explicit
login and logout, against the emulator over loopback."""

from __future__ import annotations

import logging

import pytest

from annoq import AuthenticationError, InvalidArgumentError, MFARequiredError
from annoq.annofab import AnnofabSession
from annoq.emulator import Emulator
from annoq.emulator.annofab._store import MFA_CODE
from tests._support import FAST_RETRIES

USER, PASSWORD = "mfa-user", "mfa-password-123"


def mfa_session(emu: Emulator, **kwargs: object) -> AnnofabSession:
    emu.annofab.add_user(USER, password=PASSWORD, mfa=True)
    return AnnofabSession(
        user_id=USER,
        password=PASSWORD,
        endpoint=emu.base_url,
        retry_policy=FAST_RETRIES,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_an_mfa_account_logs_in_with_the_one_time_code_given_to_the_session(
    emu: Emulator,
) -> None:
    async with mfa_session(emu, mfa_code=MFA_CODE) as af:
        me = await af.my_account()
    assert me.user_id == USER
    assert emu.annofab.logins == 1
    assert emu.annofab.store.mfa_sessions == {}  # the challenge was answered


async def test_an_async_mfa_callback_answers_every_challenge_including_a_later_re_login(
    emu: Emulator,
) -> None:
    asked: list[int] = []

    async def code() -> str:
        asked.append(1)
        return MFA_CODE

    ids = emu.annofab.seed_tasks(2)
    async with mfa_session(emu, mfa_code=code) as af:
        project = af.project(emu.annofab.project_id)
        await project.task(ids[0])
        emu.annofab.expire_id_tokens()
        emu.annofab.expire_refresh_tokens()
        await project.task(ids[1])  # refresh refused -> a fresh, challenged login
    assert len(asked) == 2
    assert emu.annofab.logins == 2


async def test_a_one_time_code_is_not_replayed_on_a_later_challenge(emu: Emulator) -> None:
    async with mfa_session(emu, mfa_code=MFA_CODE) as af:
        await af.account_id()
        emu.annofab.expire_id_tokens()
        emu.annofab.expire_refresh_tokens()
        with pytest.raises(MFARequiredError, match="mfa_code"):
            await af.project(emu.annofab.project_id).task_page()


async def test_a_wrong_mfa_code_is_an_authentication_error_and_is_not_sent_again(
    emu: Emulator,
) -> None:
    async with mfa_session(emu, mfa_code=lambda: "000000") as af:
        with pytest.raises(AuthenticationError) as caught:
            await af.account_id()
        with pytest.raises(AuthenticationError):
            await af.account_id()
    assert not isinstance(caught.value, MFARequiredError)
    assert emu.annofab.store.failed_logins == 1
    assert emu.annofab.logins == 1


async def test_login_now_with_a_code_after_the_lazy_login_was_challenged(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with mfa_session(emu) as af:
        with pytest.raises(MFARequiredError):
            await af.account_id()
        await af.login(mfa_code=MFA_CODE)
        assert await af.account_id() == emu.annofab.store.users[USER].account_id
    assert emu.annofab.logins == 2
    assert MFA_CODE not in caplog.text
    assert PASSWORD not in caplog.text


async def test_logout_revokes_the_tokens_and_the_next_request_logs_in_again(
    emu: Emulator,
) -> None:
    async with AnnofabSession(
        user_id=emu.annofab.user_id, password=emu.annofab.password, endpoint=emu.base_url
    ) as af:
        assert await af.logout() is False  # not logged in yet: nothing sent
        await af.account_id()
        live = set(emu.annofab.store.id_tokens)
        assert await af.logout() is True
        assert emu.annofab.store.logouts == 1
        assert not live & set(emu.annofab.store.id_tokens)
        await af.project(emu.annofab.project_id).task_page()
    assert emu.annofab.logins == 2


async def test_a_pat_session_has_no_login_and_its_logout_sends_nothing(
    emu: Emulator, af: AnnofabSession
) -> None:
    with pytest.raises(InvalidArgumentError, match="personal access token"):
        await af.login()
    assert await af.logout() is False
    assert emu.annofab.store.logouts == 0


def test_mfa_code_is_checked_and_refused_with_a_pat() -> None:
    with pytest.raises(InvalidArgumentError, match="mfa_code"):
        AnnofabSession(pat="p", mfa_code="123456", endpoint="http://127.0.0.1:1")
    with pytest.raises(InvalidArgumentError, match="mfa_code"):
        AnnofabSession(
            user_id="u",
            password="p",
            mfa_code=123456,  # type: ignore[arg-type]
            endpoint="http://127.0.0.1:1",
        )
