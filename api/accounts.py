"""Account management behind ``sitmap user ...``, ``sitmap audit`` and the demo users (synchronous shells
over the async SQL of data/ops, for the command line)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from data.ops import audit, signin, users

T = TypeVar("T")


def _run(url: str, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
    async def _go() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(_go())


def list_users(url: str) -> list[dict[str, Any]]:
    return _run(url, users.list_users)


def disable_user(url: str, username: str, actor: str = "cli") -> bool:
    async def work(conn: psycopg.AsyncConnection) -> bool:
        done = await users.disable_user(conn, username)
        if done:
            await audit.record(conn, None, actor, "user.disable", f"user:{username}", "local")
        return done

    return _run(url, work)


def search_audit(url: str, **filters: Any) -> list[dict[str, Any]]:
    return _run(url, lambda conn: audit.search(conn, **filters))


DEMO_ROLES = ("admin", "commander", "commune_chief", "planner", "officer")


def create_demo_users(url: str) -> list[dict[str, Any]]:
    """One user per role with a fresh random password (printed once, for local use only). A commune
    commander and an officer are scoped to the most populous commune of 2025; existing demo users get new
    passwords."""

    async def work(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
        row = await users.most_populous_commune(conn)
        out = []
        for key in DEMO_ROLES:
            role = "commander" if key == "commune_chief" else key
            scoped = key in ("commune_chief", "officer") and row is not None
            name = f"demo-{key.replace('_', '-')}"
            password = signin.generate_password()
            existing = await users.credentials(conn, name)
            if existing is None:
                await users.add_user(conn, name, role, signin.hash_password(password), [row[0]] if scoped else [])
            else:
                await users.set_password(conn, name, signin.hash_password(password))
            out.append({"username": name, "password": password, "role": role,
                        "communes": f"{row[2]} ({row[1]})" if scoped else "province-wide"})
        return out

    return _run(url, work)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
