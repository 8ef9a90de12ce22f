"""What the demo load runs at its end (``load_demo(..., then=store_for_demo)``): the stored travel analyses
and the hot-spot runs the layers draw, so that a fresh `make run` shows every analysis layer filled."""

from __future__ import annotations

from datetime import datetime

import psycopg

from data.ops import hotspot_runs, travel_results


def store_for_demo(conn: psycopg.Connection, until: datetime) -> dict[str, int]:
    return {**travel_results.store_for_demo(conn, until), **hotspot_runs.store_for_demo(conn, until)}
