"""Webhook delivery (data/ops/webhooks.py, api/notifier.py) against a real HTTP receiver on 127.0.0.1: the
documented body and its HMAC-SHA256 signature (checked here with hmac, not with the module's own helper), the
retry schedule with back-off stepped through with a controlled clock, no second send after a 2xx, and an
incident write that is answered while the receiver hangs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psycopg
import pytest

from data.ops import webhooks
from tests.opsworld import IN_A, IN_B, incident_body

SECRET = "a shared secret of the receiver"
POLICY = webhooks.Policy(timeout_s=5.0, backoff_s=10.0, backoff_max_s=3600.0, max_attempts=5)


class Receiver:
    """An HTTP server in a thread recording every request; ``statuses`` are answered in turn (then 200), and
    while ``hang`` is set a request waits for ``release`` before it is answered."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        self.hang = threading.Event()
        self.drip = threading.Event()  # answer 200 a byte at a time, 0.3 s apart (until released)
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.hang.is_set():
                    receiver.release.wait(60)
                if receiver.drip.is_set():
                    self.send_response(200)
                    self.send_header("Content-Length", "20")
                    self.end_headers()
                    for _ in range(20):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        receiver.release.wait(0.3)  # the slow peer being simulated, not a synchronisation
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sitmap-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def _make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield _make
    for r in made:
        r.close()


def _rule(client, world, url: str) -> dict:
    body = {"name": "hook", "trigger": "incident", "min_severity": "serious", "recipients": ["commune_chief"],
            "webhook_url": url, "webhook_secret": SECRET}
    r = client.post("/notification-rules", json=body, headers=world.headers("admin"))
    assert r.status_code == 201, r.text
    return r.json()


def _quiet_client(world, make_client):
    """A test client whose own delivery task is stopped, so the test alone drives deliver_due."""
    client = make_client(world.url)
    client.portal.call(client.app.state.services.notifier.close)
    return client


def _deliver(url: str, now: datetime | None = None, policy: webhooks.Policy = POLICY) -> dict[str, int]:
    async def go():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn, \
                httpx.AsyncClient(timeout=policy.timeout_s, trust_env=False) as http:
            return await webhooks.deliver_due(conn, http, policy, now)

    return asyncio.run(go())


def _deliveries(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, status, attempts, next_attempt_at, last_status, delivered_at, "
                            "notification_ids FROM webhook_delivery ORDER BY id").fetchall()


def test_an_incident_sends_one_signed_post_with_the_documented_body(world, make_client, receiver):
    hook = receiver()
    client = _quiet_client(world, make_client)
    rule = _rule(client, world, hook.url)
    inc = incident_body(IN_A, severity="very_serious", category="drugs")
    assert client.post("/incidents", json=inc, headers=world.headers("officer_a")).status_code == 201
    quiet = incident_body(IN_B, severity="less_serious")  # matches no rule: no delivery
    assert client.post("/incidents", json=quiet, headers=world.headers("officer_b")).status_code == 201
    [(did, status, attempts, *_)] = _deliveries(world.url)
    assert (status, attempts) == ("pending", 0)

    assert _deliver(world.url) == {"delivered": 1, "retry": 0, "failed": 0}
    assert len(hook.requests) == 1
    req = hook.requests[0]
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert req["path"] == "/sitmap-hook" and headers["content-type"] == "application/json"
    want = "sha256=" + hmac.new(SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-sitmap-signature"], want)
    wrong = "sha256=" + hmac.new(b"another secret", req["body"], hashlib.sha256).hexdigest()
    assert headers["x-sitmap-signature"] != wrong
    body = json.loads(req["body"])
    assert body["trigger"] == "incident" and body["rule"] == {"id": rule["id"], "name": "hook"}
    assert body["delivery_id"] == did == int(headers["x-sitmap-delivery"]) and body["attempt"] == 1
    sent = datetime.fromisoformat(body["sent_at"])
    assert int(headers["x-sitmap-timestamp"]) == int(sent.timestamp())
    subject = body["subject"]
    assert (subject["incident_id"], subject["category"], subject["severity"], subject["unit_code"]) == (
        inc["id"], "drugs", "very_serious", "T001")
    assert "description" not in subject
    with psycopg.connect(world.url) as conn:
        chiefs = [r[0] for r in conn.execute(
            "SELECT u.username FROM app_user u JOIN app_user_unit uu ON uu.user_id = u.id "
            "WHERE u.role = 'commander' AND uu.unit_id = %s ORDER BY 1", (world.unit_a,))]
        notified = [r[0] for r in conn.execute("SELECT id FROM notification WHERE incident_id = %s ORDER BY id",
                                               (inc["id"],))]
    assert body["recipients"] == chiefs == ["commander_a"]
    [(_, status, attempts, _, last_status, delivered_at, ids)] = _deliveries(world.url)
    assert (status, attempts, last_status, ids) == ("delivered", 1, 200, notified)
    assert delivered_at is not None
    assert _deliver(world.url) == {"delivered": 0, "retry": 0, "failed": 0}
    assert len(hook.requests) == 1


def test_failures_are_retried_with_back_off_and_a_success_is_never_sent_again(world, make_client, receiver):
    hook = receiver([500, 500, 200])
    client = _quiet_client(world, make_client)
    _rule(client, world, hook.url)
    assert client.post("/incidents", json=incident_body(IN_A, severity="serious"),
                       headers=world.headers("officer_a")).status_code == 201
    t0 = datetime.now(UTC) + timedelta(seconds=1)  # the clock the test steps; the row is due at creation
    assert _deliver(world.url, t0) == {"delivered": 0, "retry": 1, "failed": 0}
    [(_, status, attempts, next_at, last_status, *_)] = _deliveries(world.url)
    assert (status, attempts, last_status) == ("pending", 1, 500)
    assert next_at == t0 + timedelta(seconds=POLICY.backoff_s)  # 10 s after the first failure

    assert _deliver(world.url, next_at - timedelta(seconds=1)) == {"delivered": 0, "retry": 0, "failed": 0}
    assert len(hook.requests) == 1  # not due yet: nothing sent
    t1 = next_at
    assert _deliver(world.url, t1) == {"delivered": 0, "retry": 1, "failed": 0}
    [(_, status, attempts, next_at, last_status, *_)] = _deliveries(world.url)
    assert (status, attempts, last_status) == ("pending", 2, 500)
    assert next_at - t1 == timedelta(seconds=2 * POLICY.backoff_s)  # the wait doubles

    assert _deliver(world.url, next_at - timedelta(seconds=1))["retry"] == 0
    t2 = next_at
    assert _deliver(world.url, t2) == {"delivered": 1, "retry": 0, "failed": 0}
    [(_, status, attempts, _, last_status, delivered_at, _)] = _deliveries(world.url)
    assert (status, attempts, last_status, delivered_at) == ("delivered", 3, 200, t2)
    assert _deliver(world.url, t2 + timedelta(days=1)) == {"delivered": 0, "retry": 0, "failed": 0}
    assert len(hook.requests) == 3
    bodies = [json.loads(r["body"]) for r in hook.requests]
    assert [b["attempt"] for b in bodies] == [1, 2, 3]
    assert len({b["delivery_id"] for b in bodies}) == 1  # a retry repeats the id: receivers can drop duplicates
    for r in hook.requests:  # each attempt is signed over its own bytes
        headers = {k.lower(): v for k, v in r["headers"].items()}
        assert headers["x-sitmap-signature"] == "sha256=" + hmac.new(
            SECRET.encode(), r["body"], hashlib.sha256).hexdigest()


def test_after_the_last_attempt_the_delivery_fails_and_stops(world, make_client, receiver):
    hook = receiver([503] * 10)
    client = _quiet_client(world, make_client)
    _rule(client, world, hook.url)
    assert client.post("/incidents", json=incident_body(IN_A, severity="serious"),
                       headers=world.headers("officer_a")).status_code == 201
    now = datetime.now(UTC) + timedelta(seconds=1)
    waits = []
    for attempt in range(1, POLICY.max_attempts + 1):
        counts = _deliver(world.url, now)
        assert counts == ({"delivered": 0, "retry": 0, "failed": 1} if attempt == POLICY.max_attempts
                          else {"delivered": 0, "retry": 1, "failed": 0}), attempt
        [(_, status, attempts, next_at, last_status, *_)] = _deliveries(world.url)
        assert attempts == attempt and last_status == 503
        waits.append((next_at - now).total_seconds())
        now = next_at
    assert status == "failed"
    assert waits == [min(POLICY.backoff_s * 2 ** k, POLICY.backoff_max_s) for k in range(POLICY.max_attempts)]
    assert _deliver(world.url, now + timedelta(days=30))["failed"] == 0
    assert len(hook.requests) == POLICY.max_attempts


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout(world, make_client, receiver):
    """httpx's read timeout restarts with every byte; the attempt's own deadline does not (otherwise the round
    outlives the claim's lease and the row is sent twice)."""
    hook = receiver()
    hook.drip.set()
    client = _quiet_client(world, make_client)
    _rule(client, world, hook.url)
    assert client.post("/incidents", json=incident_body(IN_A, severity="serious"),
                       headers=world.headers("officer_a")).status_code == 201
    quick = webhooks.Policy(timeout_s=1.0, backoff_s=10.0, backoff_max_s=3600.0, max_attempts=5)
    started = time.monotonic()
    assert _deliver(world.url, policy=quick) == {"delivered": 0, "retry": 1, "failed": 0}
    assert time.monotonic() - started < 5  # the drip takes 6 s: it was cut off
    with psycopg.connect(world.url) as conn:
        status, attempts, error = conn.execute(
            "SELECT status, attempts, last_error FROM webhook_delivery").fetchone()
    assert (status, attempts) == ("pending", 1) and "no complete answer within 1 s" in error
    assert len(hook.requests) == 1


def _poll(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        threading.Event().wait(0.05)  # the poll interval of a deadline loop, not a synchronisation
    raise AssertionError(f"timed out waiting for {what}")


def test_a_hanging_receiver_does_not_hold_up_the_incident_write(world, start_server, make_client, receiver):
    hook = receiver()
    hook.hang.set()
    client = _quiet_client(world, make_client)
    _rule(client, world, hook.url)
    # The real server's own delivery task sends (every 0.2 s here); its receiver will not answer for a while.
    base = start_server(world.url, env={"SITMAP_WEBHOOK_POLL_S": "0.2", "SITMAP_WEBHOOK_TIMEOUT_S": "60"})
    officer = world.headers("officer_a")
    with httpx.Client(timeout=30) as http:
        first = incident_body(IN_A, severity="serious")
        assert http.post(f"{base}/incidents", json=first, headers=officer).status_code == 201
        _poll(lambda: hook.requests, what="the receiver to get the first delivery")
        # The receiver now holds the worker's delivery open; a second write must not wait for it.
        second = incident_body(IN_A, severity="very_serious")
        started = time.monotonic()
        r = http.post(f"{base}/incidents", json=second, headers=officer)
        took = time.monotonic() - started
        assert r.status_code == 201, r.text
        assert not hook.release.is_set() and len(hook.requests) == 1  # answered while the receiver was stuck
        assert took < 30, took  # well inside the receiver's 60 s hang (a loaded CI machine is slow, not stuck)
        rows = _deliveries(world.url)
        assert [(s, a) for _, s, a, *_ in rows] == [("pending", 1), ("pending", 0)]
        hook.release.set()

        def delivered():
            now = _deliveries(world.url)
            return now if all(x[1] == "delivered" for x in now) else None

        done = _poll(delivered, what="both deliveries to be delivered")
    assert [x[2] for x in done] == [1, 1]
    assert sorted(json.loads(r["body"])["subject"]["incident_id"] for r in hook.requests) == sorted(
        [first["id"], second["id"]])
