"""Notifications: the inbox, read/unread, and the alert rules (admins)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
