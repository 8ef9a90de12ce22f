"""Account care (issue 16 item 5): a new account or an admin's reset must change its password before anything
else; one's own change (POST /account/password) with its rules, its count against the sign-in limits and the
end of one's other sessions; `sitmap user add|passwd|enable|set-role|set-communes`, each audited."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from data.ops import accounts
from data.settings import get_settings
from tests.opsworld import PASSWORD

NEW = "a much better passphrase"
LIMITS = {"signin_max_failures_per_user": 3, "signin_max_failures_per_addr": 50, "signin_window_s": 600}


@pytest.fixture
def run_cli(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, input=None: runner.invoke(cli, list(args), input=input)
    get_settings.cache_clear()


def _audit(url: str, action: str, target: str | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT username, target, detail FROM audit_log WHERE action = %s "
                            "AND (%s::text IS NULL OR target = %s) ORDER BY id", (action, target, target)).fetchall()


def _flag(url: str, username: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT must_change_password FROM app_user WHERE username = %s",
                            (username,)).fetchone()[0]


def _token(client, username: str, password: str) -> dict[str, str]:
    r = client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _change(client, headers, current: str, new: str):
    return client.post("/account/password", json={"current_password": current, "new_password": new},
                       headers=headers)


def test_a_new_account_must_change_its_password_before_anything_else(world, make_client, run_cli) -> None:
    r = run_cli("user", "add", "newbie", "--role", "commander", "--commune", "T001", "--password", PASSWORD)
    assert r.exit_code == 0 and "must be changed at first sign-in" in r.output, r.output
    assert _flag(world.url, "newbie") is True
    assert _audit(world.url, "user.add", "user:newbie")[0][2]["must_change_password"] is True
    client = make_client(world.url)
    h = _token(client, "newbie", PASSWORD)
    for method, path in (("GET", "/incidents"), ("GET", "/live"), ("GET", "/notifications"),
                         ("POST", "/incidents")):
        r = client.request(method, path, headers=h, json={} if method == "POST" else None)
        assert r.status_code == 403, (path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["type"].endswith("/password-change-required") and "POST /account/password" in body["detail"]
    # What stays open: who am I, the account, sign-out (tested last); public paths answer as to nobody.
    assert client.get("/auth/me", headers=h).json()["username"] == "newbie"
    assert client.get("/account", headers=h).json()["must_change_password"] is True
    assert client.get("/collections/incidents/items", headers=h).status_code in (401, 403)
    assert client.get("/collections/incidents/items", headers=world.headers("commander")).status_code == 200

    assert _change(client, h, PASSWORD, NEW).status_code == 204
    assert _flag(world.url, "newbie") is False
    assert client.get("/incidents", headers=h).status_code == 200  # the same session goes on
    assert client.get("/account", headers=h).json()["must_change_password"] is False
    assert client.post("/auth/token", data={"username": "newbie", "password": PASSWORD}).status_code == 401
    _token(client, "newbie", NEW)
    assert client.post("/auth/logout", headers=h).status_code == 200


def test_no_force_change_and_the_tests_users_are_not_held_back(world, client, run_cli) -> None:
    r = run_cli("user", "add", "scripted", "--role", "planner", "--password", PASSWORD, "--no-force-change")
    assert r.exit_code == 0 and "must be changed" not in r.output, r.output
    assert _flag(world.url, "scripted") is False
    assert client.get("/incidents", headers=_token(client, "scripted", PASSWORD)).status_code == 200
    assert client.get("/incidents", headers=world.headers("officer_a")).status_code == 200


def test_the_browser_session_of_a_forced_user(world, make_client, run_cli) -> None:
    assert run_cli("user", "add", "webby", "--role", "planner", "--password", PASSWORD).exit_code == 0
    client = make_client(world.url)
    assert client.post("/auth/login", json={"username": "webby", "password": PASSWORD}).status_code == 200
    csrf = {"X-Requested-With": "test"}
    assert client.get("/web/session").json()["user"]["username"] == "webby"
    assert client.get("/closures").json()["type"].endswith("/password-change-required")
    # Signing in again is not held back by the gate either.
    assert client.post("/auth/login", json={"username": "webby", "password": PASSWORD}).status_code == 200
    r = client.post("/account/password", json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 403 and r.json()["type"].endswith("/csrf")  # the cookie's CSRF rule still holds
    r = client.post("/account/password", json={"current_password": PASSWORD, "new_password": NEW}, headers=csrf)
    assert r.status_code == 204, r.text
    assert client.get("/closures").status_code == 200


def test_the_rules_of_a_new_password_and_a_wrong_current_one(world, make_client) -> None:
    client = make_client(world.url, **LIMITS)
    h = world.headers("planner")
    r = _change(client, h, PASSWORD, "short")
    assert r.status_code == 422 and f"at least {accounts.MIN_PASSWORD_CHARS} characters" in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "new_password"
    r = _change(client, h, PASSWORD, PASSWORD)
    assert r.status_code == 422 and "differ from the current one" in r.json()["detail"]
    r = _change(client, h, "not my password", NEW)
    assert r.status_code == 403 and r.json()["type"].endswith("/wrong-password"), r.text
    r = client.post("/account/password", json={"current_password": PASSWORD}, headers=h)
    assert r.status_code == 422
    r = client.post("/account/password", json={"current_password": PASSWORD, "new_password": NEW, "x": 1},
                    headers=h)
    assert r.status_code == 422
    assert _audit(world.url, "account.password") == []  # nothing was changed
    assert client.post("/auth/token", data={"username": "planner", "password": PASSWORD}).status_code == 200


def test_wrong_current_passwords_count_against_the_sign_in_limits(world, make_client) -> None:
    client = make_client(world.url, **LIMITS)
    h = world.headers("commander")
    for _ in range(3):
        assert _change(client, h, "guess", NEW).status_code == 403
    assert len(_audit(world.url, "login_failed")) == 3
    # The limit now holds for the change (even with the right password) and for signing in.
    r = _change(client, h, PASSWORD, NEW)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
    assert r.json()["type"].endswith("/sign-in-limited")
    r = client.post("/auth/token", data={"username": "commander", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert _audit(world.url, "account.password") == []


def test_a_change_ends_the_other_sessions_and_is_audited(world, make_client) -> None:
    client = make_client(world.url)
    mine = _token(client, "officer_a", PASSWORD)
    other = world.headers("officer_a")  # the world's own session of the same user
    assert client.get("/auth/me", headers=other).status_code == 200
    assert _change(client, mine, PASSWORD, NEW).status_code == 204
    assert client.get("/auth/me", headers=other).status_code == 401
    assert client.get("/auth/me", headers=mine).status_code == 200
    rows = _audit(world.url, "account.password", "user:officer_a")
    assert len(rows) == 1 and rows[0][0] == "officer_a"
    assert rows[0][2] == {"was_forced": False, "other_sessions_ended": 1}


def test_cli_passwd_is_a_reset(world, make_client, run_cli) -> None:
    client = make_client(world.url)
    r = run_cli("user", "passwd", "planner", "--password-stdin", input=f"{NEW}\n")
    assert r.exit_code == 0 and "1 session(s) ended" in r.output, r.output
    assert client.get("/auth/me", headers=world.headers("planner")).status_code == 401  # sessions ended
    assert _flag(world.url, "planner") is True
    h = _token(client, "planner", NEW)
    assert client.get("/incidents", headers=h).json()["type"].endswith("/password-change-required")
    assert _audit(world.url, "user.passwd", "user:planner")[0][2] == {"must_change_password": True,
                                                                      "sessions_ended": 1}
    # Prompted twice; --no-force-change leaves the user free to go on.
    r = run_cli("user", "passwd", "planner", "--no-force-change", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert _flag(world.url, "planner") is False
    assert client.get("/incidents", headers=_token(client, "planner", PASSWORD)).status_code == 200
    r = run_cli("user", "passwd", "planner", "--password-stdin", input="short\n")
    assert r.exit_code == 2 and f"at least {accounts.MIN_PASSWORD_CHARS}" in r.output
    r = run_cli("user", "passwd", "nobody", "--password-stdin", input=f"{NEW}\n")
    assert r.exit_code == 2 and "no user 'nobody'" in r.output
    assert len(_audit(world.url, "user.passwd")) == 2


def test_cli_enable(world, client, run_cli) -> None:
    assert run_cli("user", "disable", "officer_b").exit_code == 0
    assert client.post("/auth/token", data={"username": "officer_b", "password": PASSWORD}).status_code == 401
    r = run_cli("user", "enable", "officer_b")
    assert r.exit_code == 0 and "enabled officer_b" in r.output
    _token(client, "officer_b", PASSWORD)
    assert len(_audit(world.url, "user.enable", "user:officer_b")) == 1
    r = run_cli("user", "enable", "officer_b")
    assert r.exit_code == 0 and "nothing changed" in r.output
    assert len(_audit(world.url, "user.enable")) == 1
    assert run_cli("user", "enable", "nobody").exit_code == 2


def test_cli_set_role(world, client, run_cli) -> None:
    h = world.headers("planner")
    assert client.get("/scenarios", headers=h).status_code == 200
    r = run_cli("user", "set-role", "planner", "commander")
    assert r.exit_code == 0 and "planner -> commander" in r.output, r.output
    assert client.get("/auth/me", headers=h).json()["role"] == "commander"  # at once, same session
    assert client.get("/scenarios", headers=h).json()["type"].endswith("/forbidden-role")
    assert _audit(world.url, "user.set_role", "user:planner")[0][2] == {"from": "planner", "to": "commander"}
    r = run_cli("user", "set-role", "planner", "officer")  # province-wide: an officer needs communes first
    assert r.exit_code == 2 and "set-communes planner" in r.output
    r = run_cli("user", "set-role", "planner", "mayor")
    assert r.exit_code == 2 and "valid roles" in r.output
    assert len(_audit(world.url, "user.set_role")) == 1


def test_cli_set_communes(world, client, run_cli) -> None:
    h = world.headers("commander_a")
    assert client.get("/auth/me", headers=h).json()["communes"] == ["T001"]
    r = run_cli("user", "set-communes", "commander_a", "T001,T002")
    assert r.exit_code == 0 and "T001, T002" in r.output, r.output
    assert client.get("/auth/me", headers=h).json()["communes"] == ["T001", "T002"]
    r = run_cli("user", "set-communes", "commander_a", "--all")
    assert r.exit_code == 0 and "province-wide" in r.output
    assert client.get("/auth/me", headers=h).json()["communes"] is None
    rows = _audit(world.url, "user.set_communes", "user:commander_a")
    assert [row[2] for row in rows] == [{"from": ["T001"], "to": ["T001", "T002"]},
                                        {"from": ["T001", "T002"], "to": []}]
    r = run_cli("user", "set-communes", "officer_a", "--all")
    assert r.exit_code == 2 and "cannot be province-wide" in r.output
    r = run_cli("user", "set-communes", "officer_a", "T999")
    assert r.exit_code == 2 and "T999" in r.output
    assert run_cli("user", "set-communes", "officer_a").exit_code == 2
    assert run_cli("user", "set-communes", "officer_a", "T002", "--all").exit_code == 2
    r = run_cli("user", "set-communes", "officer_a", "T002")
    assert r.exit_code == 0
    assert client.get("/auth/me", headers=world.headers("officer_a")).json()["communes"] == ["T002"]
    assert len(_audit(world.url, "user.set_communes")) == 3
