"""Alert rules as data (table ``alert_rule``, migration 0022): what a rule watches (data/vocab.py
ALERT_TRIGGERS), its conditions, who hears of it (ALERT_RECIPIENTS and named users) and an optional webhook.

Admins manage them (``notification.rules``) over the API and with ``sitmap alerts``. Conditions of an
``incident`` rule: categories (none: any), a minimum severity (the order of data/vocab.py INCIDENT_SEVERITIES;
none: any) and communes (none: all) — all of them must hold; "serious or worse, or any human-trafficking case"
is two rules, and a recipient of both still gets one notification per write. A ``patrol_overdue`` rule has
communes and the hours a point must be overdue by. The incident trigger (migration 0022) and the overdue sweep
(data/ops/notifications.py) evaluate them. The webhook secret is stored and never shown back
(``webhook_secret_set`` says whether there is one). Every change is one transaction with its audit row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.ops import audit
from data.ops.errors import OpsError, bad_parameter, conflict, invalid, not_found
from data.permissions import Caller

TRIGGERS = vocab.codes(vocab.ALERT_TRIGGERS)
RECIPIENTS = vocab.codes(vocab.ALERT_RECIPIENTS)
CATEGORIES = vocab.codes(vocab.INCIDENT_CATEGORIES)
SEVERITIES = vocab.codes(vocab.INCIDENT_SEVERITIES)
NAME_CHARS = 120
URL_CHARS = 2000
SECRET_MIN, SECRET_MAX = 16, 256
MAX_HOURS = 24 * 365
MAX_LIST = 100
# Fields a change may carry (PATCH, the CLI's disable).
EDITABLE = ("name", "enabled", "categories", "min_severity", "communes", "overdue_hours", "recipients", "users",
            "webhook_url", "webhook_secret")


@dataclass
class RuleIn:
    name: str
    trigger: str
    recipients: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    categories: list[str] | None = None
    min_severity: str | None = None
    communes: list[str] | None = None  # 2025 commune codes; None: every commune
    overdue_hours: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    enabled: bool = True


SELECT_SQL = """
SELECT r.id, r.name, r.enabled, r.trigger, r.categories, r.min_severity, r.unit_ids, r.overdue_hours,
       r.recipients, r.user_ids, r.webhook_url, r.webhook_secret IS NOT NULL AS webhook_secret_set, r.version,
       r.created_at, r.updated_at,
       (SELECT array_agg(u.code ORDER BY u.code) FROM admin_unit u WHERE u.id = ANY(r.unit_ids)) AS communes,
       (SELECT coalesce(array_agg(a.username ORDER BY a.username), '{}') FROM app_user a
         WHERE a.id = ANY(r.user_ids)) AS users
  FROM alert_rule r
"""


def representation(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("unit_ids", "user_ids")}
    if row["unit_ids"] is None:
        out["communes"] = None
    return out


# ---------------------------------------------------------------------------------------------- checks

def _one_of(name: str, value: Any, valid: list[str]) -> None:
    if value not in valid:
        raise invalid(f"unknown {name} {value!r}; valid values: {', '.join(valid)}", field=name, valid=valid)


def _list(name: str, values: list[Any] | None) -> None:
    if values is not None and len(values) > MAX_LIST:
        raise invalid(f"{name} has {len(values)} entries; the limit is {MAX_LIST}", field=name, limit=MAX_LIST)


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"webhook_url {url[:80]!r} must be an http:// or https:// URL with a host, at most "
                      f"{URL_CHARS} characters (e.g. https://10.0.0.5/sitmap-hook)", field="webhook_url")
    try:
        parts.port  # noqa: B018 (raises for a port out of range)
    except ValueError as exc:
        raise invalid(f"webhook_url {url[:80]!r} has an invalid port", field="webhook_url") from exc


def check_secret(secret: str) -> None:
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise invalid(f"webhook_secret must have {SECRET_MIN} to {SECRET_MAX} characters (it has {len(secret)}); "
                      "share a long random string with the receiver", field="webhook_secret")


def check(item: RuleIn) -> None:
    """Everything that needs no database; raises OpsError (422) saying what to fix."""
    if not item.name.strip() or len(item.name) > NAME_CHARS:
        raise invalid(f"name must have 1 to {NAME_CHARS} characters", field="name")
    _one_of("trigger", item.trigger, TRIGGERS)
    for name in ("recipients", "users", "categories", "communes"):
        _list(name, getattr(item, name))
    for r in item.recipients:
        _one_of("recipients", r, RECIPIENTS)
    for c in item.categories or ():
        _one_of("categories", c, CATEGORIES)
    if item.min_severity is not None:
        _one_of("min_severity", item.min_severity, SEVERITIES)
    if item.categories is not None and not item.categories:
        raise invalid("categories is empty: leave it out (null) for every category, or name some", field="categories")
    if item.communes is not None and not item.communes:
        raise invalid("communes is empty: leave it out (null) for every commune, or name some", field="communes")
    if item.trigger == "incident" and item.overdue_hours is not None:
        raise invalid("overdue_hours applies to patrol_overdue rules only", field="overdue_hours")
    if item.trigger == "patrol_overdue" and (item.categories is not None or item.min_severity is not None):
        raise invalid("categories and min_severity apply to incident rules only", field="categories")
    if item.overdue_hours is not None and not 1 <= item.overdue_hours <= MAX_HOURS:
        raise invalid(f"overdue_hours must be 1 to {MAX_HOURS}", field="overdue_hours")
    if item.webhook_url is not None:
        check_url(item.webhook_url)
        if item.webhook_secret is None:
            raise invalid("a webhook needs webhook_secret: the receiver checks X-Sitmap-Signature with it",
                          field="webhook_secret")
    if item.webhook_secret is not None:
        check_secret(item.webhook_secret)
    if not item.recipients and not item.users and item.webhook_url is None:
        raise invalid(f"the rule notifies nobody: give recipients ({', '.join(RECIPIENTS)}), users or a webhook_url",
                      field="recipients")


_COMMUNES_SQL = ("SELECT code, id FROM admin_unit WHERE era = '2025' AND code = ANY(%s) AND "  # noqa: S608
                 + vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS))


async def _unit_ids(conn: psycopg.AsyncConnection, codes: list[str] | None) -> list[int] | None:
    if codes is None:
        return None
    rows = await (await conn.execute(
        _COMMUNES_SQL, (codes,))).fetchall()
    found = dict(rows)
    missing = [c for c in codes if c not in found]
    if missing:
        raise invalid(f"no commune of 2025 has the code(s) {', '.join(missing)}", field="communes", missing=missing)
    return sorted(set(found.values()))


async def _user_ids(conn: psycopg.AsyncConnection, names: list[str]) -> list[int]:
    rows = await (await conn.execute("SELECT username, id FROM app_user WHERE username = ANY(%s)",
                                     (names,))).fetchall()
    found = dict(rows)
    missing = [n for n in names if n not in found]
    if missing:
        raise invalid(f"there is no user {', '.join(map(repr, missing))}; see `sitmap user list`", field="users",
                      missing=missing)
    return sorted(set(found.values()))


async def fetch(conn: psycopg.AsyncConnection, rule_id: int, lock: bool = False) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE r.id = %s" + (" FOR UPDATE OF r" if lock else ""), (rule_id,))
    return await cur.fetchone()


async def by_name(conn: psycopg.AsyncConnection, name: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " WHERE r.name = %s", (name,))
    return await cur.fetchone()


def _detail(item: RuleIn) -> dict[str, Any]:
    """The audit row's detail: the rule without its secret."""
    d = {k: v for k, v in vars(item).items() if k != "webhook_secret"}
    d["webhook_secret_set"] = item.webhook_secret is not None
    return d


async def create(conn: psycopg.AsyncConnection, actor: Caller, item: RuleIn, addr: str | None) -> dict[str, Any]:
    """Store a rule; 422 for a bad field, 409 for a name in use."""
    check(item)
    async with conn.transaction():
        units = await _unit_ids(conn, item.communes)
        uids = await _user_ids(conn, item.users)
        cur = await conn.execute(
            "INSERT INTO alert_rule (name, enabled, trigger, categories, min_severity, unit_ids, overdue_hours, "
            "recipients, user_ids, webhook_url, webhook_secret, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
            (item.name, item.enabled, item.trigger, item.categories, item.min_severity, units, item.overdue_hours,
             item.recipients, uids, item.webhook_url, item.webhook_secret, actor.user_id))
        found = await cur.fetchone()
        if found is None:
            raise conflict(f"a rule named {item.name!r} exists; choose another name or change that rule",
                           name=item.name)
        await audit.record(conn, actor.user_id, actor.username, "notification.rule_create", f"alert_rule:{found[0]}",
                           addr, _detail(item))
        row = await fetch(conn, found[0])
    return representation(row)


async def search(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(SELECT_SQL + " ORDER BY r.id")
    return [representation(r) for r in await cur.fetchall()]


async def read(conn: psycopg.AsyncConnection, rule_id: int) -> dict[str, Any]:
    row = await fetch(conn, rule_id)
    if row is None:
        raise not_found(f"there is no notification rule {rule_id}; see GET /notification-rules")
    return representation(row)


async def update(conn: psycopg.AsyncConnection, actor: Caller, rule_id: int, version: int, changes: dict[str, Any],
                 addr: str | None) -> dict[str, Any]:
    """Change a rule under optimistic concurrency (a stale version is 409); webhook_url null removes the webhook
    and its secret."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)}; a rule's fields: {', '.join(EDITABLE)}",
                      field=unknown[0])
    if not changes:
        raise invalid(f"nothing to change: send one of {', '.join(EDITABLE)}")
    async with conn.transaction():
        row = await fetch(conn, rule_id, lock=True)
        if row is None:
            raise not_found(f"there is no notification rule {rule_id}; see GET /notification-rules")
        if row["version"] != version:
            raise conflict(f"notification rule {rule_id} has changed: your version is {version}, the current one is "
                           f"{row['version']}; reload it and apply your change again", current_version=row["version"])
        secret = (await (await conn.execute("SELECT webhook_secret FROM alert_rule WHERE id = %s",
                                            (rule_id,))).fetchone())[0]
        merged = RuleIn(name=row["name"], trigger=row["trigger"], recipients=list(row["recipients"]),
                        users=list(row["users"]), categories=row["categories"], min_severity=row["min_severity"],
                        communes=row["communes"] if row["unit_ids"] is not None else None,
                        overdue_hours=row["overdue_hours"], webhook_url=row["webhook_url"], webhook_secret=secret,
                        enabled=row["enabled"])
        for k, v in changes.items():
            setattr(merged, k, v)
        if "webhook_url" in changes and changes["webhook_url"] is None:
            merged.webhook_secret = None
        check(merged)
        units = await _unit_ids(conn, merged.communes)
        uids = await _user_ids(conn, merged.users)
        cur = await conn.execute(
            "UPDATE alert_rule SET name = %s, enabled = %s, categories = %s, min_severity = %s, unit_ids = %s, "
            "overdue_hours = %s, recipients = %s, user_ids = %s, webhook_url = %s, webhook_secret = %s, "
            "version = version + 1, updated_at = now() WHERE id = %s AND NOT EXISTS "
            "(SELECT FROM alert_rule o WHERE o.name = %s AND o.id <> %s) RETURNING id",
            (merged.name, merged.enabled, merged.categories, merged.min_severity, units, merged.overdue_hours,
             merged.recipients, uids, merged.webhook_url, merged.webhook_secret, rule_id, merged.name, rule_id))
        if await cur.fetchone() is None:
            raise conflict(f"a rule named {merged.name!r} exists; choose another name", name=merged.name)
        logged = {k: v for k, v in changes.items() if k != "webhook_secret"}
        if "webhook_secret" in changes:
            logged["webhook_secret_changed"] = True
        await audit.record(conn, actor.user_id, actor.username, "notification.rule_update", f"alert_rule:{rule_id}",
                           addr, logged)
        new = await fetch(conn, rule_id)
    return representation(new)


async def delete(conn: psycopg.AsyncConnection, actor: Caller, rule_id: int, addr: str | None,
                 force: bool = False) -> dict[str, Any]:
    """Remove a rule. Its notifications and deliveries go with it (the foreign keys cascade), so a rule that
    has notified anyone is refused (409: disable it instead) unless ``force``."""
    async with conn.transaction():
        row = await fetch(conn, rule_id, lock=True)
        if row is None:
            raise not_found(f"there is no notification rule {rule_id}; see GET /notification-rules")
        sent = (await (await conn.execute("SELECT count(*) FROM notification WHERE rule_id = %s",
                                          (rule_id,))).fetchone())[0]
        if sent and not force:
            raise conflict(f"rule {rule_id} ({row['name']}) has {sent} notification(s) in people's inboxes that "
                           "would be deleted with it; disable it instead, or force the deletion",
                           notifications=sent)
        pending = (await (await conn.execute(
            "SELECT count(*) FROM webhook_delivery WHERE rule_id = %s AND status = 'pending'",
            (rule_id,))).fetchone())[0]
        await conn.execute("DELETE FROM alert_rule WHERE id = %s", (rule_id,))
        await audit.record(conn, actor.user_id, actor.username, "notification.rule_delete", f"alert_rule:{rule_id}",
                           addr, {"name": row["name"], "notifications": sent, "pending_deliveries": pending})
    return {"id": rule_id, "name": row["name"], "notifications": sent, "pending_deliveries": pending}


RECIPIENTS_SQL = """
SELECT u.username FROM sitmap_alert_recipients(%(r)s::varchar[], %(u)s::int[], %(unit)s) AS x(uid)
  JOIN app_user u ON u.id = x.uid ORDER BY u.username
"""


async def test(conn: psycopg.AsyncConnection, actor: Caller, rule_id: int, commune: str | None,
               addr: str | None) -> dict[str, Any]:
    """A dry run: who would hear of the rule's subject in ``commune`` (its first commune, else none given), and,
    when the rule has a webhook, one test delivery queued (body ``trigger: "test"``); no notification is stored."""
    async with conn.transaction():
        row = await fetch(conn, rule_id)
        if row is None:
            raise not_found(f"there is no notification rule {rule_id}; see GET /notification-rules")
        unit = None
        if commune is not None:
            try:
                unit = (await _unit_ids(conn, [commune]))[0]
            except OpsError as exc:
                raise bad_parameter(exc.detail, "commune") from exc
        elif row["unit_ids"]:
            unit = row["unit_ids"][0]
        cur = await conn.execute(RECIPIENTS_SQL, {"r": row["recipients"], "u": row["user_ids"], "unit": unit})
        names = [r[0] for r in await cur.fetchall()]
        delivery = None
        if row["webhook_url"] is not None:
            cur = await conn.execute(
                "INSERT INTO webhook_delivery (rule_id, body) VALUES (%s, jsonb_build_object('trigger', 'test', "
                "'rule', jsonb_build_object('id', %s::int, 'name', %s::text), 'recipients', %s::jsonb, "
                "'created_at', now())) RETURNING id", (rule_id, rule_id, row["name"], json.dumps(names)))
            delivery = (await cur.fetchone())[0]
        await audit.record(conn, actor.user_id, actor.username, "notification.rule_test", f"alert_rule:{rule_id}",
                           addr, {"commune": commune, "recipients": names, "delivery_id": delivery})
    return {"rule_id": rule_id, "unit_id": unit, "recipients": names, "delivery_id": delivery}


# The two examples (the demo load seeds them, without webhooks): serious or worse, and any human
# trafficking, to the commune chief and the province duty commander; a patrol point overdue by more than a
# day to the commune chief.
EXAMPLES = (
    RuleIn(name="Vụ việc nghiêm trọng trở lên / Serious or worse", trigger="incident", min_severity="serious",
           recipients=["commune_chief", "province_commander"]),
    RuleIn(name="Mua bán người / Human trafficking", trigger="incident", categories=["human_trafficking"],
           recipients=["commune_chief", "province_commander"]),
    RuleIn(name="Điểm tuần tra quá hạn 1 ngày / Patrol point overdue by a day", trigger="patrol_overdue",
           overdue_hours=24, recipients=["commune_chief"]),
)


def seed_examples(conn: psycopg.Connection) -> int:
    """Store the example rules that are missing (by name); returns how many were added."""
    added = 0
    for item in EXAMPLES:
        check(item)
        cur = conn.execute(
            "INSERT INTO alert_rule (name, trigger, categories, min_severity, overdue_hours, recipients) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
            (item.name, item.trigger, item.categories, item.min_severity, item.overdue_hours, item.recipients))
        added += cur.fetchone() is not None
    return added

