"""Period reports (xlsx/csv) for commanders and admins."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
