"""Sign-in limits: failures per user name and per address within a window, kept in the database (so every
worker shares them), refused with 429 + Retry-After and audited; passwords verified off the event loop."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest

from data.ops import signin
from tests.opsworld import PASSWORD

LIMITS = {"signin_max_failures_per_user": 3, "signin_max_failures_per_addr": 5, "signin_window_s": 600,
          "forwarded_allow_ips": "testclient"}  # the test client acts as a trusted proxy: addresses vary


def _from(addr: str) -> dict[str, str]:
    return {"X-Forwarded-For": addr}


def _audit(url: str, action: str, username: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT remote_addr, detail FROM audit_log WHERE action = %s AND username = %s "
                            "ORDER BY id", (action, username)).fetchall()


def _age_failures(url: str) -> None:
    """Move every failure out of the window (instead of waiting for it to pass)."""
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE audit_log SET at = at - interval '1 hour' WHERE action = 'login_failed'")


def _assert_limited(r, by: str) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 600 and f"try again in {retry} s" in r.json()["detail"]
    assert ("user name" if by == "user" else "address") in r.json()["detail"]
    return retry


def test_the_attempt_after_the_limit_is_429_even_with_the_right_password(world, make_client) -> None:
    client = make_client(world.url, **LIMITS)
    for _ in range(3):
        r = client.post("/auth/token", data={"username": "officer_a", "password": "wrong"}, headers=_from("10.0.0.1"))
        assert r.status_code == 401
    _assert_limited(client.post("/auth/token", data={"username": "officer_a", "password": "wrong"},
                                headers=_from("10.0.0.1")), "user")
    limited = _audit(world.url, "login_limited", "officer_a")
    assert len(limited) == 1 and limited[0][0] == "10.0.0.1" and limited[0][1]["by"] == "user"
    # Locked: the right password is refused too (a 200 would tell the guesser that the guess was right),
    # from the browser's sign-in as well, and from another address (the limit is per user name).
    _assert_limited(client.post("/auth/login", json={"username": "officer_a", "password": PASSWORD},
                                headers=_from("10.0.0.1")), "user")
    _assert_limited(client.post("/auth/token", data={"username": "officer_a", "password": PASSWORD},
                                headers=_from("192.0.2.7")), "user")
    # Refusals are audited but are not failures; other users are not affected.
    assert len(_audit(world.url, "login_failed", "officer_a")) == 3
    assert len(_audit(world.url, "login_limited", "officer_a")) == 3
    assert client.post("/auth/token", data={"username": "admin", "password": PASSWORD},
                       headers=_from("10.0.0.1")).status_code == 200
    _age_failures(world.url)  # the window has passed
    assert client.post("/auth/token", data={"username": "officer_a", "password": PASSWORD},
                       headers=_from("10.0.0.1")).status_code == 200


def test_an_address_is_limited_across_user_names(world, make_client) -> None:
    client = make_client(world.url, **LIMITS)
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert client.post("/auth/token", data={"username": name, "password": "x"},
                           headers=_from("10.9.9.9")).status_code == 401
    _assert_limited(client.post("/auth/token", data={"username": "admin", "password": PASSWORD},
                                headers=_from("10.9.9.9")), "address")
    assert _audit(world.url, "login_limited", "admin")[0][1]["by"] == "address"
    assert client.post("/auth/token", data={"username": "admin", "password": PASSWORD},
                       headers=_from("10.9.9.10")).status_code == 200


def test_two_workers_share_the_count(world, make_client) -> None:
    first, second = make_client(world.url, **LIMITS), make_client(world.url, **LIMITS)
    for client in (first, second, first):
        assert client.post("/auth/token", data={"username": "planner", "password": "x"}).status_code == 401
    _assert_limited(second.post("/auth/token", data={"username": "planner", "password": PASSWORD}), "user")


@pytest.mark.parametrize("path", ["/auth/token", "/auth/login"])
def test_an_overlong_user_name_is_422_and_writes_nothing(world, make_client, path) -> None:
    client = make_client(world.url, **LIMITS)
    name = "a" * 151
    r = client.post(path, data={"username": name, "password": "x"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "at most 150" in r.json()["detail"] and r.json()["errors"][0]["field"] == "username"
    assert _audit(world.url, "login_failed", name) == []
    r = client.post(path, data={"username": "admin", "password": "p" * 1025})
    assert r.status_code == 422 and "password" in r.json()["detail"]
    assert client.post(path, data={"username": "a" * 150, "password": "x"}).status_code == 401


def test_passwords_are_verified_off_the_event_loop(world, make_client, monkeypatch) -> None:
    seen: list[tuple[str, bool]] = []
    original = signin.verify_password

    def recording(password_hash: str | None, password: str) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        seen.append((threading.current_thread().name, on_loop))
        return original(password_hash, password)

    monkeypatch.setattr(signin, "verify_password", recording)
    client = make_client(world.url, **LIMITS)
    assert client.post("/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 200
    assert client.post("/auth/login", json={"username": "admin", "password": "wrong"}).status_code == 401
    assert len(seen) == 2
    for thread, on_loop in seen:
        assert thread.startswith(signin.PasswordVerifier.THREAD_PREFIX) and not on_loop
