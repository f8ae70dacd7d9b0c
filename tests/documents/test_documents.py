"""Documents generated from the records, read back with python-docx: layout and fonts (FACTS §7), the fields
filled from the store, notice numbering per county and year (never reused), permission and audit."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from docx import Document
from docx.oxml.ns import qn
from PIL import Image
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.documents import issue_inspection, issue_notice, issue_patrol_record, to_pdf
from patrol_app.i18n import t
from patrol_app.photos import store_photo
from patrol_app.services import field
from patrol_app.services.audit import verify
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.records import local_now
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, DocumentNumber, Personnel


def ids(s, *names):
    return [s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in names]


def jpeg(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def records(store):
    """A patrol by 李明 and 王芳 on X002 with one incident (materials, on road land, with party, effects and a
    photo) and one incident of type other; returns their ids."""
    net = store.network()
    lon, lat = offset_point(net, "X002", 1200, 6, "left")
    photo = store_photo(jpeg(), "现场.jpg")
    with session_scope() as s:
        officer = get_user(s, "officer")
        p = field.start_patrol(
            s,
            officer,
            field.PatrolStart(
                date=local_now().date(),
                start_time="08:30",
                roads=["X002"],
                crew_ids=ids(s, "李明", "王芳", "吴刚"),
                vehicle_ids=[1],
                weather="晴",
            ),
        )
        inc = field.log_incident(
            s,
            officer,
            {
                "found_at": local_now().replace(second=0, microsecond=0),
                "type": "materials",
                "lon": lon,
                "lat": lat,
                "description": "路肩堆放砂石约5立方米",
                "party": "王某某",
                "party_phone": "13812345678",
                "effects": ["obstruction"],
                "patrol_id": p.id,
                "location_method": "map",
            },
            [photo],
        )
        other = field.log_incident(
            s,
            officer,
            {
                "found_at": local_now().replace(second=0, microsecond=0),
                "type": "other",
                "lon": lon,
                "lat": lat,
                "description": "毁坏行道树",
                "party": "李某",
                "basis_note": "《中华人民共和国森林法》",
                "patrol_id": p.id,
            },
        )
        field.end_patrol(s, officer, p.id, "11:30", km=42.0)
        return {"patrol": p.id, "incident": inc.id, "other": other.id, "photo": photo.sha256}


def texts(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


def east_asia_fonts(doc) -> set[str]:
    return {
        el.get(qn("w:eastAsia")) for el in doc.element.body.iter(qn("w:rFonts")) if el.get(qn("w:eastAsia"))
    }


def check_layout(doc, title: str, headings: bool = True) -> None:
    sec = doc.sections[0]
    mm = lambda v: round(v.mm)  # noqa: E731 - stored in twips
    assert (mm(sec.page_width), mm(sec.page_height)) == (210, 297)  # A4 portrait
    assert tuple(map(mm, (sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin))) == (
        37,
        35,
        28,
        26,
    )
    title_p = next(p for p in doc.paragraphs if p.text == title)
    rf = title_p.runs[0]._element.rPr.rFonts
    assert rf.get(qn("w:eastAsia")) == "方正小标宋简体" and title_p.runs[0].font.size.pt == 22
    fonts = east_asia_fonts(doc)
    assert (
        {"仿宋", "黑体"} <= fonts if headings else "仿宋" in fonts
    )  # East Asian fonts set, no Latin fallback
    assert doc.paragraphs[-1].alignment == 2  # the date, right-aligned, last
    assert doc.paragraphs[-2].text == "曲靖市麒麟区交通运输局"


def test_patrol_record_holds_what_the_record_holds(store, records):
    with session_scope() as s:
        d = issue_patrol_record(s, get_user(s, "officer"), records["patrol"])
    doc = Document(io.BytesIO(d.data))
    check_layout(doc, "路政巡查记录")
    body = texts(doc)
    for words in (
        "晴",
        "08:30—11:30",
        "X002",
        "K0+000—",
        "李明（执法证号 53030201002）",
        "吴刚（协勤）",
        "42.0",
        "堆放物品",
        "K1+200 左侧",
        "距中线 6.0 米",
        "在公路用地内",
        "王某某",
        "巡查人员（签名）",
        "一、巡查中发现的问题",
        "（一）堆放物品",
        "（二）其他",
    ):
        assert words in body, words
    assert "gps" not in body and "map" not in body and "road_land" not in body  # no internal codes
    assert len(doc.inline_shapes) == 1  # the photo's thumbnail
    assert any(
        el.get(qn("w:eastAsia")) == "楷体" for el in doc.element.body.iter(qn("w:rFonts"))
    )  # （一） in 楷体
    assert d.sha256 == hashlib.sha256(d.data).hexdigest()


def test_inspection_record_officers_party_photos_with_sha256(store, records):
    with session_scope() as s:
        d = issue_inspection(s, get_user(s, "officer"), records["incident"])
    doc = Document(io.BytesIO(d.data))
    check_layout(doc, "现场检查（勘验）笔录")
    body = texts(doc)
    for words in (
        "李明（执法证号 53030201002）",
        "王芳（执法证号 53030201003）",
        "王某某",
        "13812345678",
        "经度 ",
        "（WGS-84）",
        "K1+200 左侧",
        "在公路用地内",
        "第四十六条",
        "影响公路畅通",
        records["photo"],
        "当事人（签名）",
        "执法人员（签名）",
        "第五十五条",
    ):
        assert words in body, words
    assert (
        "吴刚" not in body.split("执法人员及执法证号")[1].split("\n")[1]
    )  # 协勤 are not enforcement officers
    assert len(doc.inline_shapes) == 1


def test_notice_numbered_per_county_and_year_never_reused(store, records):
    today = local_now().date()
    due = today + dt.timedelta(days=10)
    with session_scope() as s:
        officer = get_user(s, "officer")
        first = issue_notice(s, officer, records["incident"], "rectify", due)
        second = issue_notice(s, officer, records["incident"], "rectify", due)
        stop = issue_notice(s, officer, records["incident"], "stop")
    y = today.year
    assert (first.number, second.number) == (f"麒路责改〔{y}〕第1号", f"麒路责改〔{y}〕第2号")
    assert stop.number == f"麒路责停〔{y}〕第1号"  # each kind has its own sequence
    doc = Document(io.BytesIO(first.data))
    check_layout(doc, "责令限期改正通知书", headings=False)
    body = texts(doc)
    for words in (
        first.number,
        "王某某：",
        "《中华人民共和国公路法》第四十六条",
        "依据《中华人民共和国公路法》第七十七条",
        "造成公路路面损坏、污染或者影响公路畅通",
        f"{due.year}年{due.month}月{due.day}日前改正",
        "当事人签收",
        "（印章）",
        "李明（执法证号 53030201002）",
    ):
        assert words in body, words
    assert "立即停止" in texts(Document(io.BytesIO(stop.data)))
    with read_session() as s:
        rows = s.execute(select(DocumentNumber).order_by(DocumentNumber.id)).scalars().all()
        assert [r.number for r in rows] == [first.number, second.number, stop.number]
        assert rows[0].sha256 == first.sha256 and rows[0].county_code == "530302" and rows[0].year == y
        audits = s.execute(select(AuditEntry).where(AuditEntry.action == "document.issue")).scalars().all()
        assert [(a.after["number"], a.after["sha256"]) for a in audits] == [
            (first.number, first.sha256),
            (second.number, second.sha256),
            (stop.number, stop.sha256),
        ]
        assert verify(s).ok
    # the database itself refuses a number given twice
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with session_scope() as s:
            s.add(
                DocumentNumber(
                    kind="rectify",
                    county_code="530302",
                    year=y,
                    seq=1,
                    number="x",
                    entity="incident",
                    entity_id=1,
                    sha256="",
                    issued_by=1,
                    issued_at=dt.datetime(2026, 1, 1),
                )
            )


@pytest.mark.parametrize(
    "case, key",
    [
        ("no_party", "doc.party_required"),
        ("other", "doc.no_penalty_article"),
        ("no_effect", "doc.condition_required"),
        ("no_deadline", "doc.deadline_required"),
        ("past", "doc.deadline_past"),
        ("kind", "doc.bad_kind"),
    ],
)
def test_notice_refusals_write_nothing(store, records, case, key):
    from patrol_app.storage.models import Incident

    with session_scope() as s:
        inc = s.get(Incident, records["incident"])
        if case == "no_party":
            inc.party = ""
        if case == "no_effect":
            inc.effects = ""
    kw = {"kind": "rectify", "deadline": local_now().date() + dt.timedelta(days=5)}
    target = records["other"] if case == "other" else records["incident"]
    if case == "no_deadline":
        kw["deadline"] = None
    if case == "past":
        kw["deadline"] = local_now().date() - dt.timedelta(days=1)
    if case == "kind":
        kw["kind"] = "fine"
    with read_session() as s:
        n_audit = s.scalar(select(func.count(AuditEntry.id)))
    with pytest.raises(ServiceError) as e:
        with session_scope() as s:
            issue_notice(s, get_user(s, "officer"), target, **kw)
    assert e.value.key == key
    with read_session() as s:
        assert s.scalar(select(func.count(DocumentNumber.id))) == 0
        assert s.scalar(select(func.count(AuditEntry.id))) == n_audit


def test_documents_are_permission_checked(store, records):
    with session_scope() as s:
        for username in ("manager", "admin"):
            with pytest.raises(PermissionDenied):
                issue_inspection(s, get_user(s, username), records["incident"])
            with pytest.raises(PermissionDenied):
                issue_notice(s, get_user(s, username), records["incident"], "stop")
        with pytest.raises(PermissionDenied):
            issue_patrol_record(s, get_user(s, "reviewer"), records["patrol"])


def test_pdf_without_libreoffice_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine where LibreOffice is not installed
    with pytest.raises(ServiceError) as e:
        to_pdf(b"")
    assert e.value.key == "doc.no_soffice" and "LibreOffice" in t("doc.no_soffice")
