"""What a hot-spot run may be asked, read the same way by ``POST /analyses/hotspots`` and ``sitmap analyze
hotspots|emerging``: one model, so the API and the CLI refuse the same things with the same words.

The numeric limits are the settings' own (data/settings.py SITMAP_HOTSPOT_*), plus one the settings cannot
express: the distance band may reach at most ``MAX_BAND_CELLS`` cells across, since the neighbours per cell
(and so the memory of the weights) grow with its square. An option that the chosen analysis would ignore
is refused rather than dropped (a Gi* run has no months, an emerging run no ``since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.strict import STRICT
from data import vocab
from data.ops.hotspot_runs import CATEGORIES, HotspotParams
from data.settings import Settings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_BAND_CELLS = 10.0
MAX_BAND_M = 100_000.0
_S = Settings.model_fields


def _limits(name: str) -> list[object]:
    return list(_S[name].metadata)


def _local(value: datetime | None) -> datetime | None:
    # A time without an offset is the province's, as every other analysis reads it.
    return value.replace(tzinfo=TZ) if value is not None and value.tzinfo is None else value


CellM = Annotated[float, *_limits("hotspot_cell_m")]
Months = Annotated[int, *_limits("hotspot_months")]
Analysis = Literal[tuple(vocab.codes(vocab.HOTSPOT_ANALYSES))]  # type: ignore[valid-type]
CellKind = Literal[tuple(vocab.codes(vocab.HOTSPOT_CELLS))]  # type: ignore[valid-type]


class HotspotRequest(BaseModel):
    model_config = STRICT
    analysis: Analysis = Field(default="gi_star", description="gi_star (one window) | emerging (monthly slices)")
    cells: CellKind = Field(default="hex", description="hex (a hexagonal grid) | commune (the 2025 communes)")
    categories: list[str] | None = Field(default=None, max_length=len(CATEGORIES),
                                         description=f"Incident categories; default all: {', '.join(CATEGORIES)}")
    until: datetime | None = Field(default=None, description="End of the window; default now (gi_star), the end "
                                   "of the last complete month (emerging)")
    since: datetime | None = Field(default=None, description="gi_star only: start of the window (ISO; "
                                   "Asia/Ho_Chi_Minh without an offset); default a year before until")
    cell_m: CellM | None = Field(default=None, description="Hexagon width in metres; default SITMAP_HOTSPOT_CELL_M")
    band_m: float | None = Field(default=None, gt=0, le=MAX_BAND_M,
                                 description="Neighbours within this distance (m); default SITMAP_HOTSPOT_BAND_M")
    months: Months | None = Field(default=None, description="emerging only: monthly bins; default "
                                  "SITMAP_HOTSPOT_MONTHS")
    confidence: Literal[90, 95, 99] | None = Field(default=None, description="emerging only: per cent; default "
                                                   "SITMAP_HOTSPOT_EMERGING_CONFIDENCE")
    commune: str | None = Field(default=None, min_length=1, max_length=40,
                                description="Count the answer's classes in this 2025 commune only (it must be "
                                            "yours); the run itself always covers the province")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one category, or leave categories out for all of them")
        unknown = sorted({c for c in value if c not in CATEGORIES})
        if unknown:
            raise ValueError(f"unknown incident categories {unknown}; use any of {list(CATEGORIES)}")
        return sorted(set(value))

    @field_validator("until")
    @classmethod
    def _until(cls, value: datetime | None) -> datetime | None:
        return _local(value)

    @field_validator("since")
    @classmethod
    def _since(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        value = _local(value)
        if value is not None and info.data.get("analysis") == "emerging":
            raise ValueError("an emerging run covers `months` monthly bins before until; give months, not since")
        until = info.data.get("until")
        if value is not None and until is not None and value >= until:
            raise ValueError(f"since ({value.isoformat()}) must be before until ({until.isoformat()})")
        return value

    @field_validator("months", "confidence")
    @classmethod
    def _emerging_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("analysis") == "gi_star":
            raise ValueError(f"{info.field_name} applies to emerging runs only; a gi_star run classifies at 90, "
                             "95 and 99 %")
        return value

    @field_validator("cell_m", "band_m")
    @classmethod
    def _hex_only(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("cells") == "commune":
            raise ValueError(f"{info.field_name} applies to hex cells only; commune cells are the communes")
        return value

    def params(self) -> HotspotParams:
        """The run's parameters: these values over the settings' defaults (raises HotspotInputError)."""
        p = HotspotParams.defaults(analysis=self.analysis, cells=self.cells,
                                   categories=tuple(self.categories or ()), since=self.since, until=self.until,
                                   cell_m=self.cell_m, band_m=self.band_m, months=self.months,
                                   confidence=self.confidence)
        if p.cells == "hex" and p.band_m > MAX_BAND_CELLS * p.cell_m:
            from data.ops.hotspot_runs import HotspotInputError

            raise HotspotInputError(f"band_m ({p.band_m:g}) may be at most {MAX_BAND_CELLS:g} x cell_m "
                                    f"({MAX_BAND_CELLS * p.cell_m:g} m): raise cell_m or lower band_m")
        return p
