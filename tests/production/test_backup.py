"""`patrol backup` / `patrol restore`: database and photos in one archive with SHA-256s; a restored store passes
`patrol audit verify`; a store with data is never overwritten without --force; a damaged archive touches nothing."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid

import pytest

from patrol_app.i18n import t
from patrol_app.photos import file_sha256, store_photo
from tests.services.test_photos import add_photo_rows, jpeg_bytes


def _env(base: dict[str, str], data_dir) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**base, "PATROL_DATA_DIR": str(data_dir)}


@pytest.fixture
def store_with_photos(store):  # type: ignore[no-untyped-def]
    photos = [store_photo(jpeg_bytes((64 + i, 48)), f"p{i}.jpg", store.data_dir) for i in range(2)]
    add_photo_rows(store, photos)
    return store, photos


def test_backup_then_restore_into_an_empty_store(store_with_photos, run_patrol, tmp_path):
    store, photos = store_with_photos
    archive = tmp_path / "backups" / "patrol-2025-03-08.tar.gz"

    p = run_patrol(["backup", "--out", archive], store.env)
    assert p.returncode == 0, p.stderr
    assert archive.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = set(tar.getnames())
    assert manifest["engine"] == "sqlite" and manifest["schema"]
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) | {"manifest.json"} == names
    for sp in photos:
        assert listed[sp.path] == sp.sha256  # originals under their content address
        assert sp.display_path in listed

    new = tmp_path / "new-server"
    p = run_patrol(["restore", archive], _env(store.env, new))
    assert p.returncode == 0, p.stderr

    from tests.conftest import Store

    restored = Store(new, f"sqlite:///{new / 'patrol.db'}", _env(store.env, new))
    before = store.counts(("patrols", "incidents", "users", "photos", "road_pieces"))
    assert restored.counts(("patrols", "incidents", "users", "photos", "road_pieces")) == before
    for sp in photos:
        assert file_sha256(new / sp.path) == sp.sha256
    p = run_patrol(["audit", "verify"], restored.env)
    assert p.returncode == 0, p.stderr
    assert t("photo.verify_ok", count=2) in p.stdout


def test_restore_refuses_a_store_with_data_unless_forced(store, run_patrol, tmp_path):
    archive = tmp_path / "b.tar.gz"
    assert run_patrol(["backup", "--out", archive], store.env).returncode == 0
    p = run_patrol(
        ["users", "add", "zhaoliu", "--role", "officer", "--password-stdin"],
        store.env,
        input="bureau-secret-42\n",
    )
    assert p.returncode == 0
    before = store.counts(("users", "patrols", "audit_log"))

    p = run_patrol(["restore", archive], store.env)

    assert p.returncode == 1
    assert p.stderr.startswith(t("backup.refused_non_empty", what="\0").split("\0")[0])
    assert store.counts(("users", "patrols", "audit_log")) == before

    p = run_patrol(["restore", archive, "--force"], store.env)
    assert p.returncode == 0, p.stderr
    assert store.counts(("users",))["users"] == before["users"] - 1  # back to before zhaoliu was added
    assert run_patrol(["audit", "verify"], store.env).returncode == 0


def _rewrite(archive, out, change):  # type: ignore[no-untyped-def]
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            data = change(m.name, data)
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))


def test_a_damaged_archive_is_refused_and_touches_nothing(store_with_photos, run_patrol, tmp_path):
    store, photos = store_with_photos
    archive = tmp_path / "b.tar.gz"
    assert run_patrol(["backup", "--out", archive], store.env).returncode == 0
    damaged = tmp_path / "damaged.tar.gz"
    target = photos[1].path

    def flip(name: str, data: bytes) -> bytes:
        return data[:100] + bytes([data[100] ^ 1]) + data[101:] if name == target else data

    _rewrite(archive, damaged, flip)
    new = tmp_path / "new"

    p = run_patrol(["restore", damaged], _env(store.env, new))

    assert p.returncode == 1
    assert p.stderr.strip() == t("backup.checksum", path=str(damaged), member=target)
    assert not (new / "photos").exists()
    import sqlite3

    con = sqlite3.connect(new / "patrol.db")
    assert con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0  # nothing restored
    con.close()


def test_not_a_backup(store, run_patrol, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")

    p = run_patrol(["restore", junk], store.env)

    assert p.returncode == 1
    assert p.stderr.strip() == t("backup.not_a_backup", path=str(junk), reason="ReadError")


@pytest.mark.postgres
def test_postgres_backup_and_restore(run_patrol, tmp_path):
    import datetime as dt

    from sqlalchemy import create_engine, text

    from tests.conftest import postgres_demo_store

    with postgres_demo_store("backup", dt.date(2025, 3, 8)) as url:
        data = tmp_path / "data"
        photos = [store_photo(jpeg_bytes((70, 50)), "p.jpg", data)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
        # the audit key travels apart from the backup (as the README says): the restored store is checked with it
        env.update(
            PATROL_DATA_DIR=str(data),
            PATROL_DB_URL=url,
            PYTHONIOENCODING="utf-8",
            PATROL_AUDIT_KEY=os.environ["PATROL_AUDIT_KEY"],
        )
        archive = tmp_path / "pg.tar.gz"

        p = run_patrol(["backup", "--out", archive], env)
        assert p.returncode == 0, p.stderr

        admin_url = os.environ["PATROL_TEST_PG_URL"]
        name = f"restored_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        new_url = admin_url.rsplit("/", 1)[0] + "/" + name
        new_env = {**env, "PATROL_DB_URL": new_url, "PATROL_DATA_DIR": str(tmp_path / "new")}
        try:
            p = run_patrol(["restore", archive], new_env)
            assert p.returncode == 0, p.stderr
            counts = {}
            for u in (url, new_url):
                e = create_engine(u)
                with e.connect() as c:
                    counts[u] = [
                        c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                        for t in ("patrols", "incidents", "users", "road_pieces")
                    ]
                e.dispose()
            assert counts[url] == counts[new_url]
            assert file_sha256(tmp_path / "new" / photos[0].path) == photos[0].sha256
            p = run_patrol(["audit", "verify"], new_env)
            assert p.returncode == 0, p.stderr
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
