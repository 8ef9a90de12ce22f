"""One's own account: change one's password (also the forced change at first sign-in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
