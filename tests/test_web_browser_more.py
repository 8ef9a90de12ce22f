"""More of the web map in a real browser: the time filter, the phone's patrol check-in, the live stream
resuming after a dropped connection, and popups that depend on the user's role.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests import test_web_browser as base
from tests.conftest import free_port
from tests.test_web_browser import Recorder, Site, _open_map, _shot, _token

# The fixtures of the first module, found by name here (module-scoped: this module gets its own server).
site = base.site
browser = base.browser
ctx = base.ctx
phone = base.phone

pytestmark = pytest.mark.browser


def _post_incident(site: Site, *, occurred_at: datetime, description: str, category: str = "theft",
                   lon: float | None = None, lat: float | None = None) -> str:
    c = site.officer_commune
    iid = str(uuid.uuid4())
    body = {"id": iid, "category": category, "severity": "serious", "occurred_at": occurred_at.isoformat(),
            "lon": c["lon"] if lon is None else lon, "lat": c["lat"] if lat is None else lat, "accuracy_m": 5,
            "description": description}
    r = httpx.post(f"{site.base}/incidents", json=body,
                   headers={"Authorization": f"Bearer {_token(site.base, 'web_officer')}"})
    assert r.status_code == 201, r.text
    return iid


# ------------------------------------------------------------------------------------------- live resume

class CuttableProxy:
    """A TCP relay in front of the server whose connections the test can cut (a dropped mobile link).

    Chromium's offline emulation leaves an open stream alone, so the drop is made here: ``cut()`` closes
    every relayed connection, and while ``refusing`` new connections are closed at once (the link is down).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.refusing = threading.Event()
        self.accepted = 0
        self.heads: list[str] = []  # the request heads the browser sent (what a server log would show)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self.accepted += 1
                self._open |= {client, upstream}
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is a and data[:4] in (b"GET ", b"POST"):
                        self.heads.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self) -> None:
        with self._lock:
            victims = list(self._open)
        for s in victims:
            self._close(s)

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        self.cut()


def test_live_stream_resumes_after_a_dropped_connection_without_loss_or_repeat(browser, site):
    proxy = CuttableProxy(int(site.base.rsplit(":", 1)[1]))
    via = Site(f"http://127.0.0.1:{proxy.port}", site.db, site.officer_commune)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    try:
        rec = Recorder(context, via.base)
        page = _open_map(context, rec, via)
        page.wait_for_selector("#sm-live.on")
        before = _post_incident(site, occurred_at=datetime.now(UTC), description="live before the drop")
        page.wait_for_selector(f"#sm-feed li[data-id='{before}']")
        first_es = page.evaluate_handle("SitmapMap.state.es")
        last_seen = page.evaluate("SitmapMap.state.lastEventId")
        assert last_seen
        # The link goes down: the open stream breaks and reconnect attempts fail until it is back.
        assert rec.errors == []
        proxy.refusing.set()
        proxy.cut()
        page.wait_for_selector("#sm-live.off")
        missed = _post_incident(site, occurred_at=datetime.now(UTC), description="live during the drop")
        assert page.locator(f"#sm-feed li[data-id='{missed}']").count() == 0
        proxy.refusing.clear()
        page.wait_for_selector("#sm-live.on", timeout=15000)
        # While the link was down only the network failures themselves were logged (no script error).
        outage = list(rec.errors)
        assert all(e.startswith("console: Failed to load resource: net::ERR_") for e in outage), outage
        page.wait_for_selector(f"#sm-feed li[data-id='{missed}']", timeout=10000)
        # The page's own EventSource reconnected by itself, resending the last id it had seen.
        assert page.evaluate("es => es === SitmapMap.state.es", first_es)
        live = [h for h in proxy.heads if h.startswith("GET /live")]
        assert len(live) >= 2, live
        resumed = [line.split(":", 1)[1].strip() for h in live[1:] for line in h.split("\r\n")
                   if line.lower().startswith("last-event-id:")]
        assert resumed and int(resumed[0]) == int(last_seen), live
        # Exactly once each: one feed entry and one handled event per incident, none replayed by the resume.
        after = _post_incident(site, occurred_at=datetime.now(UTC), description="live after the drop")
        page.wait_for_selector(f"#sm-feed li[data-id='{after}']")
        for iid in (before, missed, after):
            assert page.locator(f"#sm-feed li[data-id='{iid}']").count() == 1
            handled = page.evaluate(f"SitmapMap.state.events.filter(e => e.kind === 'incident_created' "
                                    f"&& e.feature && e.feature.id === '{iid}').length")
            assert handled == 1, iid
        _shot(page, "map-live-resumed.png")
        assert rec.errors[len(outage):] == []
        assert rec.foreign() == []
    finally:
        context.close()
        proxy.close()
