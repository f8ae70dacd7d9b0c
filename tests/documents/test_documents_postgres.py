"""Notice numbering and the corrected stored verdicts on a real PostgreSQL (the throwaway server of `make test`)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from patrol_app.documents import issue_notice
from patrol_app.services.records import local_now
from patrol_app.services.users import get_user
from patrol_app.storage import db
from patrol_app.storage.models import DocumentNumber, Incident
from tests.conftest import postgres_demo_store

pytestmark = pytest.mark.postgres


def test_notice_numbers_on_postgres(tmp_path, monkeypatch):
    with postgres_demo_store("patrol_doc", local_now().date()) as url:
        monkeypatch.setenv("PATROL_DB_URL", url)
        monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
        with db.session_scope(url) as s:
            inc = (
                s.execute(
                    select(Incident)
                    .where(Incident.party != "", Incident.type_code == "building")
                    .order_by(Incident.id)
                )
                .scalars()
                .first()
            )
            officer = get_user(s, "officer")
            due = local_now().date() + dt.timedelta(days=10)
            a = issue_notice(s, officer, inc.id, "rectify", due)
            b = issue_notice(s, officer, inc.id, "rectify", due)
        y = local_now().year
        assert (a.number, b.number) == (f"麒路责改〔{y}〕第1号", f"麒路责改〔{y}〕第2号")
        with pytest.raises(IntegrityError):
            with db.session_scope(url) as s:
                s.add(
                    DocumentNumber(
                        kind="rectify",
                        county_code="530302",
                        year=y,
                        seq=2,
                        number="dup",
                        entity="incident",
                        entity_id=inc.id,
                        sha256="",
                        issued_by=1,
                        issued_at=dt.datetime(2026, 1, 1),
                    )
                )
        with db.read_session(url) as s:  # no stored verdict says "in the control zone" for road land
            assert (
                s.execute(
                    text("SELECT count(*) FROM incidents WHERE zone = 'road_land' AND in_control_zone")
                ).scalar_one()
                == 0
            )
