"""The configuration every request model shares.

Unknown fields are refused (a misspelt field is a mistake to report, not to drop), and so are numbers that
are not finite: JSON has no infinity or NaN, so a stored one could never be sent back (the write would be
committed and every answer to it, retries included, would fail). Text fields declare their maximum from
data/limits.py in the model itself, so it shows in the OpenAPI document.
"""

from __future__ import annotations

from pydantic import ConfigDict

STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
