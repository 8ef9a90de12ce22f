"""What the demo load runs at its end (``load_demo(..., then=store_for_demo)``): the stored travel analyses
and the hot-spot runs the layers draw, then the key-area rules on that evidence, so that a fresh `make run`
shows every analysis layer filled and the communes the rules would designate (as proposals)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from data.ops import alert_rules, designation_rules, hotspot_runs, scenarios, travel_results


def store_for_demo(conn: psycopg.Connection, until: datetime) -> dict[str, int]:
    counts = {**travel_results.store_for_demo(conn, until), **hotspot_runs.store_for_demo(conn, until)}
    report = designation_rules.run(conn, until=until)
    counts["designation proposals"] = sum(1 for o in report.outcomes if o.status == "proposed")
    # The example notification rules (no webhooks): a fresh demo shows the inbox working.
    counts["notification rules"] = alert_rules.seed_examples(conn)
    # A what-if (QL12 cut by a landslide), run once: the scenario-villages layer and GET /scenarios show it.
    counts["villages changed by the demo what-if"] = scenarios.store_for_demo(conn)
    return counts
