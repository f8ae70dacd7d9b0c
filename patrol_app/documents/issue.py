"""Issue documents from the records: check permission, fill from the store, number notices, audit.

Every ``issue_*`` function takes the session and the acting user, writes the audit entry (``document.issue``: kind,
number, SHA-256 of the .docx, file name) in the caller's transaction and returns the document's bytes. Notices get
a number from ``document_numbers``: per kind, county and year, one more than the highest drawn; the table's
unique constraints make a number impossible to give twice, and numbers are never deleted, so never reused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patrol_app.clock import local_now, utc_now
from patrol_app.config import get_settings
from patrol_app.documents.layout import Doc
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.rules import Perm
from patrol_app.i18n import t, zone_label, zone_text
from patrol_app.photos import thumbnail_file
from patrol_app.services import audit
from patrol_app.services.errors import ServiceError
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import require
from patrol_app.storage.models import (
    DocumentNumber,
    Incident,
    Patrol,
    PatrolCrew,
    PatrolVehicle,
    Personnel,
    Photo,
    User,
    Vehicle,
)

#: notice kinds: 责令停止违法行为通知书 (stop), 责令限期改正通知书 (rectify)
NOTICE_KINDS = ("rectify", "stop")
_NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuedDocument:
    kind: str  # patrol_record | inspection | notice_stop | notice_rectify
    title: str
    data: bytes
    sha256: str
    filename: str
    number: str = ""


# --- helpers ----------------------------------------------------------------------------------------------


def _date(d: dt.date, lang: str) -> str:
    return t("report.date", lang, year=d.year, month=d.month, day=d.day)


def _datetime(ts: dt.datetime, lang: str) -> str:
    return _date(ts.date(), lang) + f" {ts:%H:%M}"


def _side(side: str | None, lang: str) -> str:
    return t("side." + side, lang) if side in ("left", "right") else ""


def _finish(
    session: Session,
    actor: User,
    kind: str,
    title: str,
    doc: Doc,
    entity: str,
    entity_id: int,
    filename: str,
    number: str = "",
    extra: dict[str, Any] | None = None,
) -> IssuedDocument:
    data = doc.bytes()
    sha = hashlib.sha256(data).hexdigest()
    audit.record(
        session,
        actor,
        "document.issue",
        entity,
        entity_id,
        after={"kind": kind, "number": number, "sha256": sha, "filename": filename, **(extra or {})},
    )
    return IssuedDocument(kind, title, data, sha, filename, number)


def _officers(session: Session, patrol_id: int | None) -> list[tuple[str, str]]:
    """(name, certificate number as recorded on the day) of a patrol's crew entered in the app; 协勤 last."""
    if patrol_id is None:
        return []
    rows = session.execute(
        select(Personnel.name, PatrolCrew.cert_no, Personnel.auxiliary)
        .join(Personnel, Personnel.id == PatrolCrew.personnel_id)
        .where(PatrolCrew.patrol_id == patrol_id)
        .order_by(Personnel.auxiliary, Personnel.id)
    ).all()
    return [(name, cert or "") for name, cert, _aux in rows]


def _crew_text(session: Session, p: Patrol, lang: str) -> str:
    crew = _officers(session, p.id)
    if crew:
        return "、".join(
            t("doc.officer", lang, name=n, cert=c) if c else t("doc.officer_aux", lang, name=n)
            for n, c in crew
        )
    return t("doc.crew_as_written", lang, crew=p.crew or "—")  # a ledger patrol: names as written


def _incident_zone_text(session: Session, inc: Incident, lang: str) -> str:
    """The stored verdict, with the deciding road, the minimum, the published-line caveat and the half-width used."""
    if inc.zone == "unknown" or inc.offset_m is None:
        return t("zone.unknown", lang)
    from gis.errors import GisError
    from gis.linref import locate

    net = store_network(session, inc.adcode)
    try:
        pos = locate(net, inc.lon, inc.lat, max(get_settings().max_distance_m, (inc.offset_m or 0) + 1.0))
    except GisError:
        return zone_label(inc.zone, "", lang)
    return zone_text(dataclasses.replace(pos, zone=inc.zone), lang)


def _place(session: Session, inc: Incident, lang: str) -> str:
    net = store_network(session, inc.adcode)
    name = net.routes[inc.road_code].name if inc.road_code in net.routes else ""
    where = f"{inc.road_code} {name} {inc.stake} {_side(inc.side, lang)}".strip()
    extra = []
    if inc.offset_m is not None:
        extra.append(t("doc.offset", lang, m=f"{inc.offset_m:.1f}"))
    if inc.town:
        extra.append(inc.town)
    return where + (t("doc.place_extra", lang, extra="，".join(extra)) if extra else "")


def _photos(session: Session, incident_id: int, lang: str) -> list[tuple[Path, str]]:
    data_dir = get_settings().data_dir
    out = []
    rows = session.execute(select(Photo).where(Photo.incident_id == incident_id).order_by(Photo.id)).scalars()
    for i, ph in enumerate(rows, start=1):
        thumb = thumbnail_file(ph.sha256, ph.display_path, data_dir)
        taken = _datetime(ph.taken_at, lang) if ph.taken_at else "—"
        out.append(
            (thumb, t("doc.photo_caption", lang, n=i, file=ph.filename or "—", taken=taken, sha=ph.sha256))
        )
    return out


def _measure(inc: Incident, lang: str) -> str:
    if not inc.measure:
        return "—"
    try:
        text = t("report.measure." + inc.measure, lang)
    except KeyError:
        text = inc.measure
    if inc.deadline:
        text += t("doc.deadline_suffix", lang, date=_date(inc.deadline, lang))
    return text


def _effects(inc: Incident, lang: str) -> str:
    return "、".join(t("effect." + e, lang) for e in (inc.effects or "").split(",") if e)


def _violated(inc: Incident) -> str:
    vt = BY_CODE.get(inc.type_code)
    if vt is None:
        return ""
    return inc.basis_note if vt.needs_basis else vt.legal_basis


def _get(session: Session, model: Any, key: int, msg: str) -> Any:
    row = session.get(model, key)
    if row is None:
        raise ServiceError(msg, id=key)
    return row


# --- 巡查记录 --------------------------------------------------------------------------------------------


def issue_patrol_record(session: Session, actor: User, patrol_id: int, lang: str = "zh") -> IssuedDocument:
    """路政巡查记录 of one patrol: date, time, weather, roads with stake ranges, crew with certificate numbers,
    vehicles, mileage, each problem found (stake, side, verdict, party, measure, photo thumbnails), signatures."""
    require(actor, Perm.LOG_PATROL)
    p: Patrol = _get(session, Patrol, patrol_id, "field.no_such_patrol")
    net = store_network(session, p.adcode)
    settings = get_settings()
    roads = []
    for code in p.road_codes:
        r = net.routes.get(code)
        roads.append(
            t("doc.road_range", lang, code=code, name=r.name, start=r.start_stake, end=r.end_stake)
            if r
            else code
        )
    vehicles = [
        f"{plate} {kind}".strip()
        for plate, kind in session.execute(
            select(Vehicle.plate, Vehicle.kind)
            .join(PatrolVehicle, PatrolVehicle.vehicle_id == Vehicle.id)
            .where(PatrolVehicle.patrol_id == p.id)
            .order_by(Vehicle.id)
        )
    ]
    time_text = "—".join(x for x in (p.start_time, p.end_time) if x) or "—"
    rows = [
        (t("doc.f.date", lang), _date(p.date, lang)),
        (t("doc.f.time", lang), time_text),
        (t("doc.f.weather", lang), p.weather or "—"),
        (t("doc.f.roads", lang), "；".join(roads) or "—"),
        (t("doc.f.crew", lang), _crew_text(session, p, lang)),
        (t("doc.f.personnel", lang), t("doc.people", lang, n=p.personnel)),
        (
            t("doc.f.vehicles", lang),
            "、".join(vehicles) + t("doc.vehicle_count", lang, n=p.vehicles)
            if vehicles
            else t("doc.vehicle_count_only", lang, n=p.vehicles),
        ),
        (t("doc.f.km", lang), f"{p.km:.1f}" if p.km is not None else "—"),
        (t("doc.f.joint", lang), p.joint or "—"),
    ]
    if p.flags:
        rows.append(
            (t("doc.f.flags", lang), "；".join(t("export.flag." + f, lang) for f in p.flags.split(",") if f))
        )
    if p.notes:
        rows.append((t("doc.f.notes", lang), p.notes))
    title = t("doc.patrol.title", lang)
    doc = Doc(title)
    doc.fields(rows)
    doc.h1(t("doc.patrol.h_found", lang))
    incidents = list(
        session.execute(
            select(Incident).where(Incident.patrol_id == p.id).order_by(Incident.found_at, Incident.id)
        ).scalars()
    )
    if not incidents:
        doc.paragraph(t("doc.patrol.none_found", lang))
    for i, inc in enumerate(incidents, start=1):
        vt = BY_CODE.get(inc.type_code)
        doc.h2(t("report.h2", lang, n=_cn_number(i), text=vt.name(lang) if vt else inc.type_code))
        doc.paragraph(
            t(
                "doc.patrol.item",
                lang,
                time=f"{inc.found_at:%H:%M}",
                place=_place(session, inc, lang),
                zone=zone_label(inc.zone, "", lang) if inc.zone != "none" else _zone_none(session, inc, lang),
            )
        )
        if inc.description:
            doc.paragraph(t("doc.f.description_line", lang, text=inc.description))
        if _violated(inc):
            doc.paragraph(t("doc.f.violated_line", lang, text=_violated(inc)))
        if inc.party:
            doc.paragraph(t("doc.f.party_line", lang, party=inc.party, phone=inc.party_phone or "—"))
        doc.paragraph(t("doc.f.measure_line", lang, measure=_measure(inc, lang)))
        doc.pictures(_photos(session, inc.id, lang), width_mm=35.0)
    doc.h1(t("doc.h_signatures", lang))
    doc.signature_lines([t("doc.sign.patrol_crew", lang), t("doc.sign.leader", lang)])
    doc.closing(settings.issuer, _date(local_now().date(), lang))
    filename = t("doc.patrol.filename", lang, date=p.date.isoformat(), id=p.id)
    return _finish(session, actor, "patrol_record", title, doc, "patrol", p.id, filename)


def _zone_none(session: Session, inc: Incident, lang: str) -> str:
    net = store_network(session, inc.adcode)
    code = inc.zone_road_code or inc.road_code
    rclass = net.routes[code].road_class if code in net.routes else ""
    return zone_label("none", rclass, lang)


_CN_DIGITS = "零一二三四五六七八九"


def _cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (for （一）-style level-2 headings)."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


# --- 现场检查（勘验）笔录 ---------------------------------------------------------------------------------


def issue_inspection(session: Session, actor: User, incident_id: int, lang: str = "zh") -> IssuedDocument:
    """现场检查（勘验）笔录 of one incident: time, place (road, stake, side, distance, coordinates), officers and their
    certificate numbers (《中华人民共和国行政处罚法》第五十五条), party, what was found, photos with SHA-256."""
    require(actor, Perm.LOG_INCIDENT)
    require(actor, Perm.VIEW_PARTY)
    inc: Incident = _get(session, Incident, incident_id, "field.no_such_incident")
    settings = get_settings()
    vt = BY_CODE.get(inc.type_code)
    officers = _officers(session, inc.patrol_id)
    officer_text = "、".join(t("doc.officer", lang, name=n, cert=c) for n, c in officers if c) or t(
        "doc.officers_blank", lang
    )
    rows = [
        (t("doc.f.inspected_at", lang), _datetime(inc.found_at, lang)),
        (t("doc.f.place", lang), _place(session, inc, lang)),
        (
            t("doc.f.coordinates", lang),
            t("doc.coordinates", lang, lon=f"{inc.lon:.6f}", lat=f"{inc.lat:.6f}"),
        ),
        (t("doc.f.zone", lang), _incident_zone_text(session, inc, lang)),
        (t("doc.f.officers", lang), officer_text),
        (t("doc.f.party", lang), inc.party or "—"),
        (t("doc.f.phone", lang), inc.party_phone or "—"),
        (t("doc.f.type", lang), vt.name(lang) if vt else inc.type_code),
        (t("doc.f.violated", lang), _violated(inc) or "—"),
    ]
    if vt is not None and vt.condition:
        rows.append((t("doc.f.effects", lang), _effects(inc, lang) or t("doc.effects_none", lang)))
    rows.append((t("doc.f.measure", lang), _measure(inc, lang)))
    title = t("doc.inspection.title", lang)
    doc = Doc(title)
    doc.paragraph(t("doc.inspection.opening", lang, issuer=settings.issuer))
    doc.fields(rows)
    doc.h1(t("doc.inspection.h_found", lang))
    doc.paragraph(inc.description or (vt.name(lang) if vt else "—"))
    photos = _photos(session, inc.id, lang)
    doc.h1(t("doc.inspection.h_photos", lang, n=len(photos)))
    if photos:
        doc.pictures(photos)
    else:
        doc.paragraph(t("doc.no_photos", lang))
    doc.h1(t("doc.h_signatures", lang))
    doc.signature_lines(
        [
            t("doc.sign.party", lang),
            t("doc.sign.officer", lang),
            t("doc.sign.officer", lang),
            t("doc.sign.witness", lang),
        ]
    )
    doc.closing(settings.issuer, _date(local_now().date(), lang))
    filename = t("doc.inspection.filename", lang, id=inc.id)
    return _finish(session, actor, "inspection", title, doc, "incident", inc.id, filename)


# --- 责令停止违法行为通知书 / 责令限期改正通知书 -------------------------------------------------------------


def _draw_number(
    session: Session, actor: User, kind: str, county: str, year: int, incident_id: int
) -> DocumentNumber:
    settings = get_settings()
    last_error: Exception | None = None
    for _ in range(_NUMBER_ATTEMPTS):
        seq = (
            session.execute(
                select(func.max(DocumentNumber.seq)).where(
                    DocumentNumber.kind == kind,
                    DocumentNumber.county_code == county,
                    DocumentNumber.year == year,
                )
            ).scalar_one()
            or 0
        ) + 1
        text = t(
            "doc.number",
            "zh",
            prefix=settings.doc_prefix,
            abbr=t(f"doc.notice.abbr.{kind}", "zh"),
            year=year,
            seq=seq,
        )
        row = DocumentNumber(
            kind=kind,
            county_code=county,
            year=year,
            seq=seq,
            number=text,
            entity="incident",
            entity_id=incident_id,
            sha256="",
            issued_by=actor.id,
            issued_at=utc_now(),
        )
        try:
            with session.begin_nested():  # another writer drew the same number: draw the next one
                session.add(row)
                session.flush()
            return row
        except IntegrityError as exc:
            last_error = exc
    raise ServiceError("doc.number_failed", detail=str(last_error))


def issue_notice(
    session: Session,
    actor: User,
    incident_id: int,
    kind: str = "rectify",
    deadline: dt.date | None = None,
    lang: str = "zh",
) -> IssuedDocument:
    """责令限期改正通知书 (``rectify``, with a deadline) or 责令停止违法行为通知书 (``stop``) for an incident: the party,
    the facts from the record, the violated article and the penalty article from the catalog, numbered.

    Refused (nothing numbered, nothing written) without a party; for type ``other`` (no catalogued penalty
    article: the bureau writes that notice itself); for a type whose penalty article has a condition
    (《公路法》第七十七条) when the record does not show it; for ``rectify`` without a deadline or with one in the past.
    """
    require(actor, Perm.UPDATE_INCIDENT)
    require(actor, Perm.VIEW_PARTY)
    if kind not in NOTICE_KINDS:
        raise ServiceError("doc.bad_kind", value=kind)
    inc: Incident = _get(session, Incident, incident_id, "field.no_such_incident")
    vt = BY_CODE.get(inc.type_code)
    today = local_now().date()
    if not (inc.party or "").strip():
        raise ServiceError("doc.party_required", id=inc.id)
    if vt is None or vt.needs_basis or not vt.penalty_article:
        raise ServiceError("doc.no_penalty_article", id=inc.id)
    if vt.condition and not inc.effects:
        raise ServiceError("doc.condition_required", id=inc.id, condition=vt.condition)
    due = deadline or inc.deadline
    if kind == "rectify":
        if due is None:
            raise ServiceError("doc.deadline_required", id=inc.id)
        if due < today:
            raise ServiceError("doc.deadline_past", date=due.isoformat())
    net = store_network(session, inc.adcode)
    route = net.routes.get(inc.road_code)
    county = (route.county_code if route and route.county_code else "") or get_settings().county_code
    number = _draw_number(session, actor, kind, county, today.year, inc.id)
    settings = get_settings()
    title = t(f"doc.notice.title.{kind}", lang)
    doc = Doc(title, number=number.number, issuer_line=settings.issuer)
    doc.paragraph(t("doc.notice.to", lang, party=inc.party), indent=False)
    facts = inc.description or (vt.name(lang))
    effects = _effects(inc, lang)
    doc.paragraph(
        t(
            "doc.notice.facts",
            lang,
            date=_datetime(inc.found_at, lang),
            place=_place(session, inc, lang),
            facts=facts,
            effects=t("doc.notice.effects", lang, effects=effects) if effects else "",
            violated=vt.legal_basis.replace("；", "、"),
        )
    )
    if kind == "rectify":
        assert due is not None  # refused above
        doc.paragraph(
            t("doc.notice.order_rectify", lang, penalty=vt.penalty_article, deadline=_date(due, lang))
        )
    else:
        doc.paragraph(t("doc.notice.order_stop", lang, penalty=vt.penalty_article))
    doc.paragraph(t("doc.notice.penalty_text", lang, penalty=vt.penalty))
    officers = [(n, c) for n, c in _officers(session, inc.patrol_id) if c]
    if officers:
        doc.paragraph(
            t(
                "doc.notice.officers",
                lang,
                officers="、".join(t("doc.officer", lang, name=n, cert=c) for n, c in officers),
            )
        )
    doc.signature_lines([t("doc.sign.receipt", lang)])
    doc.closing(settings.issuer, _date(today, lang), seal=t("doc.seal", lang))
    filename = t("doc.notice.filename", lang, number=number.number)
    issued = _finish(
        session,
        actor,
        f"notice_{kind}",
        title,
        doc,
        "incident",
        inc.id,
        filename,
        number=number.number,
        extra={"deadline": due.isoformat() if due and kind == "rectify" else None},
    )
    number.sha256 = issued.sha256
    session.flush()
    return issued


# --- PDF ----------------------------------------------------------------------------------------------


def to_pdf(docx: bytes) -> bytes:
    """The .docx as PDF through LibreOffice (``soffice``), when installed; otherwise a refusal saying so."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise ServiceError("doc.no_soffice")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "doc.docx"
        src.write_bytes(docx)
        proc = subprocess.run(
            [soffice, "--headless", "--convert-to", "pdf", "--outdir", tmp, str(src)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        out = Path(tmp) / "doc.pdf"
        if proc.returncode != 0 or not out.exists():
            raise ServiceError("doc.pdf_failed", detail=(proc.stderr or proc.stdout).strip()[:500])
        return out.read_bytes()
