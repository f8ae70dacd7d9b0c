"""Errors raised by services, with catalog keys so the UI and CLI render them in the user's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ServiceError(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(f"{key} {params}" if params else key)


class PermissionDenied(ServiceError):
    def __init__(self, actor: str, perm: str) -> None:
        super().__init__("error.permission_denied", actor=actor, perm=perm)


@dataclass
class FieldError:
    """One problem with one field; ``row`` is the spreadsheet row number (None for a form)."""

    column: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    row: int | None = None
    sheet: str | None = None

    def render(self, lang: str = "zh") -> str:
        from patrol_app.i18n import t

        msg = t(self.key, lang, **self.params)
        where = []
        if self.sheet:
            where.append(t("where.sheet", lang, sheet=self.sheet))
        if self.row is not None:
            where.append(t("where.row", lang, row=self.row))
        if self.column:
            where.append(t("where.column", lang, column=self.column))
        return (" ".join(where) + ": " if where else "") + msg


class ValidationFailed(ServiceError):
    """Input rejected; nothing was written. ``errors`` names every bad row and column."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("error.validation_failed", count=len(errors))
