"""`sitmap alerts ...`: notification rules and their webhooks.

The same operations as the admins' routes (data/ops/alert_rules.py), each audited as the local command line
(actor ``cli``, address ``local``). A webhook's shared secret is never an argument (argv is visible to every
user of the machine and lands in shell histories): it is read from the first line of stdin
(``--webhook-secret-stdin``) or from the environment variable ``SITMAP_ALERTS_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from api.cli_common import actor as _actor
from api.cli_common import fail as _fail
from api.cli_common import run_async as _run

alerts_app = typer.Typer(help="Notification rules (who hears of what) and their webhooks.", no_args_is_help=True)

SECRET_ENV = "SITMAP_ALERTS_WEBHOOK_SECRET"
ADDR = "local"


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


async def _rule(conn, ref: str) -> dict[str, Any]:
    """A rule by its id or its exact name."""
    from data.ops import alert_rules
    from data.ops.errors import not_found

    row = await alert_rules.fetch(conn, int(ref)) if ref.isdigit() and len(ref) < 10 else None
    row = row or await alert_rules.by_name(conn, ref)
    if row is None:
        raise not_found(f"there is no notification rule {ref!r}; see `sitmap alerts list`")
    return alert_rules.representation(row)


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma-separated lists alike; None when not given."""
    if not values:
        return None
    return [v.strip() for arg in values for v in arg.split(",") if v.strip()]


def _describe(r: dict[str, Any]) -> str:
    when = []
    if r["trigger"] == "incident":
        when.append(f"categories {','.join(r['categories'])}" if r["categories"] else "any category")
        when.append(f"{r['min_severity']} or worse" if r["min_severity"] else "any severity")
    else:
        when.append(f"overdue by more than {r['overdue_hours'] or 0} h")
    when.append(f"communes {','.join(r['communes'])}" if r["communes"] else "every commune")
    who = ",".join(list(r["recipients"]) + list(r["users"])) or "-"
    hook = r["webhook_url"] or "no webhook"
    state = "enabled" if r["enabled"] else "disabled"
    return f"{r['id']:>4}  {state:<8} {r['trigger']:<14} {r['name']}\n      when: {'; '.join(when)}\n" \
           f"      to: {who}; webhook: {hook}"


@alerts_app.command("list", help="List the rules (and, with --deliveries, the latest webhook deliveries).")
def alerts_list(deliveries: Annotated[bool, typer.Option("--deliveries",
                                                         help="Also the latest 20 webhook deliveries.")] = False
                ) -> None:
    from data.ops import alert_rules, webhooks

    async def work(conn):
        return await alert_rules.search(conn), (await webhooks.status(conn, limit=20) if deliveries else [])

    rules, sent = _run(work)
    if not rules:
        typer.echo("no rules; add one with `sitmap alerts add`")
    for r in rules:
        typer.echo(_describe(r))
    for d in sent:
        typer.echo(f"delivery {d['id']} rule {d['rule_id']}: {d['status']}, {d['attempts']} attempt(s), "
                   f"last status {d['last_status'] or '-'}, next {d['next_attempt_at']:%Y-%m-%d %H:%M:%S %Z}")


def _secret(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return os.environ.get(SECRET_ENV) or None


@alerts_app.command("add", help="Add a rule. Lists take repeated options or commas. A --webhook-url needs its "
                                f"shared secret on stdin (--webhook-secret-stdin) or in {SECRET_ENV}.")
def alerts_add(
    name: Annotated[str, typer.Argument(help="A name of its own (Vietnamese and English, if you like).")],
    trigger: Annotated[str, typer.Option(help="incident | patrol_overdue")],
    recipient: Annotated[list[str] | None, typer.Option(
        help="commune_chief | province_commander | admin")] = None,
    user: Annotated[list[str] | None, typer.Option(help="A named user who hears of it too.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Incident categories (none: any).")] = None,
    min_severity: Annotated[str | None, typer.Option(help="This severity or worse (none: any).")] = None,
    commune: Annotated[list[str] | None, typer.Option(help="2025 commune codes (none: every commune).")] = None,
    overdue_hours: Annotated[int | None, typer.Option(help="patrol_overdue: overdue by more than this.")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="http(s) URL the notification is POSTed to.")] = None,
    webhook_secret_stdin: Annotated[bool, typer.Option(
        "--webhook-secret-stdin", help="Read the webhook's shared secret from the first line of stdin.")] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it disabled.")] = False,
) -> None:
    from data.ops import alert_rules

    secret = _secret(webhook_secret_stdin) if webhook_url else None
    if webhook_url and secret is None:
        _fail(f"a webhook needs its shared secret: pipe it with --webhook-secret-stdin or set {SECRET_ENV}", 2)
    item = alert_rules.RuleIn(name=name, trigger=trigger, recipients=_split(recipient) or [],
                              users=_split(user) or [], categories=_split(category), min_severity=min_severity,
                              communes=_split(commune), overdue_hours=overdue_hours, webhook_url=webhook_url,
                              webhook_secret=secret, enabled=not disabled)
    row = _run(lambda conn: alert_rules.create(conn, _actor(), item, ADDR))
    typer.echo(f"added rule {row['id']}\n" + _describe(row))


def _set_enabled(ref: str, enabled: bool) -> None:
    from data.ops import alert_rules

    async def work(conn):
        rule = await _rule(conn, ref)
        if rule["enabled"] == enabled:
            return rule, False
        return await alert_rules.update(conn, _actor(), rule["id"], rule["version"], {"enabled": enabled},
                                        ADDR), True

    rule, changed = _run(work)
    word = "enabled" if enabled else "disabled"
    typer.echo(f"rule {rule['id']} ({rule['name']}) {word}" if changed
               else f"rule {rule['id']} ({rule['name']}) was already {word}; nothing changed")


@alerts_app.command("disable", help="Disable a rule (by id or name): it notifies nobody until enabled.")
def alerts_disable(rule: Annotated[str, typer.Argument(help="The rule's id or name.")]) -> None:
    _set_enabled(rule, False)


@alerts_app.command("enable", help="Enable a rule again (by id or name).")
def alerts_enable(rule: Annotated[str, typer.Argument(help="The rule's id or name.")]) -> None:
    _set_enabled(rule, True)


@alerts_app.command("delete", help="Delete a rule (by id or name). A rule that has notified anyone is kept "
                                   "unless --force (its notifications would leave people's inboxes): disable it.")
def alerts_delete(rule: Annotated[str, typer.Argument(help="The rule's id or name.")],
                  force: Annotated[bool, typer.Option("--force", help="Delete it with its notifications.")] = False
                  ) -> None:
    from data.ops import alert_rules

    async def work(conn):
        found = await _rule(conn, rule)
        return await alert_rules.delete(conn, _actor(), found["id"], ADDR, force=force)

    done = _run(work)
    typer.echo(f"deleted rule {done['id']} ({done['name']}) with {done['notifications']} notification(s) and "
               f"{done['pending_deliveries']} pending delivery(ies)")


@alerts_app.command("test", help="Who would hear of a rule in a commune (its first commune by default); a rule "
                                 "with a webhook also gets one test delivery queued. Nobody is notified.")
def alerts_test(rule: Annotated[str, typer.Argument(help="The rule's id or name.")],
                commune: Annotated[str | None, typer.Option(help="A 2025 commune code.")] = None) -> None:
    from data.ops import alert_rules

    async def work(conn):
        found = await _rule(conn, rule)
        return await alert_rules.test(conn, _actor(), found["id"], commune, ADDR)

    out = _run(work)
    typer.echo(f"rule {out['rule_id']} would notify: {', '.join(out['recipients']) or 'nobody'}")
    if out["delivery_id"] is not None:
        typer.echo(f"test delivery {out['delivery_id']} queued (see `sitmap alerts list --deliveries`)")
