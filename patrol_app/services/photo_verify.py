"""Checking the photo store against the database: every photo row's original is re-hashed and compared with
the SHA-256 recorded when it was stored. Part of ``patrol audit verify`` and the admin page's audit check; needs
``Perm.VERIFY_AUDIT``. The files themselves are :mod:`patrol_app.photos` (a store without database)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm
from patrol_app.photos import file_sha256
from patrol_app.services.users import require
from patrol_app.storage.models import Photo, User


@dataclass(frozen=True)
class PhotoProblem:
    """An original that is not what was stored: ``kind`` is ``missing``, ``altered`` or ``unreadable``."""

    id: int
    incident_id: int | None
    path: str
    kind: str
    expected: str
    actual: str | None


def verify_photos(session: Session, actor: User, data_dir: Path | None = None) -> list[PhotoProblem]:
    """Re-hash every photo's original and list those missing, altered or unreadable, by photo id.

    A file shared by several rows (the same picture attached twice) is hashed once. Needs ``Perm.VERIFY_AUDIT``."""
    require(actor, Perm.VERIFY_AUDIT)
    root = Path(data_dir) if data_dir is not None else get_settings().data_dir
    problems: list[PhotoProblem] = []
    seen: dict[str, tuple[str, str | None]] = {}
    rows = session.execute(
        select(Photo.id, Photo.incident_id, Photo.path, Photo.sha256)
        .order_by(Photo.id)
        .execution_options(yield_per=1000)
    )
    for r in rows:
        if r.path not in seen:
            try:
                seen[r.path] = ("ok", file_sha256(root / r.path))
            except FileNotFoundError:
                seen[r.path] = ("missing", None)
            except OSError:
                seen[r.path] = ("unreadable", None)
        state, actual = seen[r.path]
        if state == "ok" and actual != r.sha256:
            state = "altered"
        if state != "ok":
            problems.append(
                PhotoProblem(
                    id=r.id,
                    incident_id=r.incident_id,
                    path=r.path,
                    kind=state,
                    expected=r.sha256,
                    actual=actual,
                )
            )
    return problems
