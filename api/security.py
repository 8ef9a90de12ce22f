"""Who is calling: the principal every non-public route and every restricted layer checks.

Owned by the accounts work (live-operations issue). Until accounts exist, ``optional_principal`` returns
None for everybody, and restricted layers are refused unless the test-only setting
``SITMAP_TRUST_TEST_PRINCIPAL`` lets a test pass a principal in the ``X-Sitmap-Test-Role`` header.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    role: str  # one of data.vocab.ROLES
    # None: province-wide. Otherwise the admin_unit ids (2025 era) the user is scoped to.
    unit_ids: frozenset[int] | None = None

    @property
    def province_wide(self) -> bool:
        return self.unit_ids is None


async def optional_principal(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)
