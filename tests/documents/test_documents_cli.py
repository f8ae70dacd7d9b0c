"""``patrol doc``: the three documents from the command line, exit codes, messages from the catalogs."""

from __future__ import annotations

import datetime as dt
import shutil

from docx import Document

from patrol_app.i18n import t
from patrol_app.services.records import local_now
from tests.documents.test_documents import records, texts  # noqa: F401 - the fixture


def test_doc_verbs_write_documents_and_refuse_cleanly(store, records, run_patrol, tmp_path):  # noqa: F811
    env = store.env
    y = local_now().year
    due = (local_now().date() + dt.timedelta(days=7)).isoformat()

    p = run_patrol(
        [
            "doc",
            "patrol-record",
            str(records["patrol"]),
            "--out",
            str(tmp_path / "r.docx"),
            "--user",
            "officer",
        ],
        env,
    )
    assert p.returncode == 0, p.stderr
    assert "路政巡查记录" in p.stdout and "SHA-256" in p.stdout
    assert "42.0" in texts(Document(tmp_path / "r.docx"))

    p = run_patrol(
        [
            "doc",
            "inspection",
            str(records["incident"]),
            "--out",
            str(tmp_path / "i.docx"),
            "--user",
            "officer",
        ],
        env,
    )
    assert p.returncode == 0, p.stderr and "现场检查（勘验）笔录" in p.stdout

    p = run_patrol(
        [
            "doc",
            "notice",
            str(records["incident"]),
            "--deadline",
            due,
            "--out",
            str(tmp_path / "n.docx"),
            "--user",
            "officer",
        ],
        env,
    )
    assert p.returncode == 0, p.stderr
    assert f"麒路责改〔{y}〕第1号" in p.stdout and f"麒路责改〔{y}〕第1号" in texts(
        Document(tmp_path / "n.docx")
    )
    p = run_patrol(
        [
            "doc",
            "notice",
            str(records["incident"]),
            "--kind",
            "stop",
            "--out",
            str(tmp_path / "s.docx"),
            "--user",
            "officer",
            "--lang",
            "en",
        ],
        env,
    )
    assert p.returncode == 0, p.stderr and f"麒路责停〔{y}〕第1号" in p.stdout and "Written" in p.stdout

    # refused: no deadline, a party missing, no permission, a bad date, a bad file type — nothing written
    p = run_patrol(
        ["doc", "notice", str(records["incident"]), "--out", str(tmp_path / "x.docx"), "--user", "officer"],
        env,
    )
    assert p.returncode == 1 and p.stderr.strip() == t("doc.deadline_required", id=records["incident"])
    assert not (tmp_path / "x.docx").exists()
    p = run_patrol(
        [
            "doc",
            "inspection",
            str(records["incident"]),
            "--out",
            str(tmp_path / "x.docx"),
            "--user",
            "manager",
        ],
        env,
    )
    assert p.returncode == 1 and not (tmp_path / "x.docx").exists()
    p = run_patrol(
        [
            "doc",
            "notice",
            str(records["incident"]),
            "--deadline",
            "明天",
            "--out",
            str(tmp_path / "x.docx"),
            "--user",
            "officer",
        ],
        env,
    )
    assert p.returncode == 2 and "明天" in p.stderr
    p = run_patrol(["doc", "inspection", str(records["incident"]), "--out", str(tmp_path / "x.txt")], env)
    assert p.returncode == 2
    if shutil.which("soffice") is None:
        p = run_patrol(
            [
                "doc",
                "inspection",
                str(records["incident"]),
                "--out",
                str(tmp_path / "x.pdf"),
                "--user",
                "officer",
            ],
            env,
        )
        assert p.returncode == 1 and "LibreOffice" in p.stderr and not (tmp_path / "x.pdf").exists()
    # the next rectify number follows, the refused attempts drew none
    p = run_patrol(
        [
            "doc",
            "notice",
            str(records["incident"]),
            "--deadline",
            due,
            "--out",
            str(tmp_path / "n2.docx"),
            "--user",
            "officer",
        ],
        env,
    )
    assert f"麒路责改〔{y}〕第2号" in p.stdout
