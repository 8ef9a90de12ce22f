"""Patrol schedules: teams and officers assigned to patrol points; a team layer; an officer's route for the day."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
