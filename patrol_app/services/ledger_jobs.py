"""Ledger checks and imports run in the background, with progress any page (any tab) can poll, and batch
rollback. No Streamlit here.

A job is a row of ``import_jobs``; a background thread reads, checks and (unless it is a dry run) writes the
ledger, reporting rows read, validated and written. Progress goes to the job row at most every
:data:`UPDATE_EVERY_S` seconds through short transactions of its own, and to an in-process registry at every
step. While the rows are written, SQLite holds its one write lock for the import's transaction: then only the
in-process registry moves (the page is served by the same process), and the row catches up when the transaction
commits. On PostgreSQL the row moves throughout. One job at a time: a second one is refused with "an import is
running" (never a lock error).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm
from patrol_app.services import audit
from patrol_app.services.errors import ServiceError
from patrol_app.services.records import ImportResult, check_ledger, file_digest, imported_batch, write_ledger
from patrol_app.services.users import require, require_county
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import (
    Case,
    ImportBatch,
    ImportJob,
    Incident,
    IncidentEvent,
    Patrol,
    PatrolCrew,
    PatrolRoad,
    PatrolVehicle,
    Photo,
    User,
)

log = logging.getLogger(__name__)

UPDATE_EVERY_S = 0.25
#: A running job whose row has not moved for this long, and that no thread of this process runs, was
#: interrupted (the server stopped).
STALE_AFTER = dt.timedelta(minutes=2)
LEDGER_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".txt", ".tsv")


class RollbackRefused(ServiceError):
    """A batch whose records something else refers to; ``blockers`` counts what (render with
    :func:`blockers_text` in the reader's language)."""

    def __init__(self, batch: int, file: str, blockers: dict[str, int]) -> None:
        self.blockers = blockers
        super().__init__(
            "imports.error.rollback_refused", batch=batch, file=file, reasons=blockers_text(blockers)
        )


@dataclass
class JobView:
    """What the page shows of a job."""

    id: int
    dry_run: bool
    filename: str
    status: str  # running | done | failed
    stage: str  # read | validate | write | done
    rows_total: int
    rows_read: int
    rows_validated: int
    rows_written: int
    bad_rows: int
    patrols: int
    incidents: int
    batch_id: int | None
    error: dict[str, Any] | None
    started_at: dt.datetime  # UTC
    finished_at: dt.datetime | None
    user: str = ""
    user_id: int | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def fraction(self) -> float:
        """Overall progress 0–1: reading a third, checking a third, writing a third (a dry run: half, half)."""
        total = max(self.rows_total, 1)
        read = min(self.rows_read / total, 1.0)
        valid = min(self.rows_validated / total, 1.0)
        if self.status != "running":
            return 1.0
        if self.dry_run:
            return 0.5 * read + 0.5 * valid
        written = (
            min(self.rows_written / max(self.patrols + self.incidents, 1), 1.0)
            if self.stage == "write"
            else 0
        )
        return (read + valid + written) / 3


@dataclass
class _Live:
    view: JobView
    path: Path
    result: ImportResult | None = None
    thread: threading.Thread | None = None


#: Jobs this process runs or ran, by (id, start time): ids alone repeat across databases.
_live: dict[tuple[int, dt.datetime], _Live] = {}
_lock = threading.RLock()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def local_time(utc: dt.datetime | None) -> str:
    """A stored UTC time as the bureau's local time (PATROL_TZ), to the minute."""
    if utc is None:
        return ""
    return utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(get_settings().tz)).strftime("%Y-%m-%d %H:%M")


def save_upload(data: bytes, filename: str) -> Path:
    """Keep an uploaded ledger under ``PATROL_DATA_DIR/uploads/ledgers`` (its own folder, its own name)."""
    name = Path(filename).name or "ledger.xlsx"
    if Path(name).suffix.lower() not in LEDGER_SUFFIXES:
        raise ServiceError("error.ledger_format", file=name)
    folder = get_settings().data_dir / "uploads" / "ledgers" / uuid.uuid4().hex[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _view(job: ImportJob, user: User | None = None) -> JobView:
    return JobView(
        job.id,
        job.dry_run,
        job.filename,
        job.status,
        job.stage,
        job.rows_total,
        job.rows_read,
        job.rows_validated,
        job.rows_written,
        job.bad_rows,
        job.patrols,
        job.incidents,
        job.batch_id,
        job.error,
        job.started_at,
        job.finished_at,
        (user.display_name or user.username) if user else "",
        job.created_by,
    )


def _key(v: JobView) -> tuple[int, dt.datetime]:
    return (v.id, v.started_at)


def _with_live(v: JobView) -> JobView:
    with _lock:
        live = _live.get(_key(v))
        return replace(live.view, user=v.user, user_id=v.user_id) if live else v


def job_view(session: Session, actor: User, job_id: int) -> JobView | None:
    """A job as it is now (the in-process progress when this process runs it)."""
    require(actor, Perm.IMPORT_LEDGER)
    row = session.get(ImportJob, job_id)
    if row is None:
        return None
    return _with_live(_view(row, session.get(User, row.created_by)))


def running_job(session: Session, actor: User) -> JobView | None:
    """The job running now, if any (one interrupted by a server stop does not count)."""
    require(actor, Perm.IMPORT_LEDGER)
    return _running_job(session)


def _running_job(session: Session) -> JobView | None:
    rows = session.execute(
        select(ImportJob).where(ImportJob.status == "running").order_by(ImportJob.id)
    ).scalars()
    for row in rows:
        with _lock:
            live = _live.get((row.id, row.started_at))
            mine = live is not None and live.view.running
        if mine or _utcnow() - row.updated_at < STALE_AFTER:
            return _with_live(_view(row, session.get(User, row.created_by)))
    return None


def job_result(v: JobView) -> ImportResult | None:
    """The check's full result (counts, first rows, every bad row) while this process remembers it."""
    with _lock:
        live = _live.get(_key(v))
        return live.result if live else None


def job_file(v: JobView) -> Path | None:
    """The uploaded file of a job, while this process remembers it."""
    with _lock:
        live = _live.get(_key(v))
        return live.path if live else None


def start_job(
    actor: User,
    path: str | Path,
    filename: str | None = None,
    dry_run: bool = True,
    url: str | None = None,
    kind: str | None = None,
    wait: bool = False,
) -> int:
    """Start checking (``dry_run``) or importing a ledger in the background; returns the job id at once.

    Refused with ``imports.error.running`` while another job runs, and with ``error.already_imported`` for a
    file imported before. ``wait`` runs it to the end before returning (for the command line and tests)."""
    require(actor, Perm.IMPORT_LEDGER)
    url = url or get_settings().db_url
    p = Path(path)
    name = filename or p.name
    digest = file_digest(p)
    with _lock:
        with session_scope(url) as s:
            _mark_interrupted(s)
            other = _running_job(s)
            if other is not None:
                raise ServiceError(
                    "imports.error.running",
                    file=other.filename,
                    user=other.user,
                    since=local_time(other.started_at),
                )
            dup = imported_batch(s, digest)
            if dup is not None:
                raise ServiceError(
                    "error.already_imported", file=name, batch=dup.id, when=local_time(dup.created_at)
                )
            now = _utcnow()
            job = ImportJob(
                dry_run=dry_run,
                filename=name,
                sha256=digest,
                status="running",
                stage="read",
                rows_total=0,
                rows_read=0,
                rows_validated=0,
                rows_written=0,
                bad_rows=0,
                patrols=0,
                incidents=0,
                created_by=actor.id,
                started_at=now,
                updated_at=now,
            )
            s.add(job)
            s.flush()
            audit.record(
                s,
                actor,
                "ledger.check" if dry_run else "ledger.import_started",
                "import_job",
                job.id,
                after={"file": name, "sha256": digest},
            )
            view = _view(job, actor)
        live = _Live(view, p)
        _live[_key(view)] = live
    t = threading.Thread(
        target=_run,
        args=(live, actor.id, p, name, dry_run, url, kind),
        daemon=True,
        name=f"ledger-job-{view.id}",
    )
    live.thread = t
    t.start()
    if wait:
        t.join()
    return view.id


def wait_for(v: JobView, timeout: float | None = None) -> None:
    with _lock:
        live = _live.get(_key(v))
    if live and live.thread:
        live.thread.join(timeout)


def _mark_interrupted(session: Session) -> None:
    with_threads = {key for key, live in _live.items() if live.view.running}
    stale = session.execute(
        select(ImportJob).where(ImportJob.status == "running", ImportJob.updated_at < _utcnow() - STALE_AFTER)
    ).scalars()
    for row in stale:
        if (row.id, row.started_at) not in with_threads:
            row.status, row.error, row.finished_at = (
                "failed",
                {"key": "imports.error.interrupted", "params": {}},
                _utcnow(),
            )


def _persist(job_id: int, url: str, view: JobView) -> None:
    try:
        with session_scope(url) as s:
            s.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(
                    stage=view.stage,
                    rows_total=view.rows_total,
                    rows_read=view.rows_read,
                    rows_validated=view.rows_validated,
                    rows_written=view.rows_written,
                    updated_at=_utcnow(),
                )
            )
    except Exception:  # progress is a courtesy: never fail the import for it
        log.exception("could not store the progress of import job %s", job_id)


def _run(live: _Live, user_id: int, path: Path, name: str, dry_run: bool, url: str, kind: str | None) -> None:
    job_id = live.view.id
    sqlite = url.startswith("sqlite")
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        with _lock:
            v = live.view
            v.stage = stage
            if stage == "read":
                v.rows_read, v.rows_total = done, max(total, done)
            elif stage == "validate":
                v.rows_total = v.rows_read = total
                v.rows_validated = done
            elif stage == "write":
                v.rows_written = done
            snapshot = replace(v)
        now = time.monotonic()
        if now - last[0] >= UPDATE_EVERY_S and not (sqlite and stage == "write"):
            last[0] = now
            _persist(job_id, url, snapshot)

    def finish(s: Session, result: ImportResult | None, error: dict[str, Any] | None) -> None:
        job = s.get(ImportJob, job_id)
        assert job is not None  # written and committed by start_import before this thread started
        with _lock:
            v = live.view
            if result is not None:
                v.patrols, v.incidents, v.bad_rows = result.patrols, result.incidents, result.bad_rows
                v.batch_id = result.batch_id
                v.rows_total = v.rows_total or result.rows
                v.rows_read = max(v.rows_read, result.rows)
                v.rows_validated = max(v.rows_validated, result.rows)
                live.result = result
            v.status = "failed" if error else "done"
            v.stage = "done" if not error else v.stage
            v.error = error
            v.finished_at = _utcnow()
            for k in (
                "stage",
                "rows_total",
                "rows_read",
                "rows_validated",
                "rows_written",
                "bad_rows",
                "patrols",
                "incidents",
                "batch_id",
                "error",
                "status",
                "finished_at",
            ):
                setattr(job, k, getattr(v, k))
            job.updated_at = v.finished_at

    try:
        with read_session(url) as s:
            actor = s.get(User, user_id)
            assert actor is not None
            check = check_ledger(s, actor, path, kind, progress=progress, name=name)
        if check.result.errors or dry_run:
            check.close()
            with session_scope(url) as s:
                finish(s, check.result, None)
            return
        with session_scope(url) as s:
            actor = s.get(User, user_id)
            assert actor is not None
            with _lock:
                live.view.patrols, live.view.incidents = check.result.patrols, check.result.incidents
            result = write_ledger(s, actor, check, progress)
            with _lock:
                live.view.rows_written = check.result.patrols + check.result.incidents
            finish(s, result, None)
    except ServiceError as exc:
        _fail(live, url, finish, {"key": exc.key, "params": {k: str(v) for k, v in exc.params.items()}})
    except Exception as exc:  # reported on the page, logged with its traceback
        log.exception("import job %s failed", job_id)
        _fail(live, url, finish, {"key": "imports.error.internal", "params": {"detail": str(exc)[:300]}})


def _fail(live: _Live, url: str, finish: Any, error: dict[str, Any]) -> None:
    try:
        with session_scope(url) as s:
            finish(s, None, error)
    except Exception:
        log.exception("could not record the failure of import job %s", live.view.id)
        with _lock:
            live.view.status, live.view.error = "failed", error


def forget(v: JobView) -> None:
    """Drop a finished job's in-process result and its uploaded copy."""
    with _lock:
        live = _live.pop(_key(v), None)
    if live and not live.view.running:
        shutil.rmtree(live.path.parent, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------
# Batches and rollback
# --------------------------------------------------------------------------------------------------------


@dataclass
class BatchInfo:
    id: int
    filename: str
    kind: str
    rows: int
    created_at: dt.datetime  # UTC
    user: str
    patrols: int
    incidents: int
    rolled_back_at: dt.datetime | None
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    blockers: dict[str, int] = field(default_factory=dict)


def batch_info(session: Session, actor: User, batch_id: int) -> BatchInfo | None:
    """One imported batch: file, counts, dates, whether rolled back and what would block a rollback (for the
    batch filter of the map and report, which anyone who may see records uses)."""
    require(actor, Perm.VIEW)
    return _batch_info(session, batch_id)


def _batch_info(session: Session, batch_id: int) -> BatchInfo | None:
    b = session.get(ImportBatch, batch_id)
    if b is None:
        return None
    user = session.get(User, b.created_by)
    p_n, p_min, p_max = session.execute(
        select(func.count(), func.min(Patrol.date), func.max(Patrol.date)).where(
            Patrol.import_batch_id == b.id
        )
    ).one()
    i_n, i_min, i_max = session.execute(
        select(func.count(), func.min(Incident.found_at), func.max(Incident.found_at)).where(
            Incident.import_batch_id == b.id
        )
    ).one()
    dates = [d for d in (p_min, p_max, i_min.date() if i_min else None, i_max.date() if i_max else None) if d]
    return BatchInfo(
        b.id,
        b.filename,
        b.kind,
        b.rows,
        b.created_at,
        user.display_name if user else "",
        int(p_n),
        int(i_n),
        b.rolled_back_at,
        min(dates) if dates else None,
        max(dates) if dates else None,
        _rollback_blockers(session, b.id),
    )


def batches(session: Session, actor: User, limit: int = 20) -> list[BatchInfo]:
    """The newest imported batches (imports and rollbacks are for those who may import)."""
    require(actor, Perm.IMPORT_LEDGER)
    ids = session.execute(select(ImportBatch.id).order_by(ImportBatch.id.desc()).limit(limit)).scalars().all()
    return [b for b in (_batch_info(session, i) for i in ids) if b]


def _rollback_blockers(session: Session, batch_id: int) -> dict[str, int]:
    """What outside the batch refers to its records (non-zero counts only)."""
    inc = select(Incident.id).where(Incident.import_batch_id == batch_id)
    pat = select(Patrol.id).where(Patrol.import_batch_id == batch_id)
    outside = or_(Incident.import_batch_id.is_(None), Incident.import_batch_id != batch_id)
    counts = {
        "photos": select(func.count()).select_from(Photo).where(Photo.incident_id.in_(inc)),
        "events": select(func.count()).select_from(IncidentEvent).where(IncidentEvent.incident_id.in_(inc)),
        "cases": select(func.count()).select_from(Case).where(Case.incident_id.in_(inc)),
        "followups": select(func.count())
        .select_from(Incident)
        .where(Incident.follow_up_of.in_(inc), outside),
        "incidents": select(func.count()).select_from(Incident).where(Incident.patrol_id.in_(pat), outside),
        "crews": select(func.count()).select_from(PatrolCrew).where(PatrolCrew.patrol_id.in_(pat)),
        "vehicles": select(func.count()).select_from(PatrolVehicle).where(PatrolVehicle.patrol_id.in_(pat)),
    }
    out = {k: int(session.execute(q).scalar_one()) for k, q in counts.items()}
    updated = session.execute(
        select(func.count())
        .select_from(Incident)
        .where(Incident.import_batch_id == batch_id, Incident.updated_at.is_not(None))
    ).scalar_one()
    out["updated"] = int(updated)
    return {k: v for k, v in out.items() if v}


def rollback_batch(session: Session, actor: User, batch_id: int) -> dict[str, int]:
    """Remove every record of an imported batch, in the caller's transaction (audited) — refused, with the
    reason, while anything else refers to them (photos, follow-up records, cases, follow-up incidents, incidents
    filed under its patrols) or they were changed since."""
    require(actor, Perm.ROLLBACK_IMPORT)
    b = session.get(ImportBatch, batch_id)
    if b is None:
        raise ServiceError("imports.error.no_batch", batch=batch_id)
    require_county(actor, b.adcode)  # another county's record: refused
    if b.rolled_back_at is not None:
        raise ServiceError(
            "imports.error.rolled_back_already", batch=batch_id, when=local_time(b.rolled_back_at)
        )
    blockers = _rollback_blockers(session, batch_id)
    if blockers:
        raise RollbackRefused(batch_id, b.filename, blockers)
    pat = select(Patrol.id).where(Patrol.import_batch_id == batch_id)
    # (a DELETE's result is a cursor result: it has a row count)
    n_inc = cast(
        "CursorResult[Any]", session.execute(delete(Incident).where(Incident.import_batch_id == batch_id))
    ).rowcount
    session.execute(delete(PatrolRoad).where(PatrolRoad.patrol_id.in_(pat)))
    n_pat = cast(
        "CursorResult[Any]", session.execute(delete(Patrol).where(Patrol.import_batch_id == batch_id))
    ).rowcount
    b.rolled_back_at, b.rolled_back_by = _utcnow(), actor.id
    session.flush()
    audit.record(
        session,
        actor,
        "ledger.rollback",
        "import_batch",
        batch_id,
        before={"file": b.filename, "sha256": b.sha256, "patrols": n_pat, "incidents": n_inc},
    )
    return {"patrols": int(n_pat), "incidents": int(n_inc)}


def blockers_text(blockers: dict[str, int], lang: str | None = None) -> str:
    from patrol_app.i18n import t

    lng = lang or get_settings().lang
    return ("、" if lng == "zh" else ", ").join(
        t("imports.blocker." + k, lng, n=n) for k, n in blockers.items()
    )
