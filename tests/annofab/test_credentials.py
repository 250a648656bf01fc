"""Where credentials and the endpoint come from, in the documented order (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annoq import InsecureTransportError, InvalidArgumentError, MissingCredentialsError
from annoq.annofab import AnnofabSession, LoginAuth, PatAuth
from annoq.annofab._auth import resolve_annofab_auth, resolve_endpoint

ENV = {
    "ANNOFAB_PAT": "env-pat",
    "ANNOFAB_USER_ID": "env-user",
    "ANNOFAB_PASSWORD": "env-password",
}


@pytest.fixture
def netrc(tmp_path: Path) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine annofab.com login netrc-user password netrc-password\n")
    path.chmod(0o600)
    return path


def resolve(*args: str | None, env: dict[str, str], netrc: Path) -> PatAuth | LoginAuth:
    pat, user, password = [*args, None, None, None][:3]
    return resolve_annofab_auth(pat, user, password, host="annofab.com", env=env, netrc_path=netrc)


def test_arguments_come_first(netrc: Path) -> None:
    assert resolve("arg-pat", env=ENV, netrc=netrc).source == "argument"
    auth = resolve(None, "arg-user", "arg-password", env=ENV, netrc=netrc)
    assert isinstance(auth, LoginAuth)
    assert (auth.user_id, auth.source) == ("arg-user", "argument")


def test_then_annofab_pat_then_user_and_password_then_netrc(netrc: Path) -> None:
    assert resolve(env=ENV, netrc=netrc).source == "ANNOFAB_PAT"
    without_pat = {k: v for k, v in ENV.items() if k != "ANNOFAB_PAT"}
    auth = resolve(env=without_pat, netrc=netrc)
    assert isinstance(auth, LoginAuth)
    assert (auth.user_id, auth.source) == ("env-user", "ANNOFAB_USER_ID")
    only_user = {"ANNOFAB_USER_ID": "env-user"}  # without its password it does not count
    auth = resolve(env=only_user, netrc=netrc)
    assert isinstance(auth, LoginAuth)
    assert (auth.user_id, auth.source) == ("netrc-user", "netrc")


def test_no_credentials_anywhere_says_where_they_may_come_from(tmp_path: Path) -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        resolve(env={}, netrc=tmp_path / "absent")
    message = str(caught.value)
    for place in ("pat=", "ANNOFAB_PAT", "ANNOFAB_USER_ID", "ANNOFAB_PASSWORD", "netrc"):
        assert place in message


def test_half_given_or_conflicting_arguments_are_refused(netrc: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="password is missing"):
        resolve(None, "arg-user", env=ENV, netrc=netrc)
    with pytest.raises(InvalidArgumentError, match="not both"):
        resolve("arg-pat", "arg-user", "pw", env=ENV, netrc=netrc)
    with pytest.raises(InvalidArgumentError):
        resolve("  ", env=ENV, netrc=netrc)


def test_the_endpoint_is_the_argument_else_the_environment_else_annofab_com() -> None:
    assert resolve_endpoint("https://x.example", {"ANNOFAB_ENDPOINT_URL": "https://y"}) == (
        "https://x.example"
    )
    assert resolve_endpoint(None, {"ANNOFAB_ENDPOINT_URL": "https://y"}) == "https://y"
    assert resolve_endpoint(None, {}) == "https://annofab.com"


def test_credentials_are_not_sent_over_plain_http_to_another_machine() -> None:
    with pytest.raises(InsecureTransportError):
        AnnofabSession(pat="p", endpoint="http://annofab.example")
    session = AnnofabSession(pat="p", endpoint="http://annofab.example", allow_insecure_http=True)
    assert session.endpoint == "http://annofab.example"


def test_reprs_name_the_source_but_never_the_secret() -> None:
    session = AnnofabSession(pat="pat-SECRET", endpoint="https://annofab.example")
    assert "pat-SECRET" not in repr(session)
    assert "source='argument'" in repr(session)
    login = AnnofabSession(user_id="u", password="pw-SECRET", endpoint="https://annofab.example")
    assert "pw-SECRET" not in repr(login)
    assert "user_id='u'" in repr(login)
