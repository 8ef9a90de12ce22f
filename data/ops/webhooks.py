"""Webhook delivery from the outbox ``webhook_delivery`` (written in the transaction of the notification).

``deliver_due`` claims due rows with ``FOR UPDATE SKIP LOCKED`` (so workers never send the same row at once)
and, in the same short transaction, counts the attempt and pushes ``next_attempt_at`` past the HTTP timeout —
a worker that dies mid-send leaves the row to be retried, never lost. The POSTs run after that commit, so no
row lock or transaction is held while a receiver is slow. A 2xx answer delivers the row; anything else (an
HTTP error status, a refused connection, no complete answer within ``timeout_s``) waits
``backoff_s * 2^(attempts-1)`` (at most ``backoff_max_s``) and after ``max_attempts`` the row is ``failed``.

What the receiver gets: a JSON body (the stored body with ``delivery_id``, ``attempt`` and ``sent_at`` added),
``X-Sitmap-Timestamp`` (the Unix seconds of ``sent_at``), ``X-Sitmap-Delivery`` (the id; a retry repeats it,
so a receiver can drop duplicates) and ``X-Sitmap-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes
with the rule's secret>``. The body includes the timestamp, so the signature covers it too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

SIGNATURE_HEADER = "X-Sitmap-Signature"
TIMESTAMP_HEADER = "X-Sitmap-Timestamp"
DELIVERY_HEADER = "X-Sitmap-Delivery"
ERROR_CHARS = 500


@dataclass(frozen=True)
class Policy:
    timeout_s: float
    backoff_s: float
    backoff_max_s: float
    max_attempts: int
    batch: int = 20

    @classmethod
    def of(cls, settings: Any) -> Policy:
        return cls(settings.webhook_timeout_s, settings.webhook_backoff_s, settings.webhook_backoff_max_s,
                   settings.webhook_max_attempts)

    def delay_s(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1-based): exponential, capped."""
        return min(self.backoff_s * 2 ** (attempts - 1), self.backoff_max_s)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does (and the tests): compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


CLAIM_SQL = """
WITH due AS (
  SELECT d.id FROM webhook_delivery d
   WHERE d.status = 'pending' AND d.next_attempt_at <= coalesce(%(now)s::timestamptz, now())
   ORDER BY d.next_attempt_at, d.id LIMIT %(n)s
   FOR UPDATE SKIP LOCKED
)
UPDATE webhook_delivery d
   SET attempts = d.attempts + 1,
       next_attempt_at = coalesce(%(now)s::timestamptz, now()) + make_interval(secs => %(lease)s)
  FROM due, alert_rule r
 WHERE d.id = due.id AND r.id = d.rule_id
RETURNING d.id, d.body, d.attempts, r.webhook_url, r.webhook_secret
"""

DONE_SQL = """
UPDATE webhook_delivery SET status = 'delivered', delivered_at = coalesce(%(now)s::timestamptz, now()),
       last_status = %(status)s, last_error = NULL
 WHERE id = %(id)s
"""

FAILED_SQL = """
UPDATE webhook_delivery
   SET status = CASE WHEN %(final)s THEN 'failed' ELSE 'pending' END, last_status = %(status)s,
       last_error = %(error)s,
       next_attempt_at = coalesce(%(now)s::timestamptz, now()) + make_interval(secs => %(delay)s)
 WHERE id = %(id)s
"""


def payload(row: dict[str, Any], now: datetime) -> bytes:
    body = {**row["body"], "delivery_id": row["id"], "attempt": row["attempts"], "sent_at": now.isoformat()}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


async def _send(http: httpx.AsyncClient, row: dict[str, Any], clock: datetime | None
                ) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one attempt; an error is None only for a 2xx answer."""
    if not row["webhook_url"] or not row["webhook_secret"]:
        return None, "the rule has no webhook any more"
    now = clock or datetime.now(UTC)
    body = payload(row, now)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(row["webhook_secret"], body),
               TIMESTAMP_HEADER: str(int(now.timestamp())), DELIVERY_HEADER: str(row["id"]),
               "User-Agent": "sitmap-webhook/1"}
    try:
        resp = await http.post(row["webhook_url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS] or type(exc).__name__
    if 200 <= resp.status_code < 300:
        return resp.status_code, None
    return resp.status_code, f"HTTP {resp.status_code}: {resp.text[:200]}"[:ERROR_CHARS]


async def _attempt(http: httpx.AsyncClient, row: dict[str, Any], clock: datetime | None, timeout_s: float
                   ) -> tuple[int | None, str | None]:
    """One attempt under one deadline for the whole exchange. httpx's timeouts are per phase (a read waits at
    most that long *between* bytes), so a receiver dripping its answer a byte at a time would hold the worker's
    delivery round past the claim's lease, and another round would send the row again meanwhile."""
    try:
        return await asyncio.wait_for(_send(http, row, clock), timeout_s)
    except TimeoutError:
        return None, f"no complete answer within {timeout_s:g} s"


async def deliver_due(conn: psycopg.AsyncConnection, http: httpx.AsyncClient, policy: Policy,
                      now: datetime | None = None) -> dict[str, int]:
    """Send every delivery due now (in batches); returns counts of delivered, retried and failed attempts.
    ``conn`` must be in autocommit mode (each claim and each result is its own transaction). ``now`` replaces
    the database's clock (what is due, the lease, the back-off, ``sent_at``), so a test can step through the
    retry schedule without waiting for it; the workers leave it None."""
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    while True:
        async with conn.transaction():
            cur = await conn.execute(CLAIM_SQL, {"n": policy.batch, "lease": policy.timeout_s + 30, "now": now})
            cols = [c.name for c in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in await cur.fetchall()]
        if not rows:
            return counts
        results = await asyncio.gather(*(_attempt(http, r, now, policy.timeout_s) for r in rows))
        for row, (status, error) in zip(rows, results, strict=True):
            if error is None:
                await conn.execute(DONE_SQL, {"id": row["id"], "status": status, "now": now})
                counts["delivered"] += 1
                continue
            final = row["attempts"] >= policy.max_attempts or not row["webhook_url"]
            await conn.execute(FAILED_SQL, {"id": row["id"], "status": status, "error": error, "final": final,
                                            "delay": policy.delay_s(row["attempts"]), "now": now})
            counts["failed" if final else "retry"] += 1
        if len(rows) < policy.batch:
            return counts


async def status(conn: psycopg.AsyncConnection, rule_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries (of one rule), for ``sitmap alerts list`` and the tests."""
    cur = await conn.execute(
        "SELECT id, rule_id, status, attempts, next_attempt_at, delivered_at, last_status, last_error, created_at "
        "FROM webhook_delivery WHERE %(r)s::int IS NULL OR rule_id = %(r)s ORDER BY id DESC LIMIT %(n)s",
        {"r": rule_id, "n": limit})
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in await cur.fetchall()]
