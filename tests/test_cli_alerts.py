"""`sitmap alerts`: list, add (the webhook secret from stdin or the environment, never argv), disable, enable,
delete, test — the rules the routes manage, audited as the local command line, and followed by the trigger."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.cli_alerts import SECRET_ENV
from data.settings import get_settings
from tests.opsworld import IN_A, incident_body

SECRET = "a secret shared with the receiver"


@pytest.fixture
def run_cli(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, input=None, env=None: runner.invoke(cli, ["alerts", *args], input=input, env=env)
    get_settings.cache_clear()


def _rules(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT name, enabled, trigger, categories, min_severity, overdue_hours, recipients, "
                            "webhook_url, webhook_secret, (SELECT array_agg(code) FROM admin_unit "
                            "WHERE id = ANY(unit_ids)) FROM alert_rule ORDER BY id").fetchall()


def _audit(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT action, username, remote_addr, detail::text FROM audit_log "
                            "WHERE action LIKE 'notification.rule%%' ORDER BY id").fetchall()


def test_add_list_and_the_secret_never_on_the_command_line(world, run_cli):
    r = run_cli("add", "serious in Alpha", "--trigger", "incident", "--recipient", "commune_chief,province_commander",
                "--min-severity", "serious", "--commune", "T001", "--category", "drugs", "--category", "theft",
                "--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret-stdin", input=SECRET + "\n")
    assert r.exit_code == 0, r.output
    assert _rules(world.url) == [("serious in Alpha", True, "incident", ["drugs", "theft"], "serious", None,
                                  ["commune_chief", "province_commander"], "http://127.0.0.1:9/hook", SECRET,
                                  ["T001"])]
    r = run_cli("add", "overdue", "--trigger", "patrol_overdue", "--recipient", "commune_chief",
                "--overdue-hours", "24", "--webhook-url", "https://10.0.0.5/h", env={SECRET_ENV: SECRET})
    assert r.exit_code == 0, r.output
    assert _rules(world.url)[1][5] == 24 and _rules(world.url)[1][8] == SECRET
    # No secret given: refused, nothing stored; and there is no option that takes it on argv.
    r = run_cli("add", "no secret", "--trigger", "incident", "--recipient", "admin", "--webhook-url", "http://x/h")
    assert r.exit_code == 2 and SECRET_ENV in r.output
    r = run_cli("add", "argv", "--trigger", "incident", "--recipient", "admin", "--webhook-secret", SECRET)
    assert r.exit_code == 2
    assert len(_rules(world.url)) == 2
    r = run_cli("list")
    assert r.exit_code == 0, r.output
    assert "serious in Alpha" in r.output and "serious or worse" in r.output and "communes T001" in r.output
    assert "overdue by more than 24 h" in r.output
    assert SECRET not in r.output
    audited = _audit(world.url)
    assert [(a, u, addr) for a, u, addr, _ in audited] == [("notification.rule_create", "cli", "local")] * 2
    assert all(SECRET not in detail for *_, detail in audited)


def test_bad_input_exits_2_with_the_reason(world, run_cli):
    cases = [(["--trigger", "earthquake", "--recipient", "admin"], "trigger"),
             (["--trigger", "incident", "--recipient", "mayor"], "recipients"),
             (["--trigger", "incident", "--recipient", "admin", "--commune", "NOPE"], "NOPE"),
             (["--trigger", "incident", "--recipient", "admin", "--overdue-hours", "3"], "overdue_hours"),
             (["--trigger", "incident"], "notifies nobody")]
    for args, reason in cases:
        r = run_cli("add", "bad", *args)
        assert r.exit_code == 2, (args, r.output)
        assert reason in r.output, (args, r.output)
    assert run_cli("add", "ok", "--trigger", "incident", "--recipient", "admin").exit_code == 0
    r = run_cli("add", "ok", "--trigger", "incident", "--recipient", "admin")
    assert r.exit_code == 2 and "exists" in r.output
    for cmd in ("disable", "enable", "delete", "test"):
        r = run_cli(cmd, "no such rule")
        assert r.exit_code == 2 and "no notification rule" in r.output, (cmd, r.output)
    assert _rules(world.url)[0][0] == "ok" and len(_rules(world.url)) == 1


def test_disable_enable_delete_and_test_follow_through(world, run_cli, make_client):
    assert run_cli("add", "serious", "--trigger", "incident", "--recipient", "commune_chief",
                   "--min-severity", "serious").exit_code == 0
    client = make_client(world.url)

    def notified() -> int:
        with psycopg.connect(world.url) as conn:
            return conn.execute("SELECT count(*) FROM notification").fetchone()[0]

    r = run_cli("disable", "serious")
    assert r.exit_code == 0 and "disabled" in r.output, r.output
    assert "already disabled" in run_cli("disable", "serious").output
    assert client.post("/incidents", json=incident_body(IN_A, severity="serious"),
                       headers=world.headers("officer_a")).status_code == 201
    assert notified() == 0  # a disabled rule notifies nobody
    with psycopg.connect(world.url) as conn:
        rule_id = conn.execute("SELECT id FROM alert_rule WHERE name = 'serious'").fetchone()[0]
    assert run_cli("enable", str(rule_id)).exit_code == 0  # by id as well as by name
    assert client.post("/incidents", json=incident_body(IN_A, severity="serious"),
                       headers=world.headers("officer_a")).status_code == 201
    assert notified() == 1

    r = run_cli("test", "serious", "--commune", "T001")
    assert r.exit_code == 0 and "would notify: commander_a" in r.output, r.output
    assert "would notify: nobody" in run_cli("test", "serious", "--commune", "T002").output
    assert notified() == 1  # a test notifies nobody

    r = run_cli("delete", "serious")
    assert r.exit_code == 2 and "disable it instead" in r.output  # it has notified someone
    assert len(_rules(world.url)) == 1 and notified() == 1
    r = run_cli("delete", "serious", "--force")
    assert r.exit_code == 0 and "with 1 notification(s)" in r.output, r.output
    assert _rules(world.url) == [] and notified() == 0
    actions = [a for a, *_ in _audit(world.url)]
    assert actions == ["notification.rule_create", "notification.rule_update", "notification.rule_update",
                       "notification.rule_test", "notification.rule_test", "notification.rule_delete"]
