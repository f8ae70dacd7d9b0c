"""Settings from the environment.

``PATROL_DB_URL``   SQLAlchemy URL; default a SQLite file ``patrol.db`` in the data directory.
``PATROL_DB_READ_URL`` a read replica (hot standby) of ``PATROL_DB_URL`` for reads that may be a second stale
                    (reports, maps, exports); unset: everything reads the primary.
``PATROL_DATA_DIR`` photos, exports and the default database; default ``$XDG_DATA_HOME/patrol`` (that is
                    ``~/.local/share/patrol``): the same store from whatever directory ``patrol`` runs. A checkout's
                    ``make run`` / ``make test`` set it to the checkout's ``./var``. ``patrol info`` prints it.
``PATROL_LANG``     ``zh`` (default) or ``en``.
``PATROL_TZ``       the bureau's time zone for local dates and times; default ``Asia/Shanghai``.
``PATROL_MAX_DISTANCE_M`` how far from a road a point may be and still be located; default 100.
``PATROL_SESSION_IDLE_MINUTES`` a signed-in session ends after this long without use; default 30.
``PATROL_SESSION_MAX_HOURS``    and in any case this long after sign-in; default 12.
``PATROL_COOKIE_SECURE``        ``1`` marks the session cookie Secure also behind an HTTPS reverse proxy that talks
                                plain HTTP to the app (it is Secure anyway when the app itself serves HTTPS).
``PATROL_ISSUER``   the issuing body printed on documents; default 曲靖市麒麟区交通运输局.
``PATROL_DOC_PREFIX`` the prefix of document numbers (麒路责改〔2026〕第12号); default 麒路.
``PATROL_COUNTY``   the county (6-digit 区划代码) of this installation: the county of records and accounts written
                    without one (a single-county store, ``patrol`` commands without ``--county``), and the one
                    documents are numbered for when a road carries none; default 530302 (``PATROL_COUNTY_CODE`` is
                    read too).
``PATROL_BEHIND_PROXY``         ``1``: an HTTPS reverse proxy is in front (implies ``PATROL_COOKIE_SECURE``).
``PATROL_PRODUCTION``           ``1``: the bureau's server (see ``patrol_app.production``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_url: str
    lang: str
    tz: str
    max_distance_m: float
    session_idle_minutes: float = 30.0
    session_max_hours: float = 12.0
    cookie_secure: bool = False
    issuer: str = "曲靖市麒麟区交通运输局"
    doc_prefix: str = "麒路"
    county_code: str = "530302"
    db_read_url: str | None = None
    import_max_rows: int = 5_000_000  # rows of a CSV ledger (read row by row: memory stays bounded)
    import_max_mb: int = 1024  # size of a CSV ledger


def default_data_dir() -> Path:
    """Where the store lives without ``PATROL_DATA_DIR``: ``$XDG_DATA_HOME/patrol``, else ``~/.local/share/patrol``
    (the XDG base-directory default), never a path relative to the current directory."""
    xdg = os.environ.get("XDG_DATA_HOME") or ""
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "patrol"


def get_settings() -> Settings:
    data_dir = Path(os.environ.get("PATROL_DATA_DIR") or default_data_dir()).expanduser().resolve()
    db_url = os.environ.get("PATROL_DB_URL") or f"sqlite:///{data_dir / 'patrol.db'}"
    lang = (os.environ.get("PATROL_LANG") or "zh").lower()
    return Settings(
        data_dir=data_dir,
        db_url=db_url,
        lang="en" if lang.startswith("en") else "zh",
        tz=os.environ.get("PATROL_TZ") or "Asia/Shanghai",
        max_distance_m=float(os.environ.get("PATROL_MAX_DISTANCE_M") or 100.0),
        session_idle_minutes=float(os.environ.get("PATROL_SESSION_IDLE_MINUTES") or 30.0),
        session_max_hours=float(os.environ.get("PATROL_SESSION_MAX_HOURS") or 12.0),
        cookie_secure=any(
            (os.environ.get(v) or "").lower() in ("1", "true", "yes")
            for v in ("PATROL_COOKIE_SECURE", "PATROL_BEHIND_PROXY")
        ),
        issuer=os.environ.get("PATROL_ISSUER") or "曲靖市麒麟区交通运输局",
        doc_prefix=os.environ.get("PATROL_DOC_PREFIX") or "麒路",
        county_code=os.environ.get("PATROL_COUNTY") or os.environ.get("PATROL_COUNTY_CODE") or "530302",
        db_read_url=os.environ.get("PATROL_DB_READ_URL") or None,
        import_max_rows=int(os.environ.get("PATROL_IMPORT_MAX_ROWS") or 5_000_000),
        import_max_mb=int(os.environ.get("PATROL_IMPORT_MAX_MB") or 1024),
    )
