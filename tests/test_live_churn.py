"""Subscribers that come and go while writes are in flight must never freeze the stream for the others.

Regression: a stream cancelled (its client left) inside ``asyncio.wait_for(Condition.wait_for(...))`` could
leave the hub's shared condition lock released twice or held by nobody; from then on every new subscriber
got ``retry: 2000`` and nothing else until the server restarted."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import httpx

from tests.opsworld import IN_A, incident_body

CLIENTS = 20
CYCLES = 15  # per client: 300 connect/read/disconnect cycles in all
FAST = {"SITMAP_LIVE_HEARTBEAT_S": "0.05"}  # heartbeats due in the middle of the churn, not only events


async def _churn(base: str, headers: dict[str, str], writer_headers: dict[str, str]) -> tuple[int, int]:
    rng = random.Random(11)
    done = 0
    stop = asyncio.Event()
    posted = 0

    async def writer(http: httpx.AsyncClient) -> None:
        nonlocal posted
        while not stop.is_set():
            r = await http.post("/incidents", json=incident_body(IN_A), headers=writer_headers)
            assert r.status_code == 201, r.text
            posted += 1

    async def subscriber(http: httpx.AsyncClient, delays: list[float]) -> None:
        nonlocal done
        for delay in delays:
            async with http.stream("GET", "/live", params={"layers": "incidents"}, headers=headers) as resp:
                assert resp.status_code == 200
                # Read for a while, then leave mid-stream (the exit closes the unfinished connection).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        async for _ in resp.aiter_raw():
                            pass
            done += 1

    limits = httpx.Limits(max_connections=CLIENTS + 4, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        writing = asyncio.create_task(writer(http))
        await asyncio.gather(*(subscriber(http, [rng.uniform(0.01, 0.2) for _ in range(CYCLES)])
                               for _ in range(CLIENTS)))
        stop.set()
        await writing
    return done, posted


async def _fresh_subscriber_gets(base: str, headers: dict[str, str], writer_headers: dict[str, str]) -> float:
    """Open a new stream, post one incident, return the seconds until the stream delivers it."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http, \
            http.stream("GET", "/live", params={"layers": "incidents"}, headers=headers) as resp:
        assert resp.status_code == 200
        lines = resp.aiter_lines()
        assert await anext(lines) == "retry: 2000"  # the stream is open before the write
        body = incident_body(IN_A)
        sent = time.perf_counter()
        assert (await http.post("/incidents", json=body, headers=writer_headers)).status_code == 201
        try:
            async with asyncio.timeout(1.0):
                async for line in lines:
                    if line.startswith("data:") and body["id"] in line:
                        return time.perf_counter() - sent
        except TimeoutError:
            raise AssertionError("a fresh subscriber got no fresh event within 1 s: the hub is frozen") from None
    raise AssertionError("the stream ended without the new incident")


def test_hundreds_of_subscribers_leaving_mid_stream_do_not_freeze_the_hub(world, start_server):
    base = start_server(world.url, env=FAST)
    headers, writer = world.headers("commander"), world.headers("officer_a")
    done, posted = asyncio.run(_churn(base, headers, writer))
    assert done == CLIENTS * CYCLES and posted > 0
    # A fresh subscriber still receives a fresh event, promptly, and the next one too.
    for _ in range(2):
        assert asyncio.run(_fresh_subscriber_gets(base, headers, writer)) < 1.0
