"""Parties' personal data (names and phone numbers) for roles that may not see them: the one place that masks.

Maps (popups in the app and ``patrol map`` files), the cases page and exports all call these functions; a role
sees parties in clear only when it holds ``Perm.VIEW_PARTY``.
"""

from __future__ import annotations

import re
from typing import Any

from patrol_app.domain.rules import Perm, allowed


def can_see_parties(actor: Any) -> bool:
    """``actor``: a user (anything with ``role`` and ``active``) or a role name."""
    if isinstance(actor, str):
        return allowed(actor, Perm.VIEW_PARTY)
    return bool(getattr(actor, "active", True)) and allowed(actor.role, Perm.VIEW_PARTY)


def mask_name(name: str | None) -> str:
    """Keep the first character (the surname): 王某某 → 王**, 欧阳娜娜 → 欧***, 李 → *."""
    s = (name or "").strip()
    if not s:
        return ""
    if len(s) == 1:
        return "*"
    return s[0] + "*" * (len(s) - 1)


def mask_phone(phone: str | None) -> str:
    """Keep the first three and last four characters: 13812345678 → 138****5678; short numbers keep the last two."""
    s = (phone or "").strip()
    if not s:
        return ""
    if len(s) >= 8:
        return s[:3] + "*" * (len(s) - 7) + s[-4:]
    return "*" * max(1, len(s) - 2) + s[-2:] if len(s) > 2 else "*" * len(s)


_PHONE_IN_TEXT = re.compile(r"(?<!\d)1\d{10}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


def mask_text(text: str | None, party: str | None = None) -> str:
    """Free text (a description) with the party's name and any phone number in it masked."""
    s = text or ""
    if party and len(party.strip()) > 1:
        s = s.replace(party.strip(), mask_name(party))
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), s)


def party_fields(
    actor: Any, party: str | None, phone: str | None, description: str | None = None
) -> dict[str, str]:
    """``party``, ``party_phone`` and ``description`` as ``actor`` may see them."""
    if can_see_parties(actor):
        return {"party": party or "", "party_phone": phone or "", "description": description or ""}
    return {
        "party": mask_name(party),
        "party_phone": mask_phone(phone),
        "description": mask_text(description, party),
    }
