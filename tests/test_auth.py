"""Accounts: argon2 passwords, expiring bearer tokens, the browser cookie with its CSRF rule, logout,
disabled users, and the `sitmap user` / `sitmap audit` commands."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from data.settings import get_settings
from tests.opsworld import PASSWORD, incident_body


@pytest.fixture
def run_cli(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, list(args))
    get_settings.cache_clear()


def test_password_is_stored_as_argon2(world):
    with psycopg.connect(world.url) as conn:
        stored = conn.execute("SELECT password_hash FROM app_user WHERE username = 'officer_a'").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_token_flow_me_and_logout(client):
    bad = client.post("/auth/token", data={"username": "officer_a", "password": "nope"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    r = client.post("/auth/token", data={"username": "officer_a", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer" and r.json()["expires_in"] > 0
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = client.get("/auth/me", headers=headers).json()
    assert me == {"username": "officer_a", "role": "officer", "communes": ["T001"]}
    assert client.get("/auth/me").status_code == 401
    assert client.post("/auth/logout", headers=headers).status_code == 200
    assert client.get("/auth/me", headers=headers).status_code == 401


def test_tokens_expire(world, make_client):
    short = make_client(world.url, token_ttl_minutes=0)
    tok = short.post("/auth/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
    r = short.get("/auth/me", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_cookie_session_and_csrf_rule(world, make_client):
    client = make_client(world.url, cookie_secure=True)
    r = client.post("/auth/login", json={"username": "commander_a", "password": PASSWORD})
    assert r.status_code == 200 and r.json() == {"username": "commander_a", "role": "commander",
                                                  "communes": ["T001"]}
    cookie = r.headers["set-cookie"].lower()
    assert "sitmap_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    token = r.cookies.get("sitmap_session") or r.headers["set-cookie"].split("=", 1)[1].split(";")[0]
    jar = {"Cookie": f"sitmap_session={token}"}
    assert client.get("/auth/me", headers=jar).json()["username"] == "commander_a"
    # A write with only the cookie is refused; the same write with X-Requested-With goes through.
    body = incident_body()
    r = client.post("/incidents", json=body, headers=jar)
    assert r.status_code == 403 and "X-Requested-With" in r.json()["detail"]
    r = client.post("/incidents", json=body, headers={**jar, "X-Requested-With": "fetch"})
    assert r.status_code == 201
    form = client.post("/auth/login", data={"username": "planner", "password": PASSWORD})
    assert form.status_code == 200 and form.json()["communes"] is None
    assert client.post("/auth/login", json={"username": "planner"}).status_code == 422


def test_disabled_user_is_locked_out_at_once(world, client, run_cli):
    assert client.get("/auth/me", headers=world.headers("officer_b")).status_code == 200
    r = run_cli("user", "disable", "officer_b")
    assert r.exit_code == 0, r.output
    assert client.get("/auth/me", headers=world.headers("officer_b")).status_code == 401
    assert client.post("/auth/token", data={"username": "officer_b", "password": PASSWORD}).status_code == 401
    assert run_cli("user", "disable", "nobody").exit_code == 2


def test_cli_user_add_list_and_audit(world, client, run_cli):
    r = run_cli("user", "add", "chief", "--role", "commander", "--commune", "Xã Alpha", "--password", "pw-1234",
                "--no-force-change")  # it signs in and writes at once (the forced change: tests/test_accounts.py)
    assert r.exit_code == 0 and "T001" in r.output, r.output
    r = run_cli("user", "add", "lost", "--role", "officer", "--commune", "Xã", "--password", "pw")
    assert r.exit_code == 2 and "Xã Alpha (T001)" in r.output and "Xã Beta (T002)" in r.output
    r = run_cli("user", "add", "nowhere", "--role", "officer", "--password", "pw")
    assert r.exit_code == 2 and "--commune" in r.output
    r = run_cli("user", "add", "x", "--role", "mayor", "--password", "pw")
    assert r.exit_code == 2 and "planner" in r.output
    listing = run_cli("user", "list").output
    assert "chief" in listing and "T001" in listing and "province-wide" in listing
    tok = client.post("/auth/token", data={"username": "chief", "password": "pw-1234"}).json()["access_token"]
    assert client.post("/incidents", json=incident_body(),
                       headers={"Authorization": f"Bearer {tok}"}).status_code == 201
    r = run_cli("audit", "--user", "chief")
    assert r.exit_code == 0 and "incident.create" in r.output and "login" in r.output
    assert "incident.create" not in run_cli("audit", "--action", "login*").output
    assert run_cli("audit", "--since", "yesterday").exit_code == 2
