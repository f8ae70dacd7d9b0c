"""Photos (pixels checked from the header before decoding; decoding bounded to a few at a time), GPX (defusedxml;
size) and ledger fields (length per column): each a clear refusal that writes nothing."""

from __future__ import annotations

import datetime as dt
import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from sqlalchemy import func, select

from gis.gpx import GpxError, track_length_km
from patrol_app import photos
from patrol_app.i18n import error_text
from patrol_app.services import field, records
from patrol_app.services.errors import ServiceError, ValidationFailed
from patrol_app.services.users import get_user
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import Incident, Patrol, Personnel


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` but holds almost no data (a pixel bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_photo_over_50_megapixels_is_refused_before_decoding(tmp_path):
    data = png_header_only(8000, 7000)  # 56 MP, under Pillow's own bomb limit
    assert len(data) < 1000
    with pytest.raises(ServiceError) as exc:
        photos.store_photo(data, "bomb.png", tmp_path)
    assert exc.value.key == "photo.too_many_pixels"
    assert "bomb.png" in error_text(exc.value, "zh") and "bomb.png" in error_text(exc.value, "en")
    assert not any(tmp_path.rglob("*.*"))


def test_photo_decoding_is_bounded(tmp_path, monkeypatch):
    active, peak, lock = [0], [0], threading.Lock()
    real = photos._derive

    def counting(*a, **kw):  # type: ignore[no-untyped-def]
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            threading.Event().wait(0.05)
            return real(*a, **kw)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(photos, "_derive", counting)

    def one(i: int) -> None:
        buf = io.BytesIO()
        Image.new("RGB", (400, 300), (i, 100, 50)).save(buf, "JPEG")
        photos.store_photo(buf.getvalue(), f"p{i}.jpg", tmp_path)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(12)))
    assert 1 <= peak[0] <= photos.DECODE_CONCURRENCY


def test_gpx_entities_and_size_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<gpx><trk><trkseg><trkpt lat="25.4" lon="103.8"><name>&b;</name></trkpt>'
        b'<trkpt lat="25.41" lon="103.81"/></trkseg></trk></gpx>'
    )
    with pytest.raises(GpxError, match="DTD or entities"):
        track_length_km(bomb)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<gpx><trk><trkseg><trkpt lat="25.4" lon="103.8"><name>&x;</name></trkpt></trkseg></trk></gpx>'
    )
    with pytest.raises(GpxError):
        track_length_km(external)
    with pytest.raises(GpxError, match="larger than"):
        track_length_km(b"<gpx>" + b" " * (21 * 1024 * 1024) + b"</gpx>")


def test_gpx_bomb_at_end_of_patrol_writes_nothing(store):
    with session_scope() as s:
        officer = get_user(s, "officer")

        ids = [
            s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in ("李明", "王芳")
        ]
        p = field.start_patrol(
            s,
            officer,
            field.PatrolStart(
                date=dt.date(2026, 3, 2), start_time="08:00", roads=["X001"], crew_ids=ids, vehicle_ids=[1]
            ),
        )
        pid = p.id
    bomb = b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "x">]><gpx>&a;</gpx>'
    with pytest.raises(ValidationFailed), session_scope() as s:
        field.end_patrol(s, get_user(s, "officer"), pid, "12:00", method="gpx", gpx=bomb)
    with session_scope() as s:
        assert s.get(Patrol, pid).status == "open"


def test_field_lengths_per_column_are_refused_not_cut(store, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "日期,巡查路线,出动车辆,出动人员,天气,备注\n"
        f"2025-03-05,X001,1,2,{'晴' * 40},ok\n2025-03-06,X001,1,2,晴,{'长' * 4001}\n",
        encoding="utf-8",
    )
    with session_scope() as s:
        n = s.execute(select(func.count()).select_from(Patrol)).scalar_one()
        res = records.import_ledger(s, get_user(s, "leader"), path)
        assert not res.ok
        assert {(e.column, e.key, e.row) for e in res.errors} == {
            ("天气", "error.too_long", 2),
            ("备注", "error.too_long", 3),
        }
        assert "4001" in res.errors[1].render("zh") and "4000" in res.errors[1].render("en")
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(Patrol)).scalar_one() == n
    with session_scope() as s, pytest.raises(ValidationFailed) as exc:
        field.log_incident(
            s,
            get_user(s, "officer"),
            {
                "found_at": dt.datetime(2026, 3, 2),
                "type": "stall",
                "road": "X001",
                "stake": "K1+000",
                "party": "名" * 129,
            },
        )
    assert ("party", "error.too_long") in [(e.column, e.key) for e in exc.value.errors]
    with session_scope() as s:
        assert (
            s.execute(select(func.count()).select_from(Incident).where(Incident.source == "app")).scalar_one()
            == 0
        )


def test_a_huge_count_is_refused_not_a_crash(store, tmp_path):
    """Found by the fuzzer: 1e19 vehicles overflowed SQLite's INTEGER and crashed the import."""
    path = tmp_path / "huge.csv"
    path.write_text("日期,巡查路线,出动车辆,出动人员\n2025-03-05,X001,1e19,2\n", encoding="utf-8")
    with session_scope() as s:
        res = records.import_ledger(s, get_user(s, "leader"), path)
    assert [(e.column, e.key) for e in res.errors] == [("出动车辆", "error.count_too_large")]
