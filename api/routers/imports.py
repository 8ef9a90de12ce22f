"""File imports over HTTP for admins: the same importers as `sitmap import`, with a dry run."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
