"""How much concurrent wrong sign-ins slow an unrelated request (argon2 off the event loop).

``python -m bench.signin [--clients 16] [--requests 300] [--code DIR]``: a throwaway cluster under /var/tmp,
a migrated database with one user, one uvicorn worker; ``--clients`` loops post wrong passwords while one
client times ``GET /conformance`` sequentially. Prints the unrelated request's median and p90 alone and
under load. The sign-in limits are raised out of the way, so every attempt really verifies a password.
``--code`` runs the server from another checkout (e.g. a ``git worktree`` of an older commit) for a before
figure. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx
import psycopg

from data.db.cluster import Cluster
from data.db.migrate import migrate
from data.settings import get_settings


async def _times(http: httpx.AsyncClient, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert (await http.get("/conformance")).status_code == 200
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _hammer(http: httpx.AsyncClient, stop: asyncio.Event) -> int:
    n = 0
    while not stop.is_set():
        await http.post("/auth/token", data={"username": "bench", "password": "wrong"})
        n += 1
    return n


async def _measure(base: str, clients: int, requests: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        alone = await _times(http, requests)
        stop = asyncio.Event()
        hammers = [asyncio.create_task(_hammer(httpx.AsyncClient(base_url=base, timeout=60), stop))
                   for _ in range(clients)]
        await asyncio.sleep(0.5)  # let the sign-ins pile up before timing
        loaded = await _times(http, requests)
        stop.set()
        attempts = sum(await asyncio.gather(*hammers))
    for name, t in (("alone", alone), (f"under {clients} wrong sign-ins", loaded)):
        print(f"GET /conformance {name}: median {statistics.median(t):.1f} ms, "
              f"p90 {statistics.quantiles(t, n=10)[-1]:.1f} ms")
    print(f"wrong sign-ins answered meanwhile: {attempts}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--code", default=os.getcwd(), help="checkout to run the server from")
    args = ap.parse_args()
    from tests.conftest import free_port, new_cluster_root

    cluster = Cluster.from_settings(get_settings(), root=new_cluster_root("sitmap-bench-signin-"))
    cluster.start()
    proc = None
    try:
        url = cluster.url("bench_signin")
        migrate(url)
        from data.ops import signin

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO app_user (username, password_hash, role) VALUES ('bench', %s, 'admin')",
                         (signin.hash_password("right"),))
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": args.code,
               "SITMAP_SIGNIN_MAX_FAILURES_PER_USER": "100000000", "SITMAP_SIGNIN_MAX_FAILURES_PER_ADDR": "100000000"}
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port",
                                 str(port), "--log-level", "warning"], env=env, cwd=args.code)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        asyncio.run(_measure(base, args.clients, args.requests))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.destroy()


if __name__ == "__main__":
    main()
