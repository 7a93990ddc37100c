"""CSRF tokens: HMACs of the session, bound to user, session and the hub's secret."""

from __future__ import annotations

from hub.api.console import csrf

KEY = csrf.derive_key("a" * 48)


def test_a_session_token_is_stable_and_bound_to_user_session_and_key() -> None:
    token = csrf.session_token(KEY, "user-1", "session-1")
    assert token == csrf.session_token(KEY, "user-1", "session-1")
    others = {
        csrf.session_token(KEY, "user-2", "session-1"),
        csrf.session_token(KEY, "user-1", "session-2"),
        csrf.session_token(csrf.derive_key("b" * 48), "user-1", "session-1"),
        csrf.login_token(KEY, "session-1"),
    }
    assert token not in others and len(others) == 4
    assert len(token) == 43 and "=" not in token  # 32 bytes, base64url


def test_the_key_is_derived_not_the_secret_itself() -> None:
    assert ("a" * 48).encode() != KEY
    assert len(KEY) == 32


def test_matches_needs_the_exact_token() -> None:
    token = csrf.session_token(KEY, "u", "s")
    assert csrf.matches(token, token)
    assert not csrf.matches(token, None)
    assert not csrf.matches(token, "")
    assert not csrf.matches(token, token[:-1])
    assert not csrf.matches(token, token + "x")
    assert not csrf.matches(token, "é" * 43)  # non-ASCII never matches (and never raises)
