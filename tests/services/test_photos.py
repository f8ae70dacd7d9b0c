"""The evidence store for photos: originals kept byte for byte, display copies, EXIF time, verification."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from patrol_app.i18n import t
from patrol_app.photos import (
    MAX_BYTES,
    StoredPhoto,
    display_path,
    photo_file,
    store_photo,
    thumb_path,
    thumbnail_file,
)
from patrol_app.services.errors import ServiceError
from patrol_app.services.photo_verify import verify_photos
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident, Photo

RED, BLUE = (220, 20, 20), (20, 20, 220)


def jpeg_bytes(size=(640, 480), *, orientation=None, original=None, datetime=None, quality=90) -> bytes:
    """Left half red, right half blue; EXIF Orientation / DateTimeOriginal / DateTime when given."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if datetime is not None:
        exif[0x0132] = datetime
    if original is not None:
        exif.get_ifd(0x8769)[0x9003] = original
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def png_bytes(size, mode="RGB", color=(90, 140, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def heic_bytes(size=(400, 300)) -> bytes:
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", size, (30, 120, 30))).save(buf, quality=70)
    return buf.getvalue()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def assert_stored(sp: StoredPhoto, root: Path, data: bytes) -> None:
    orig = root / sp.path
    assert orig.read_bytes() == data
    assert sp.sha256 == hashlib.sha256(data).hexdigest() == hashlib.sha256(orig.read_bytes()).hexdigest()
    assert sp.size == len(data)
    assert sp.path.startswith(f"photos/originals/{sp.sha256[:2]}/{sp.sha256}.")
    assert sp.display_path == display_path(sp.sha256) == f"photos/display/{sp.sha256[:2]}/{sp.sha256}.jpg"
    assert thumb_path(sp.sha256) == f"photos/thumbs/{sp.sha256[:2]}/{sp.sha256}.jpg" == sp.thumb_path
    with Image.open(root / sp.display_path) as disp:
        assert disp.format == "JPEG" and max(disp.size) <= 1600
    with Image.open(root / sp.thumb_path) as th:
        assert th.format == "JPEG" and max(th.size) <= 320
    assert not [p for p in files_under(root) if p.name.startswith(".")], "temporary files left behind"


# --- storing ---------------------------------------------------------------------------------------------


def test_jpeg_exif_time_and_orientation(tmp_path):
    data = jpeg_bytes(
        (640, 480), orientation=6, original="2025:03:08 09:15:30", datetime="2025:03:09 18:00:00"
    )

    sp = store_photo(data, "IMG_0001.JPG", tmp_path)

    assert_stored(sp, tmp_path, data)
    assert sp.path.endswith(".jpg") and sp.content_type == "image/jpeg" and sp.filename == "IMG_0001.JPG"
    assert sp.taken_at == dt.datetime(2025, 3, 8, 9, 15, 30)  # DateTimeOriginal wins over DateTime
    assert (sp.width, sp.height) == (480, 640)  # as seen upright
    with Image.open(tmp_path / sp.display_path) as disp:
        assert disp.size == (480, 640)
        assert disp.getexif().get(0x0112) is None  # rotation applied, not left to the viewer
        rgb = disp.convert("RGB")
        top, bottom = rgb.getpixel((240, 20)), rgb.getpixel((240, 620))
    # Orientation 6: turn 90° clockwise to view, so the red left half ends up on top.
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"datetime": "2024:11:02 07:05:00"}, dt.datetime(2024, 11, 2, 7, 5)),  # no DateTimeOriginal
        (
            {"original": "0000:00:00 00:00:00", "datetime": "2024:11:02 07:05:00"},
            dt.datetime(2024, 11, 2, 7, 5),
        ),
        ({}, None),
        ({"original": "not a date"}, None),
    ],
)
def test_taken_at_falls_back_to_datetime_or_none(tmp_path, kwargs, expected):
    assert store_photo(jpeg_bytes((64, 48), **kwargs), "a.jpg", tmp_path).taken_at == expected


def test_big_png_gets_a_small_display_copy_and_the_original_stays_identical(tmp_path):
    data = png_bytes((4000, 3000))

    sp = store_photo(data, "截图.png", tmp_path)

    assert_stored(sp, tmp_path, data)
    assert sp.path.endswith(".png") and sp.content_type == "image/png"
    assert (sp.width, sp.height) == (4000, 3000) and sp.taken_at is None
    with Image.open(tmp_path / sp.display_path) as disp:
        assert disp.size == (1600, 1200)
    with Image.open(tmp_path / sp.thumb_path) as th:
        assert th.size == (320, 240)


def test_transparent_png_is_flattened_onto_white(tmp_path):
    sp = store_photo(png_bytes((50, 40), "RGBA", (0, 0, 0, 0)), "clear.png", tmp_path)
    with Image.open(tmp_path / sp.display_path) as disp:
        assert disp.mode == "RGB" and min(disp.getpixel((25, 20))) > 245


def test_heic_is_accepted(tmp_path):
    data = heic_bytes((400, 300))

    sp = store_photo(data, "IMG_4711.HEIC", tmp_path)

    assert_stored(sp, tmp_path, data)
    assert sp.path.endswith(".heic") and sp.content_type == "image/heic"
    assert (sp.width, sp.height) == (400, 300)
    with Image.open(tmp_path / sp.display_path) as disp:
        assert disp.size == (400, 300)


def test_type_is_decided_by_content_not_by_name(tmp_path):
    sp = store_photo(jpeg_bytes((64, 48)), "photo.png", tmp_path)
    assert sp.path.endswith(".jpg") and sp.content_type == "image/jpeg" and sp.filename == "photo.png"


@pytest.mark.parametrize(
    "data",
    [
        "巡查记录：X001 K3+250 右侧堆放物品\n".encode(),  # a text file renamed .jpg
        b"",
        b"GIF89a" + b"\0" * 64,
        b"%PDF-1.7\n" + b"\0" * 64,
    ],
    ids=["text", "empty", "gif", "pdf"],
)
def test_anything_else_is_refused_and_nothing_written(tmp_path, data):
    with pytest.raises(ServiceError) as exc:
        store_photo(data, "现场.jpg", tmp_path)
    assert exc.value.key == "photo.unsupported" and exc.value.params == {"file": "现场.jpg"}
    assert files_under(tmp_path) == []


def test_corrupt_image_is_unreadable_and_nothing_written(tmp_path):
    data = jpeg_bytes((640, 480))
    for broken in (data[: len(data) // 2], data[:200], png_bytes((300, 200))[:120]):
        with pytest.raises(ServiceError) as exc:
            store_photo(broken, "broken.jpg", tmp_path)
        assert exc.value.key == "photo.unreadable" and exc.value.params == {"file": "broken.jpg"}
    assert files_under(tmp_path) == []


def test_over_30_mb_is_refused(tmp_path):
    data = jpeg_bytes((64, 48))
    with pytest.raises(ServiceError) as exc:
        store_photo(data + b"\0" * (MAX_BYTES + 1 - len(data)), "huge.jpg", tmp_path)
    assert exc.value.key == "photo.too_large" and exc.value.params == {"file": "huge.jpg", "mb": 30}
    assert files_under(tmp_path) == []
    assert t("photo.too_large", file="huge.jpg", mb=30) and t("photo.too_large", "en", file="huge.jpg", mb=30)


def test_same_bytes_twice_is_a_no_op(tmp_path):
    data = jpeg_bytes((640, 480), original="2025:03:08 09:15:30")
    first = store_photo(data, "a.jpg", tmp_path)
    stats = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files_under(tmp_path)}

    again = store_photo(data, r"C:\DCIM\a.jpg", tmp_path)

    assert again == first  # same paths and metadata; the directory part of a browser's file name is dropped
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files_under(tmp_path)} == stats
    assert len(stats) == 3


def test_a_lost_display_copy_is_made_again(tmp_path):
    data = jpeg_bytes((640, 480))
    sp = store_photo(data, "a.jpg", tmp_path)
    (tmp_path / sp.display_path).unlink()
    assert store_photo(data, "a.jpg", tmp_path) == sp
    assert (tmp_path / sp.display_path).is_file() and (tmp_path / sp.path).read_bytes() == data


def test_default_data_dir_is_patrol_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    sp = store_photo(jpeg_bytes((64, 48)), "a.jpg")
    assert (tmp_path / sp.path).is_file()


# --- verifying -------------------------------------------------------------------------------------------


def admin(s):
    return cli_actor(s)


def add_photo_rows(store, photos: list[StoredPhoto]) -> list[int]:
    with session_scope(store.url) as s:
        actor = cli_actor(s)
        incident_id = s.scalar(select(Incident.id).order_by(Incident.id).limit(1))
        rows = [
            Photo(
                incident_id=incident_id,
                sha256=sp.sha256,
                path=sp.path,
                display_path=sp.display_path,
                filename=sp.filename,
                content_type=sp.content_type,
                size=sp.size,
                width=sp.width,
                height=sp.height,
                taken_at=sp.taken_at,
                created_by=actor.id,
                created_at=dt.datetime(2025, 3, 8, 1, 0),
            )
            for sp in photos
        ]
        s.add_all(rows)
        s.flush()
        from patrol_app.services import audit

        audit.record_rows(
            s, actor, "incident.follow_up", "incident", [incident_id]
        )  # as the app records them
        return [r.id for r in rows]


def flip_a_byte(path: Path, at: int = 100) -> None:
    os.chmod(path, 0o644)  # originals are stored read-only
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def test_verify_photos_finds_altered_and_missing_originals(store):
    photos = [store_photo(jpeg_bytes((64 + i, 48)), f"p{i}.jpg", store.data_dir) for i in range(3)]
    ids = add_photo_rows(store, photos)
    with read_session(store.url) as s:
        assert verify_photos(s, admin(s), store.data_dir) == []
        assert verify_photos(s, admin(s)) == []  # PATROL_DATA_DIR by default

    flip_a_byte(store.data_dir / photos[0].path)
    (store.data_dir / photos[2].path).unlink()

    with read_session(store.url) as s:
        problems = verify_photos(s, admin(s), store.data_dir)
    assert [(p.id, p.kind, p.path, p.expected) for p in problems] == [
        (ids[0], "altered", photos[0].path, photos[0].sha256),
        (ids[2], "missing", photos[2].path, photos[2].sha256),
    ]
    assert problems[0].actual == hashlib.sha256((store.data_dir / photos[0].path).read_bytes()).hexdigest()
    assert problems[0].actual != photos[0].sha256 and problems[1].actual is None


def test_audit_verify_checks_photos(store, run_patrol):
    photos = [store_photo(jpeg_bytes((64 + i, 48)), f"p{i}.jpg", store.data_dir) for i in range(2)]
    ids = add_photo_rows(store, photos)
    entries = store.counts(["audit_log"])["audit_log"]

    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines() == [
        t("cli.audit_ok", entries=entries),
        t("photo.verify_ok", count=2),
    ]

    flip_a_byte(store.data_dir / photos[1].path)
    actual = hashlib.sha256((store.data_dir / photos[1].path).read_bytes()).hexdigest()

    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 1
    assert p.stderr.strip() == t(
        "photo.verify_altered", id=ids[1], path=photos[1].path, expected=photos[1].sha256, actual=actual
    )

    p = run_patrol(["audit", "verify", "--lang", "en", "--json"], store.env)
    assert p.returncode == 1
    res = json.loads(p.stdout)
    assert (res["ok"], res["chain_ok"], res["entries"], res["photos_checked"]) == (False, True, entries, 2)
    assert res["photos"] == [
        {
            "id": ids[1],
            "incident_id": res["photos"][0]["incident_id"],
            "path": photos[1].path,
            "kind": "altered",
            "expected": photos[1].sha256,
            "actual": actual,
        }
    ]
    assert p.stderr.strip() == t(
        "photo.verify_altered", "en", id=ids[1], path=photos[1].path, expected=photos[1].sha256, actual=actual
    )


def test_the_file_store_needs_no_database():
    """The photo store is files only: importing it loads neither SQLAlchemy nor the models."""
    import subprocess
    import sys

    code = "import sys, patrol_app.photos; print(any(m.startswith(('sqlalchemy', 'patrol_app.storage.models')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_photo_file_and_thumbnail_under_the_data_dir(tmp_path):
    sp = store_photo(jpeg_bytes(), "a.jpg", tmp_path)
    assert photo_file(sp.path, tmp_path).read_bytes() == jpeg_bytes()
    assert thumbnail_file(sp.sha256, sp.display_path, tmp_path) == tmp_path / sp.thumb_path
    photo_file(sp.thumb_path, tmp_path).unlink()  # a store from before thumbnails: the display copy
    assert thumbnail_file(sp.sha256, sp.display_path, tmp_path) == tmp_path / sp.display_path
    for bad in ("", "/etc/passwd", "photos/../../secret", "photos\\x"):
        with pytest.raises(ValueError):
            photo_file(bad, tmp_path)
