"""The situation panel's figures (one route shared by the panel, the briefing and the reports)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
