"""The worker's notification tasks, started and stopped in the app's lifespan (api/services.py).

Two loops, each on its own pooled connection per round, neither ever in a request's way:

- delivery: every ``SITMAP_WEBHOOK_POLL_S`` the due webhook deliveries are sent (data/ops/webhooks.py; rows
  are claimed with ``SKIP LOCKED``, so every worker may run this loop);
- sweep: every ``SITMAP_PATROL_SWEEP_S`` the overdue patrol points are notified (data/ops/notifications.py;
  an advisory lock lets one worker of many do each round).

A failing round (database down, a receiver misbehaving) is logged and the loop carries on at its next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from psycopg_pool import AsyncConnectionPool

from data.ops import notifications, webhooks
from data.settings import Settings

log = logging.getLogger("sitmap.notifier")


class Notifier:
    def __init__(self, pool: AsyncConnectionPool, settings: Settings) -> None:
        self.pool = pool
        self.policy = webhooks.Policy.of(settings)
        self.poll_s = settings.webhook_poll_s
        self.sweep_s = settings.patrol_sweep_s
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.webhook_timeout_s), follow_redirects=False,
                                      trust_env=False)
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(self.poll_s, self.deliver), name="sitmap-webhooks"),
                       asyncio.create_task(self._every(self.sweep_s, self.sweep, wait_first=True),
                                           name="sitmap-patrol-sweep")]

    async def deliver(self) -> dict[str, int]:
        async with self.pool.connection() as conn:
            return await webhooks.deliver_due(conn, self.http, self.policy)

    async def sweep(self) -> dict[str, int] | None:
        async with self.pool.connection() as conn:
            return await notifications.sweep_overdue(conn)

    async def _every(self, period_s: float, work, wait_first: bool = False) -> None:
        # The sweep waits a period first: a worker's start does no heavy work, and a restart does not sweep at once.
        if wait_first:
            await asyncio.sleep(period_s)
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (a background round never ends the loop)
                log.warning("%s failed (%s); retrying in %.0f s", work.__name__, exc, period_s)
            await asyncio.sleep(period_s)  # the period between rounds, not a synchronisation

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.http.aclose()
