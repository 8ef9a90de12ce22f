"""SQLAlchemy 2 + GeoAlchemy2 models of the data model (DESIGN §4).

Geometries are EPSG:4326 (typmod-enforced SRID) and must be valid; distances and areas are computed in
metres with geography or EPSG:3405. Reported statistics are stored as reported: nullable, non-negative,
never constrained to add up.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from data import vocab

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, terms: tuple[vocab.Term, ...], name: str | None = None) -> CheckConstraint:
    values = ", ".join(f"'{c}'" for c in vocab.codes(terms))
    return CheckConstraint(f"{column} IN ({values})", name=name or f"{column}_valid")


def valid_geom(column: str = "geom") -> CheckConstraint:
    return CheckConstraint(f"ST_IsValid({column})", name=f"{column}_is_valid")


def non_negative(*columns: str) -> list[CheckConstraint]:
    return [CheckConstraint(f"{c} IS NULL OR {c} >= 0", name=f"{c}_non_negative") for c in columns]


def geom(kind: str, nullable: bool = False) -> Mapped[Any]:
    # spatial_index=True makes GeoAlchemy2 create the GiST index with the table.
    return mapped_column(Geometry(kind, srid=4326, spatial_index=True), nullable=nullable)


GENERATED = {"server_default": text("false"), "nullable": False}


class AdminEra(Base):
    __tablename__ = "admin_era"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class AdminUnit(Base):
    __tablename__ = "admin_unit"
    __table_args__ = (
        UniqueConstraint("era", "code", name="era_code"),
        one_of("kind", vocab.UNIT_KINDS),
        valid_geom(),
        *non_negative("population", "households", "area_km2", "stated_area_km2"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    era: Mapped[str] = mapped_column(ForeignKey("admin_era.code"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    name_ascii: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    population_note: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int | None] = mapped_column(Integer)
    area_km2: Mapped[float | None] = mapped_column(Float)
    stated_area_km2: Mapped[float | None] = mapped_column(Float)
    admin_centre: Mapped[str | None] = mapped_column(Text)
    border_countries: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("MULTIPOLYGON")


class AdminLineage(Base):
    """Which earlier unit went (wholly or in part) into which 2025 unit."""

    __tablename__ = "admin_lineage"
    __table_args__ = (CheckConstraint("area_share IS NULL OR (area_share > 0 AND area_share <= 1)",
                                      name="area_share_range"),)
    old_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id", ondelete="CASCADE"), primary_key=True)
    new_unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    area_share: Mapped[float | None] = mapped_column(Float)
    old_name_resolution: Mapped[str | None] = mapped_column(Text)
    is_partly_merged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Settlement(Base):
    __tablename__ = "settlement"
    __table_args__ = (one_of("kind", vocab.SETTLEMENT_KINDS), *non_negative("population"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_ascii: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    population: Mapped[int | None] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    pre2025_unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    geonameid: Mapped[int | None] = mapped_column(Integer, unique=True)
    source: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT")


class RoadEdge(Base):
    """An edge of the routing graph (pgRouting: id, source, target, cost, reverse_cost in seconds)."""

    __tablename__ = "road_edge"
    __table_args__ = (
        one_of("road_class", vocab.ROAD_CLASSES),
        valid_geom(),
        CheckConstraint("length_m >= 0", name="length_non_negative"),
        CheckConstraint("cost_s >= 0 OR cost_s = -1", name="cost_valid"),
        CheckConstraint("reverse_cost_s >= 0 OR reverse_cost_s = -1", name="reverse_cost_valid"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[int] = mapped_column(BigInteger, index=True)
    target: Mapped[int] = mapped_column(BigInteger, index=True)
    ref: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str] = mapped_column(String(16))
    length_m: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    slope_factor: Mapped[float] = mapped_column(Float, server_default=text("1"))
    cost_s: Mapped[float] = mapped_column(Float)
    reverse_cost_s: Mapped[float] = mapped_column(Float)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("LINESTRING")


class BorderCrossing(Base):
    __tablename__ = "border_crossing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT")


class Station(Base):
    __tablename__ = "station"
    __table_args__ = (
        one_of("kind", vocab.STATION_KINDS),
        one_of("hq_status", vocab.HQ_STATUSES),
        *non_negative("officers"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="validity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    hq_status: Mapped[str] = mapped_column(String(24))
    officers: Mapped[int | None] = mapped_column(Integer)
    services: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    contact: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT")


class StationStatusHistory(Base):
    __tablename__ = "station_status_history"
    __table_args__ = (one_of("hq_status", vocab.HQ_STATUSES),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), index=True)
    hq_status: Mapped[str] = mapped_column(String(24))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)


class SecurityTeam(Base):
    """A grassroots security and order protection team (tổ bảo vệ ANTT ở cơ sở)."""

    __tablename__ = "security_team"
    __table_args__ = (*non_negative("members"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlement.id"), index=True)
    members: Mapped[int] = mapped_column(Integer)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT", nullable=True)


class PatrolPoint(Base):
    __tablename__ = "patrol_point"
    __table_args__ = (
        one_of("kind", vocab.PATROL_POINT_KINDS),
        CheckConstraint("visit_interval_hours > 0", name="interval_positive"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("security_team.id"), index=True)
    model_name: Mapped[str | None] = mapped_column(Text)
    visit_interval_hours: Mapped[int] = mapped_column(Integer)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT")


class PatrolSchedule(Base):
    """A team and/or officer assigned to a patrol point, every N hours or for named shifts (migration 0021);
    ``sitmap_patrol_due(at)`` computes overdue against it."""

    __tablename__ = "patrol_schedule"
    __table_args__ = (
        CheckConstraint("every_hours > 0", name="every_hours_positive"),
        CheckConstraint("shifts <@ ARRAY[" + ", ".join(f"'{c}'" for c in vocab.codes(vocab.PATROL_SHIFTS))
                        + "]::varchar(16)[] AND cardinality(shifts) > 0", name="shifts_valid"),
        CheckConstraint("(every_hours IS NULL) <> (shifts IS NULL)", name="one_rhythm"),
        CheckConstraint("team_id IS NOT NULL OR user_id IS NOT NULL", name="someone"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patrol_point_id: Mapped[int] = mapped_column(ForeignKey("patrol_point.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("security_team.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    every_hours: Mapped[int | None] = mapped_column(Integer)
    shifts: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class SecurityTeamMember(Base):
    """The security team an officer patrols with (migration 0021): their route includes the team's schedules."""

    __tablename__ = "security_team_member"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("security_team.id", ondelete="CASCADE"), index=True)


class PatrolVisit(Base):
    __tablename__ = "patrol_visit"
    __table_args__ = (
        *non_negative("accuracy_m", "distance_m"),
        Index("ix_patrol_visit_point_accepted_at", "patrol_point_id", "visited_at", postgresql_where=text("accepted")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    patrol_point_id: Mapped[int] = mapped_column(ForeignKey("patrol_point.id", ondelete="CASCADE"), index=True)
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool] = mapped_column(Boolean)
    # The schedule this visit fulfils (migration 0021).
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_schedule.id", ondelete="SET NULL"),
                                                    index=True)
    note: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT", nullable=True)


class Incident(Base):
    __tablename__ = "incident"
    __table_args__ = (
        one_of("category", vocab.INCIDENT_CATEGORIES),
        one_of("severity", vocab.INCIDENT_SEVERITIES),
        one_of("source", vocab.INCIDENT_SOURCES),
        one_of("status", vocab.INCIDENT_STATUSES),
        *non_negative("accuracy_m"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_incident_unit_occurred", "unit_id", "occurred_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # The reference people quote (migration 0010); also the incidents layer's vector-tile feature id.
    number: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(32))
    # The severity's position in vocab.INCIDENT_SEVERITIES, stored for the tile priority (migration 0012).
    severity_rank: Mapped[int | None] = mapped_column(SmallInteger, Computed(
        vocab.rank_sql("severity", vocab.INCIDENT_SEVERITIES), persisted=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # The 2025 commune holding the point at occurred_at, set by a trigger calling sitmap_commune_at (0015).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), server_default=text("'officer'"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'new'"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    # Hash of the client's original body: the same UUID with another body is a conflict, not a retry.
    body_hash: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("POINT")


class IncidentHistory(Base):
    __tablename__ = "incident_history"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Designation(Base):
    __tablename__ = "designation"
    __table_args__ = (
        one_of("kind", vocab.DESIGNATION_KINDS),
        one_of("status", vocab.DESIGNATION_STATUSES),
        one_of("origin", vocab.DESIGNATION_ORIGINS),
        CheckConstraint("(origin = 'rule') = (rule IS NOT NULL)", name="rule_origin"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_range"),
        Index("ux_designation_open_rule_proposal", "unit_id", "kind", "rule", unique=True,
              postgresql_where=text("status = 'proposed' AND rule IS NOT NULL")),
        valid_geom(),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'proposed'"))
    basis: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    # The workflow (migration 0018): origin and rule, every decision's reason, the revocation, a version.
    origin: Mapped[str] = mapped_column(String(16), server_default=text("'planner'"))
    rule: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any] = geom("MULTIPOLYGON")


class RoadClosure(Base):
    """A closed road (migration 0019): a point or line drawn on it, in force from starts_at until ends_at or
    reopened_at; the travel analyses close the edges near it at the time they are asked about."""

    __tablename__ = "road_closure"
    __table_args__ = (
        one_of("reason", vocab.CLOSURE_REASONS),
        CheckConstraint("GeometryType(geom) IN ('POINT', 'LINESTRING')", name="geom_kind"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="period"),
        valid_geom(),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    reopened_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    # The 2025 commune holding a point of the closure at its start (trigger, sitmap_commune_at).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    geom: Mapped[Any] = geom("GEOMETRY")


class Scenario(Base):
    """A planner's saved what-if (migration 0019): changes applied to copies of the analyses' inputs."""

    __tablename__ = "scenario"
    __table_args__ = (CheckConstraint("jsonb_typeof(changes) = 'array'", name="changes_is_array"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ScenarioVillage(Base):
    """A village whose trip to the nearest station a scenario's last run changes (migration 0025)."""

    __tablename__ = "scenario_village"
    __table_args__ = (one_of("change_band", vocab.TRIP_CHANGES),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenario.id", ondelete="CASCADE"), index=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    village: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    today_min: Mapped[float | None] = mapped_column(Float)
    scenario_min: Mapped[float | None] = mapped_column(Float)
    change_min: Mapped[float | None] = mapped_column(Float)
    # vocab.TRIP_CHANGES of change_min; NULL when the village is reachable on one side only (see reason).
    change_band: Mapped[str | None] = mapped_column(String(16))
    today_station_code: Mapped[str | None] = mapped_column(String(32))
    scenario_station_code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    roads_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom: Mapped[Any] = geom("POINT")


class HotspotRun(Base):
    """One hot-spot analysis (geo/hotspots, stored by data/ops/hotspot_runs.py, migration 0017)."""

    __tablename__ = "hotspot_run"
    __table_args__ = (
        one_of("analysis", vocab.HOTSPOT_ANALYSES),
        one_of("cells", vocab.HOTSPOT_CELLS),
        Index("ix_hotspot_run_latest", "analysis", "category", text("created_at DESC"), text("id DESC")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    method: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    cell_size_m: Mapped[float] = mapped_column(Float)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The sorted, comma-joined categories (or "all"): the layers show the latest run of each.
    category: Mapped[str | None] = mapped_column(Text)
    analysis: Mapped[str] = mapped_column(String(16), server_default=text("'gi_star'"))
    cells: Mapped[str] = mapped_column(String(16), server_default=text("'hex'"))
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    incident_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cell_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    incidents_generated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    notes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class HotspotCell(Base):
    __tablename__ = "hotspot_cell"
    __table_args__ = (
        one_of('"class"', vocab.HOTSPOT_CLASSES, name="class_valid"),
        CheckConstraint(f"trend IS NULL OR {one_of('trend', vocab.EMERGING_PATTERNS).sqltext}", name="trend_valid"),
        *non_negative("count"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("hotspot_run.id", ondelete="CASCADE"), index=True)
    cell: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    z: Mapped[float | None] = mapped_column(Float)
    p: Mapped[float | None] = mapped_column(Float)
    class_: Mapped[str] = mapped_column("class", String(24))
    # Emerging runs: the pattern, the Mann-Kendall trend of the cell's monthly z-scores, its hot and cold
    # months and one character per month (+ hot, - cold, . neither, ? too few data), oldest first.
    trend: Mapped[str | None] = mapped_column(String(24))
    trend_z: Mapped[float | None] = mapped_column(Float)
    trend_p: Mapped[float | None] = mapped_column(Float)
    hot_bins: Mapped[int | None] = mapped_column(Integer)
    cold_bins: Mapped[int | None] = mapped_column(Integer)
    bins: Mapped[str | None] = mapped_column(Text)
    neighbours: Mapped[int | None] = mapped_column(Integer)
    # The 2025 commune holding a point of the cell, set by a trigger calling sitmap_commune_at (migration
    # 0015): scopes the layer.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    geom: Mapped[Any] = geom("MULTIPOLYGON")


class TravelRun(Base):
    """One stored run of a travel analysis (geo/travel, stored by data/ops/travel_results.py, migration 0016):
    at most one per analysis, a new run replacing the previous one and its rows."""

    __tablename__ = "travel_run"
    __table_args__ = (one_of("analysis", vocab.TRAVEL_ANALYSES),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # The road graph held generated edges (the demo): every figure of the run then says so.
    roads_generated: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))


def travel_run_id() -> Mapped[int]:
    return mapped_column(ForeignKey("travel_run.id", ondelete="CASCADE"), index=True)


def travel_unit_id() -> Mapped[int | None]:
    # The 2025 commune of the row: scopes the layers like every other restricted layer.
    return mapped_column(ForeignKey("admin_unit.id"), index=True)


class TravelAccess(Base):
    """A village's trip to its own commune's station and to the nearest station (minutes, km, road/straight
    ratio, the road_edge node ids used); a reason instead of figures when there is no trip."""

    __tablename__ = "travel_access"
    __table_args__ = (one_of("band", vocab.MINUTE_BANDS),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = travel_run_id()
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = travel_unit_id()
    village: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    village_node: Mapped[int | None] = mapped_column(BigInteger)
    own_station_id: Mapped[int | None] = mapped_column(Integer)
    own_station_code: Mapped[str | None] = mapped_column(String(32))
    own_station_node: Mapped[int | None] = mapped_column(BigInteger)
    own_station_min: Mapped[float | None] = mapped_column(Float)
    own_station_km: Mapped[float | None] = mapped_column(Float)
    own_station_ratio: Mapped[float | None] = mapped_column(Float)
    nearest_station_id: Mapped[int | None] = mapped_column(Integer)
    nearest_station_code: Mapped[str | None] = mapped_column(String(32))
    nearest_station_node: Mapped[int | None] = mapped_column(BigInteger)
    nearest_station_min: Mapped[float | None] = mapped_column(Float)
    nearest_station_km: Mapped[float | None] = mapped_column(Float)
    nearest_station_ratio: Mapped[float | None] = mapped_column(Float)
    # The minute band of own_station_min (vocab.MINUTE_BANDS); NULL without a figure.
    band: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    geom: Mapped[Any] = geom("POINT")


class TravelIsochrone(Base):
    """The area reachable by road from a station within ``minutes`` (nested: 15 inside 30 inside 60)."""

    __tablename__ = "travel_isochrone"
    __table_args__ = (one_of("band", vocab.MINUTE_BANDS), CheckConstraint("minutes > 0", name="minutes_positive"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = travel_run_id()
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), index=True)
    station_code: Mapped[str | None] = mapped_column(String(32))
    unit_id: Mapped[int | None] = travel_unit_id()
    minutes: Mapped[float] = mapped_column(Float)
    # The band whose upper limit is ``minutes`` when there is one (15 -> m0_15, 30 -> m15_30, ...).
    band: Mapped[str | None] = mapped_column(String(16))
    area_km2: Mapped[float | None] = mapped_column(Float)
    reached_road_km: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = geom("MULTIPOLYGON")


class TravelSaving(Base):
    """A village's trip for a procedure before 1 March 2025, from 1 March and from 1 July, and the signed
    changes (later minus earlier: negative = saved) in minutes and km."""

    __tablename__ = "travel_saving"
    __table_args__ = (one_of("change_band", vocab.TRIP_CHANGES),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = travel_run_id()
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = travel_unit_id()
    village: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    before_station_code: Mapped[str | None] = mapped_column(String(32))
    march_station_code: Mapped[str | None] = mapped_column(String(32))
    july_station_code: Mapped[str | None] = mapped_column(String(32))
    before_min: Mapped[float | None] = mapped_column(Float)
    before_km: Mapped[float | None] = mapped_column(Float)
    march_min: Mapped[float | None] = mapped_column(Float)
    march_km: Mapped[float | None] = mapped_column(Float)
    july_min: Mapped[float | None] = mapped_column(Float)
    july_km: Mapped[float | None] = mapped_column(Float)
    change_march_min: Mapped[float | None] = mapped_column(Float)
    change_march_km: Mapped[float | None] = mapped_column(Float)
    change_july_min: Mapped[float | None] = mapped_column(Float)
    change_july_km: Mapped[float | None] = mapped_column(Float)
    change_total_min: Mapped[float | None] = mapped_column(Float)
    change_total_km: Mapped[float | None] = mapped_column(Float)
    # The band of change_total_min (vocab.TRIP_CHANGES); NULL without a figure.
    change_band: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    geom: Mapped[Any] = geom("POINT")


class TravelResponse(Base):
    """The trip of a patrol from the commune station in service on the incident's day to the incident."""

    __tablename__ = "travel_response"
    __table_args__ = (one_of("band", vocab.MINUTE_BANDS),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = travel_run_id()
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    number: Mapped[int | None] = mapped_column(BigInteger)
    unit_id: Mapped[int | None] = travel_unit_id()
    category: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    month: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM, Asia/Ho_Chi_Minh
    station_id: Mapped[int | None] = mapped_column(Integer)
    station_code: Mapped[str | None] = mapped_column(String(32))
    response_min: Mapped[float | None] = mapped_column(Float)
    road_km: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, server_default=text("''"))
    geom: Mapped[Any] = geom("POINT")


class DemoPlantedCluster(Base):
    """Ground truth of the generated incidents: what a hot-spot analysis should find."""

    __tablename__ = "demo_planted_cluster"
    __table_args__ = (one_of("trend", vocab.EMERGING_PATTERNS),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))
    cell_size_m: Mapped[float] = mapped_column(Float)
    cells: Mapped[list[str]] = mapped_column(ARRAY(Text))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trend: Mapped[str] = mapped_column(String(24))
    effect: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    incident_count: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = geom("MULTIPOLYGON")


class ServiceStat(Base):
    """Administrative-procedure dossiers as reported; the figures need not add up and are not forced to."""

    __tablename__ = "service_stat"
    __table_args__ = (
        one_of("agency", vocab.SERVICE_AGENCIES),
        *non_negative("received", "online", "in_person", "early", "on_time", "on_time_or_early", "overdue",
                      "in_progress"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    agency: Mapped[str] = mapped_column(String(24))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    received: Mapped[int | None] = mapped_column(Integer)
    online: Mapped[int | None] = mapped_column(Integer)
    in_person: Mapped[int | None] = mapped_column(Integer)
    early: Mapped[int | None] = mapped_column(Integer)
    on_time: Mapped[int | None] = mapped_column(Integer)
    on_time_or_early: Mapped[int | None] = mapped_column(Integer)
    overdue: Mapped[int | None] = mapped_column(Integer)
    in_progress: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    is_generated: Mapped[bool] = mapped_column(Boolean, **GENERATED)


def _codes_array(column: str, terms: tuple[vocab.Term, ...], width: int, name: str) -> CheckConstraint:
    values = ", ".join(f"'{c}'" for c in vocab.codes(terms))
    return CheckConstraint(f"{column} <@ ARRAY[{values}]::varchar({width})[]", name=name)


class AlertRule(Base):
    """Who hears of what (migration 0022, data/ops/alert_rules.py); the secret is never shown back."""

    __tablename__ = "alert_rule"
    __table_args__ = (
        one_of("trigger", vocab.ALERT_TRIGGERS),
        _codes_array("categories", vocab.INCIDENT_CATEGORIES, 32, "categories_valid"),
        one_of("min_severity", vocab.INCIDENT_SEVERITIES),
        CheckConstraint("overdue_hours > 0", name="overdue_hours_positive"),
        _codes_array("recipients", vocab.ALERT_RECIPIENTS, 32, "recipients_valid"),
        CheckConstraint("webhook_url IS NULL OR webhook_secret IS NOT NULL", name="webhook_signed"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    trigger: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))
    min_severity: Mapped[str | None] = mapped_column(String(32))
    unit_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    overdue_hours: Mapped[int | None] = mapped_column(Integer)
    recipients: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default=text("'{}'"))
    user_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Notification(Base):
    """One recipient's notice of an incident or an overdue patrol point (migration 0022)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    patrol_point_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_point.id", ondelete="CASCADE"),
                                                        index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    subject: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertSpell(Base):
    """A patrol point's overdue spell already notified under a rule (migration 0022): once per spell."""

    __tablename__ = "alert_spell"
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), primary_key=True)
    patrol_point_id: Mapped[int] = mapped_column(ForeignKey("patrol_point.id", ondelete="CASCADE"),
                                                 primary_key=True, index=True)
    spell: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """The webhook outbox (migration 0022): written with the notification, drained by data/ops/webhooks.py."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        one_of("status", vocab.WEBHOOK_STATUSES),
        Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True)
    notification_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Event(Base):
    """Append-only log behind the live stream. ``xid`` orders delivery by commit (see api live stream)."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    xid: Mapped[int] = mapped_column(BigInteger, server_default=text("pg_current_xact_id()::text::bigint"))
    kind: Mapped[str] = mapped_column(String(48))
    layer: Mapped[str | None] = mapped_column(String(48), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_event_xid_id", "xid", "id"),)


class AuditLog(Base):
    __tablename__ = "audit_log"
    # Failed sign-ins in the limit's window, per user name and per address (migration 0014, data/ops/signin.py).
    __table_args__ = (
        Index("ix_audit_log_signin_failed_user", "username", "at", postgresql_where=text("action = 'login_failed'")),
        Index("ix_audit_log_signin_failed_addr", "remote_addr", "at",
              postgresql_where=text("action = 'login_failed'")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    username: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, index=True)
    target: Mapped[str | None] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class AppUser(Base):
    __tablename__ = "app_user"
    __table_args__ = (one_of("role", vocab.ROLES),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set for a new account and after an admin's reset: the gate admits only the password change (0023).
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class AppUserUnit(Base):
    """Commune scope of a user; a user with no rows here is province-wide (commanders, planners, admins)."""

    __tablename__ = "app_user_unit"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class AppSession(Base):
    """A sign-in (bearer token or browser cookie); only the SHA-256 of the secret token is stored."""

    __tablename__ = "app_session"
    __table_args__ = (CheckConstraint("kind IN ('bearer', 'cookie')", name="kind_valid"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remote_addr: Mapped[str | None] = mapped_column(Text)


class DataVersion(Base):
    """Data version per table, bumped in the writing transaction by a statement trigger (migrations 0001, 0008).

    Each table has up to 32 slots (one per backend, so concurrent writers do not queue on one row lock); the
    table's version is the sum of its slots. A layer's version is derived from the versions of the tables it
    reads; it keys every worker's tile cache, so a write through any worker invalidates the tiles of all
    workers once it commits.
    """

    __tablename__ = "data_version"
    table_name: Mapped[str] = mapped_column(String(48), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
