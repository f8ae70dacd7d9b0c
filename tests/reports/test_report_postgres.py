"""The report and every export on a real PostgreSQL (the rollup's month keys, text casts and server-side cursors
differ from SQLite). `make test` starts a throwaway server and sets PATROL_TEST_PG_URL."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest

from patrol_app.io.exports import FORMATS, SUFFIX, ExportFilter, export
from patrol_app.reports.report import build_report, report_json
from patrol_app.reports.rollup import Period
from patrol_app.reports.writers import render
from patrol_app.services.users import get_user
from patrol_app.storage import db
from tests.conftest import postgres_demo_store

pytestmark = pytest.mark.postgres
TODAY = dt.date(2026, 11, 1)
YEAR = TODAY.year - 1


@pytest.fixture(scope="module")
def pg_url():  # type: ignore[no-untyped-def]
    with postgres_demo_store("patrol_report", TODAY) as url:
        yield url


def test_report_on_postgres(pg_url):
    with db.read_session(pg_url) as s:
        rep = build_report(s, get_user(s, "manager"), Period.year(YEAR))
        docx = render(rep, "docx", "zh", session=s)
    data = report_json(rep)
    assert (data["patrols"], data["vehicle_trips"], data["person_trips"]) == (130, 263, 734)
    assert (
        sum(data["incidents_by_month"].values())
        == sum(data["incidents_by_type"].values())
        == data["incidents_total"]
        > 100
    )
    assert list(data["incidents_by_month"]) == [f"{m:02d}" for m in range(1, 13)]
    assert data["narrative_zh"].startswith(
        f"{YEAR}年共出动车辆260多台次，出动人员730多人次，在全区县道、乡道等公路上"
    )
    assert len(docx) > 50_000


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_on_postgres(pg_url, tmp_path, fmt):
    with db.read_session(pg_url) as s:
        total = build_report(s, get_user(s, "manager"), Period.year(YEAR)).current.incidents_total
        inc = export(
            s,
            get_user(s, "reviewer"),
            "incidents",
            fmt,
            tmp_path / f"i{SUFFIX[fmt]}",
            ExportFilter.year(YEAR),
        )
        pat = export(
            s, get_user(s, "manager"), "patrols", fmt, tmp_path / f"p{SUFFIX[fmt]}", ExportFilter.year(YEAR)
        )
    assert (inc.rows, pat.rows) == (total, 130)
    if fmt in ("geojson", "gpkg", "kml", "kmz", "shp"):
        assert len(gpd.read_file(inc.path)) == total and len(gpd.read_file(pat.path)) == 130
