"""Importing a ledger of any size in bounded memory, still all or nothing and still naming every bad row.

Two phases. **Check**: the file is read a chunk at a time (:func:`patrol_app.io.ledger_stream.iter_ledger`) and
every chunk validated with the same rules as the app's forms (:mod:`patrol_app.services.records`); the records of
the clean chunks are spilled to a temporary file, the problems of every chunk kept. Nothing is written to the
store in this phase (SQLite takes no write lock while a file is checked). **Write**: only when no row is bad and
it is not a dry run, the spilled chunks are inserted one after another in the caller's one transaction, with the
batch row and the audit entry; a failure anywhere rolls all of it back.

Peak memory is one chunk of rows plus the problems found, whatever the number of rows.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.clock import local_now, utc_now
from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm
from patrol_app.io.ledger import LedgerFormatError
from patrol_app.io.ledger_stream import CHUNK_ROWS, file_sha256, iter_ledger
from patrol_app.services import audit, records
from patrol_app.services.errors import ServiceError
from patrol_app.services.records import ImportResult, PatrolRecord, _validate_sheet
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import require
from patrol_app.storage.models import ImportBatch, User


def import_ledger_streamed(
    session: Session,
    actor: User,
    path: str | Path,
    kind: str | None = None,
    dry_run: bool = False,
    max_distance: float | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Import a ledger all or nothing, ``chunk_rows`` rows at a time. With any bad row nothing is written and every
    problem is listed; the result is the same as :func:`patrol_app.services.records.import_ledger`'s."""
    require(actor, Perm.IMPORT_LEDGER)
    p = Path(path)
    if not p.exists():
        raise ServiceError("error.file_not_found", file=str(p))
    digest = file_sha256(p)
    dup = session.execute(select(ImportBatch).where(ImportBatch.sha256 == digest)).scalar_one_or_none()
    if dup is not None:
        raise ServiceError("error.already_imported", file=p.name, batch=dup.id,
                           when=dup.created_at.strftime("%Y-%m-%d %H:%M"))
    net = store_network(session)
    now = local_now()
    dist = get_settings().max_distance_m if max_distance is None else max_distance
    result = ImportResult(file=p.name, dry_run=dry_run)
    sheets: dict[str | None, dict[str, Any]] = {}
    kinds: set[str] = set()
    with tempfile.TemporaryFile(prefix="patrol-import-") as spill:
        chunks = 0
        try:
            for sh in iter_ledger(p, kind, chunk_rows):
                patrols: list[PatrolRecord] = []
                incidents: list[dict[str, Any]] = []
                info = _validate_sheet(sh, net, now, dist, patrols, incidents, result.errors, result.flagged)
                _merge_info(sheets, info)
                kinds.add(sh.kind)
                result.patrols += len(patrols)
                result.incidents += len(incidents)
                if not result.errors and not dry_run:
                    pickle.dump((patrols, incidents), spill, protocol=pickle.HIGHEST_PROTOCOL)
                    chunks += 1
        except LedgerFormatError as exc:
            raise ServiceError(exc.key, **exc.params) from exc
        result.sheets = list(sheets.values())
        if result.errors or dry_run:
            return result
        batch = ImportBatch(kind="+".join(sorted(kinds)), filename=p.name, sha256=digest,
                            rows=result.patrols + result.incidents, created_by=actor.id, created_at=utc_now())
        session.add(batch)
        session.flush()
        result.batch_id = batch.id
        for patrols, incidents in _spilled(spill, chunks):
            records.store_records(session, actor, patrols, incidents, "ledger", batch.id)
    audit.record(session, actor, "ledger.import", "import_batch", batch.id,
                 after={"file": p.name, "sha256": digest, "patrols": result.patrols, "incidents": result.incidents})
    return result


def _merge_info(sheets: dict[str | None, dict[str, Any]], info: dict[str, Any]) -> None:
    """One sheet's summary from its chunks' summaries: rows add up, skipped totals rows collect."""
    seen = sheets.get(info["sheet"])
    if seen is None:
        sheets[info["sheet"]] = {**info, "skipped_total_rows": list(info["skipped_total_rows"])}
    else:
        seen["rows"] += info["rows"]
        seen["skipped_total_rows"].extend(info["skipped_total_rows"])


def _spilled(spill: IO[bytes], chunks: int):  # type: ignore[no-untyped-def]
    spill.seek(0)
    for _ in range(chunks):
        yield pickle.load(spill)
