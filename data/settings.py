"""Runtime settings, read from the environment (prefix ``SITMAP_``) and an optional ``.env`` file."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, AwareDatetime, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.limits import BOUNDARIES_FROM

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _default_cluster_dir() -> Path:
    # PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user that may
    # not be able to enter the checkout (CI clones into /root/...): keep it under /var/lib, one per checkout.
    if os.geteuid() == 0:
        slug = hashlib.sha1(str(PROJECT_DIR).encode()).hexdigest()[:10]
        return Path("/var/lib/sitmap") / f"{PROJECT_DIR.name}-{slug}"
    return PROJECT_DIR / ".sitmap" / "pg"


def _default_ha_dir() -> Path:
    # Same reasoning as the embedded cluster: as root the HA cluster's unprivileged user must reach it.
    return Path("/var/lib/sitmap/cluster") if os.geteuid() == 0 else PROJECT_DIR / ".sitmap" / "cluster"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITMAP_", env_file=".env", extra="ignore")

    # An external server; when empty, sitmap runs its own embedded cluster.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SITMAP_DATABASE_URL", "DATABASE_URL")
    )
    cluster_dir: Path = Field(default_factory=_default_cluster_dir)
    cluster_port: int = 5439
    cluster_os_user: str = "postgres"
    pg_bin_dir: Path = Path("/usr/lib/postgresql/15/bin")
    pg_share_dir: Path = Path("/usr/share/postgresql/15")
    database_name: str = "sitmap"

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    pool_min: int = 2
    pool_max: int = 16

    # Optional raster basemap URL template; the map is complete without one (air-gapped by default).
    basemap_url: str | None = None
    checkin_radius_m: float = 200.0
    token_ttl_minutes: int = 12 * 60
    secret_key: str | None = None
    cookie_secure: bool = False
    # Live operations: incident validation limits, batch size, live-stream heartbeat and watermark polling.
    max_description_chars: int = 4000
    future_tolerance_s: int = 300
    batch_max_items: int = 500
    live_heartbeat_s: float = 15.0
    live_poll_s: float = 1.0
    # Notifications (data/ops/webhooks.py, api/notifier.py): how often each worker looks for due webhook
    # deliveries and sweeps for overdue patrol points; a failed delivery waits backoff_s * 2^(attempt-1), at most
    # backoff_max_s, and is marked failed after max_attempts.
    webhook_poll_s: float = Field(default=2.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_backoff_s: float = Field(default=30.0, gt=0)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    patrol_sweep_s: float = Field(default=300.0, gt=0)
    # The situation panel (data/ops/situation.py) flags an assigned incident nobody touched for this long.
    situation_stale_hours: int = Field(default=24, ge=1, le=24 * 90)

    # Layers: per-worker tile cache size (0 disables it), how long a worker trusts its copy of data_version.
    tile_cache_mb: int = 64
    data_version_ttl_s: float = 1.0

    # Operations (api/logging_setup.py, api/metrics.py): one log line per request as JSON (for a collector)
    # or text (for a person); GET /metrics wants this bearer token, or, when it is unset, a loopback caller.
    log_format: Literal["json", "text"] = "json"
    metrics_token: str | None = None
    # GET /health/ready: how long the database may take to answer its trivial query.
    ready_timeout_s: float = Field(default=2.0, gt=0, le=30)

    # Resilience: how long a request waits for a database connection before it is answered 503, and the
    # Retry-After it is told while the database is unreachable.
    db_wait_s: float = 5.0
    db_retry_after_s: int = 5
    db_reconnect_s: float = 5.0
    # Sign-in limits (failed attempts counted in the audit log, so every worker shares them): at most
    # `signin_max_failures_per_user` failures per user name and `signin_max_failures_per_addr` per client
    # address within `signin_window_s`; then 429 until the window has passed. Password checks run in a pool
    # of `signin_hash_threads` threads per worker, off the event loop.
    signin_max_failures_per_user: int = 5
    signin_max_failures_per_addr: int = 20
    signin_window_s: int = 900
    signin_hash_threads: int = 2
    # Reverse proxies trusted for X-Forwarded-Proto / X-Forwarded-For (comma-separated IPs or networks, "*"
    # for any); empty: none. The session cookie is Secure when the request (as the proxy saw it) is https.
    forwarded_allow_ips: str = ""

    # Input bounds: request bodies over `max_body_bytes` (over `max_batch_body_bytes` for POST
    # /incidents/batch, up to `batch_max_items` items) are refused with 413 before they are read whole; an
    # incident's occurred_at (and a check-in's visited_at) may not be earlier than `earliest_occurred_at`,
    # by default when the commune boundaries of 2025 took effect, since it is filed under one of them.
    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024
    # POST /imports/{kind}: the uploaded file (a province's commune boundaries run to tens of megabytes).
    max_import_bytes: int = 64 * 1024 * 1024
    earliest_occurred_at: AwareDatetime = BOUNDARIES_FROM

    # Backups: `sitmap db backup` writes sitmap-<database>-<UTC time>.dump here unless given --output.
    backup_dir: Path = PROJECT_DIR / "backups"

    # Road graph (imported roads; geo/road_costs.py): free-flow speed per road class in km/h, typical for the
    # northern mountains (winding, narrow, mixed traffic), not legal limits: SITMAP_ROAD_SPEED_<CLASS>_KMH.
    # Steep ground divides the speed by 1 + road_slope_per_grade × min(grade, road_slope_max_grade), never
    # below road_min_speed_kmh. Line ends closer than road_snap_m are one node.
    road_speed_national_kmh: float = Field(default=50.0, gt=0)
    road_speed_provincial_kmh: float = Field(default=40.0, gt=0)
    road_speed_commune_kmh: float = Field(default=30.0, gt=0)
    road_speed_village_track_kmh: float = Field(default=15.0, gt=0)
    road_speed_footpath_kmh: float = Field(default=4.0, gt=0)
    road_slope_per_grade: float = Field(default=6.0, ge=0)
    road_slope_max_grade: float = Field(default=0.35, ge=0)
    road_min_speed_kmh: float = Field(default=2.0, gt=0)
    road_snap_m: float = Field(default=5.0, gt=0, le=50)

    # Travel analyses (geo/travel; `sitmap analyze`, /travel/*, /analyses/*): a point may lie at most
    # travel_snap_max_m metres (geodesic) from an open road, walked at travel_walk_kmh; isochrones default to
    # travel_isochrone_minutes, at most travel_isochrone_max_bands limits of (0, travel_isochrone_max_minutes],
    # drawn as travel_isochrone_cell_m grid cells within travel_isochrone_buffer_m of reached road. Each
    # worker runs at most travel_max_concurrent analyses at once (threads, one sync connection each); a request
    # waits travel_queue_wait_s for a free slot, then is answered 503 with Retry-After.
    travel_snap_max_m: float = Field(default=1000.0, gt=0)
    travel_walk_kmh: float = Field(default=4.0, gt=0)
    travel_isochrone_minutes: tuple[float, ...] = (15.0, 30.0, 60.0)
    travel_isochrone_max_minutes: float = Field(default=240.0, gt=0)
    travel_isochrone_max_bands: int = Field(default=6, ge=1)
    travel_isochrone_buffer_m: float = Field(default=200.0, ge=0)
    travel_isochrone_cell_m: float = Field(default=100.0, gt=0)
    travel_max_concurrent: int = Field(default=2, ge=1)
    travel_queue_wait_s: float = Field(default=30.0, gt=0)

    # Hot spots (geo/hotspots; `sitmap analyze hotspots|emerging`, /analyses/hotspots*): a hexagonal grid of
    # cells hotspot_cell_m across (flat side to flat side = distance between neighbouring centres) in
    # EPSG:hotspot_srid (VN-2000 / UTM 48N), clipped to the province; neighbours within hotspot_band_m of a
    # cell's centre (the six touching hexagons at the default), communes by shared boundary or corner
    # ("contiguity") or by centroids within hotspot_commune_band_m ("distance"). A run over fewer than
    # hotspot_min_incidents incidents says so instead of classifying. Emerging runs: hotspot_months monthly
    # bins ending with the last complete month, each bin's neighbourhood reaching hotspot_time_steps bins
    # back; a bin counts as hot or cold at hotspot_emerging_confidence % (after the False Discovery Rate) and
    # so must a trend. A month with fewer than hotspot_min_incidents_per_month incidents is not tested.
    hotspot_cell_m: float = Field(default=2000.0, ge=200, le=50_000)
    hotspot_band_m: float = Field(default=2100.0, gt=0)
    hotspot_srid: int = 3405
    hotspot_commune_neighbours: Literal["contiguity", "distance"] = "contiguity"
    hotspot_commune_band_m: float = Field(default=20_000.0, gt=0)
    hotspot_min_incidents: int = Field(default=30, ge=1)
    hotspot_months: int = Field(default=24, ge=3, le=120)
    hotspot_time_steps: int = Field(default=1, ge=0, le=12)
    hotspot_emerging_confidence: int = Field(default=90, json_schema_extra={"enum": [90, 95, 99]})
    hotspot_min_incidents_per_month: int = Field(default=10, ge=1)

    @field_validator("hotspot_emerging_confidence")
    @classmethod
    def _confidence_level(cls, v: int) -> int:
        if v not in (90, 95, 99):
            raise ValueError("SITMAP_HOTSPOT_EMERGING_CONFIDENCE must be 90, 95 or 99 (per cent)")
        return v

    # Station coverage (geo/coverage; `sitmap analyze coverage`, /analyses/coverage*): population and villages
    # within each of coverage_minutes (door to door by road to the nearest station) per commune and for the
    # province; a village more than coverage_underserved_min from the nearest station (or its own commune's
    # station) is underserved (the underserved-villages layer and CSV).
    coverage_minutes: tuple[float, ...] = (15.0, 30.0, 60.0)
    coverage_underserved_min: float = Field(default=60.0, gt=0)

    # Road closures (data/ops/closures.py, POST /closures; the road-closures layer): a closure closes, both
    # ways, every road edge within closure_snap_m metres (geodesic) of its point or line while it is in force,
    # in every travel analysis; a closure farther than that from every edge is refused.
    closure_snap_m: float = Field(default=30.0, gt=0, le=1000)

    # High availability (data/ha; `sitmap cluster up|down|status`, README "Operations: high availability"):
    # cluster_nodes PostgreSQL nodes under Patroni with etcd, HAProxy and cluster_workers sitmap workers.
    # Every part listens on cluster_base_port + a fixed offset (data/ha/layout.py) and keeps its files under
    # cluster_folder (cluster_dir is the embedded one's), owned by cluster_os_user. cluster_hosts (JSON list)
    # names the machines: node i and worker i run on host i modulo their number, one etcd member per distinct
    # host, so one list describes one loopback machine (the default) or a real multi-host deployment.
    cluster_nodes: int = Field(default=3, ge=2, le=3)
    cluster_base_port: int = Field(default=15400, ge=1024, le=65000)
    cluster_folder: Path = Field(default_factory=_default_ha_dir)
    cluster_workers: int = Field(default=2, ge=1, le=8)
    cluster_hosts: tuple[str, ...] = ("127.0.0.1",)
    # Reads on a replica (api/database.py): tiles and feature pages may read from replica_url (`sitmap cluster
    # up` gives its workers HAProxy's read-only port) while its replay lag is at most replica_max_lag_s and
    # the caller has not written through this worker within that many seconds; unset, the leader reads all.
    replica_url: str | None = None
    replica_max_lag_s: float = Field(default=5.0, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
