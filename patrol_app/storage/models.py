"""SQLAlchemy schema. Portable SQL: the same tables run on SQLite and PostgreSQL.

Local dates and times (patrol dates, incident times) are naive wall-clock times in the bureau's time zone
(``PATROL_TZ``); audit timestamps are UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from patrol_app.config import get_settings


def configured_county() -> str:
    """The county (6-digit adcode) a record belongs to when nobody says otherwise: ``PATROL_COUNTY``. The
    services stamp the acting user's county on every record they write."""
    return get_settings().county_code


def _adcode(**kw: object) -> Mapped[str]:
    """Every record's county (区划代码, e.g. 530302); an account's scope (a county, a city 530300, or a
    province 530000)."""
    return mapped_column(String(6), default=configured_county, **kw)  # type: ignore[arg-type]


class Base(DeclarativeBase):
    # every model maps one Table (DeclarativeBase types it as any FromClause)
    __table__: ClassVar[Table]


class User(Base):
    """An account that acts in the app or on the command line."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode(index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    personnel_id: Mapped[int | None] = mapped_column(ForeignKey("personnel.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    demo: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # made by `patrol demo`

    # Not a column: who acted as the audit trail shows it when that is not the username (the command line's
    # ``cli(root) as leader``), set on the instance and read by audit.actor_label.
    __allow_unmapped__ = True
    audit_label: str | None = None


class WebSession(Base):
    """A signed-in browser or API client. Only the token's SHA-256 is stored; the token lives in an HttpOnly
    cookie. A new session first holds a one-time sign-in ticket (hashed too), redeemed by the browser for the
    cookie. Times are naive UTC."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    ticket_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    ticket_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    csrf_token: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Personnel(Base):
    """Enforcement staff and auxiliary staff (协勤)."""

    __tablename__ = "personnel"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode(index=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(64), default="")
    cert_no: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    cert_expiry: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    auxiliary: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # made by `patrol demo`


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode(index=True)
    plate: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # made by `patrol demo`


class RoadPieceRow(Base):
    """One imported road line (WGS-84 WKB). Pieces sharing a code form one route."""

    __tablename__ = "road_pieces"
    __table_args__ = (Index("ix_road_pieces_adcode_code", "adcode", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode()  # route codes are unique only within a county: (adcode, code)
    code: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    road_class: Mapped[str] = mapped_column(String(16))
    county_code: Mapped[str] = mapped_column(String(12), default="")
    start_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    half_road_land_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ImportBatch(Base):
    """One ledger or road file import, for provenance."""

    __tablename__ = "import_batches"
    # a file is imported once (again only after its batch was rolled back)
    __table_args__ = (
        Index(
            "uq_import_batches_sha256",
            "sha256",
            unique=True,
            sqlite_where=text("rolled_back_at IS NULL"),
            postgresql_where=text("rolled_back_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    rolled_back_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # its records removed
    rolled_back_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Patrol(Base):
    """One patrol (巡查): vehicles are vehicle trips (台次), personnel person trips (人次)."""

    __tablename__ = "patrols"
    __table_args__ = (Index("ix_patrols_adcode_date", "adcode", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode()
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    start_time: Mapped[str | None] = mapped_column(String(8), nullable=True)  # "HH:MM"
    end_time: Mapped[str | None] = mapped_column(String(8), nullable=True)
    vehicles: Mapped[int] = mapped_column(Integer)
    personnel: Mapped[int] = mapped_column(Integer)
    km: Mapped[float | None] = mapped_column(Float, nullable=True)
    crew: Mapped[str] = mapped_column(Text, default="")
    joint: Mapped[str] = mapped_column(Text, default="")
    weather: Mapped[str] = mapped_column(String(32), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="closed")  # open while on the road
    #: comma-separated flags kept with the record, e.g. ``few_personnel``: fewer than two (certified) people —
    #: accepted and flagged, never refused (a patrol is not a penalty: 《行政处罚法》第四十二条 does not apply)
    flags: Mapped[str] = mapped_column(String(64), default="", server_default="")
    source: Mapped[str] = mapped_column(String(16), default="app")
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    # the UUID a device gave the record (JSON API): sending it again answers with this record
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True, index=True)
    km_method: Mapped[str | None] = mapped_column(String(8), nullable=True)  # typed | roads | gpx | track
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    roads: Mapped[list[PatrolRoad]] = relationship(
        back_populates="patrol", cascade="all, delete-orphan", order_by="PatrolRoad.seq"
    )

    @property
    def road_codes(self) -> list[str]:
        return [r.road_code for r in self.roads]


class PatrolRoad(Base):
    __tablename__ = "patrol_roads"
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    road_code: Mapped[str] = mapped_column(String(16), index=True)
    patrol: Mapped[Patrol] = relationship(back_populates="roads")


class Incident(Base):
    """A problem found on a road (违法行为 / 路产路权问题)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_found_at", "found_at"),
        Index("ix_incidents_type_found", "type_code", "found_at"),
        Index("ix_incidents_road_chain", "road_code", "chainage_m"),
        Index("ix_incidents_status", "status"),
        # the report's incident scans read this index alone, never the table (migration 0011): one county's
        # (or a city's) stretch of dates; it also serves every other county-and-date query
        Index(
            "ix_incidents_report",
            "adcode",
            "found_at",
            "type_code",
            "road_code",
            "status",
            "zone",
            "town",
            "measure",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode()
    found_at: Mapped[dt.datetime] = mapped_column(DateTime)
    type_code: Mapped[str] = mapped_column(String(16))
    road_code: Mapped[str] = mapped_column(String(16))
    chainage_m: Mapped[float] = mapped_column(Float)
    stake: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    offset_m: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: located by stake only
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    zone: Mapped[str] = mapped_column(String(16))  # road_land | control_zone | outside | none | unknown
    in_control_zone: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # True only for control_zone
    zone_road_code: Mapped[str | None] = mapped_column(
        String(16), nullable=True
    )  # the road whose verdict decides
    #: 《公路法》第七十七条's condition, as found: comma-separated damage | pollution | obstruction
    effects: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: the legal basis the officer relies on, for type ``other`` (required there)
    basis_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    location_method: Mapped[str] = mapped_column(String(16), default="")  # gps | map | stake | ledger
    gps_accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    town: Mapped[str] = mapped_column(String(32), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    party: Mapped[str] = mapped_column(String(128), default="")
    party_phone: Mapped[str] = mapped_column(String(32), default="")
    measure: Mapped[str] = mapped_column(String(32), default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    closed_at: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    patrol_id: Mapped[int | None] = mapped_column(ForeignKey("patrols.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16), default="app")
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)
    follow_up_of: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True, index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PatrolCrew(Base):
    """Who was on a patrol entered in the app (ledger patrols keep names as written in ``Patrol.crew``)."""

    __tablename__ = "patrol_crew"
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True)
    personnel_id: Mapped[int] = mapped_column(ForeignKey("personnel.id"), primary_key=True)
    cert_no: Mapped[str | None] = mapped_column(String(64), nullable=True)  # as shown on the day


class PatrolVehicle(Base):
    __tablename__ = "patrol_vehicles"
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), primary_key=True)


class TrackPoint(Base):
    """One recorded position of a patrol's track (the field page's GPS, or a GPX file from another device).
    ``t`` is local wall-clock time (None for GPX points without time); ``seg`` numbers the track's pieces."""

    __tablename__ = "patrol_track_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), index=True)
    seg: Mapped[int] = mapped_column(Integer, default=0)
    t: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(8), default="device")  # device | gpx


class TrackBatch(Base):
    """One batch of track points as a device sent it: the same batch twice is stored once."""

    __tablename__ = "patrol_track_batches"
    __table_args__ = (UniqueConstraint("patrol_id", "batch_id", name="uq_patrol_track_batch"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PatrolTrack(Base):
    """What a patrol's track comes to: its line (simplified, WGS-84 [[lon, lat], …] per piece) and length."""

    __tablename__ = "patrol_tracks"
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    km: Mapped[float] = mapped_column(Float)
    line: Mapped[list | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PatrolCoverage(Base):
    """A stretch of road a patrol's track covered (chainage from/to, metres)."""

    __tablename__ = "patrol_coverage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrols.id", ondelete="CASCADE"), index=True)
    road_code: Mapped[str] = mapped_column(String(16), index=True)
    from_m: Mapped[float] = mapped_column(Float)
    to_m: Mapped[float] = mapped_column(Float)


class Photo(Base):
    """Evidence photo: the original kept untouched (SHA-256), a display copy ≤ 1600 px."""

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True, index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("incident_events.id"), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(255))  # relative to PATROL_DATA_DIR
    display_path: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # EXIF, when present
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class IncidentEvent(Base):
    """One step in an incident's history: created, re-inspected, status changed, closed, follow-up attached."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    status_before: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_after: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class Draft(Base):
    """What a user has typed but not saved yet, kept server-side: survives reloads, lost connections, restarts."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("user_id", "form"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    form: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Case(Base):
    """An enforcement case (立案查处) opened from an incident: investigation, legal review, decision."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    major: Mapped[bool] = mapped_column(Boolean, default=False)  # 重大案件: legal review before decision
    status: Mapped[str] = mapped_column(String(16), default="investigating")
    opened_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    review_result: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    decider_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decision: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: which situations of 《行政处罚法》第五十八条 make the case major (comma-separated codes)
    major_grounds: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: 第五十七条第二款: the collective discussion of a major case, recorded before its decision
    collective_at: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    collective_participants: Mapped[str] = mapped_column(Text, default="", server_default="")
    collective_conclusion: Mapped[str] = mapped_column(Text, default="", server_default="")


class DocumentNumber(Base):
    """A number given to an issued document (麒路责改〔2026〕第12号): unique per kind, county and year, and
    never reused — a number once drawn stays with its document even if the document is issued again."""

    __tablename__ = "document_numbers"
    __table_args__ = (
        UniqueConstraint("kind", "county_code", "year", "seq", name="uq_document_numbers_seq"),
        UniqueConstraint("number", name="uq_document_numbers_number"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # stop | rectify
    county_code: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    issued_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)


class CaseOfficer(Base):
    __tablename__ = "case_officers"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    personnel_id: Mapped[int] = mapped_column(ForeignKey("personnel.id"), primary_key=True)
    cert_no: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Append-only audit trail, chained twice: ``hash = sha256(prev_hash + canonical entry)`` (anyone can
    recompute it) and ``mac = HMAC-SHA256(key, previous mac + hash)`` with a key kept outside the
    database (``patrol_app.services.audit_key``). ``state``: the audited record's full state after the action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(
            "ix_audit_log_state_of",
            "entity",
            "entity_id",
            "id",
            sqlite_where=text("state IS NOT NULL"),
            postgresql_where=text("state IS NOT NULL"),
        ),
        Index("ix_audit_log_actor_id", "actor_id"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_ts", "ts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)  # NULL only if written behind the app


class AuditHead(Base):
    """One row: the chain's last hash. Updating it in each writing transaction serialises appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RoadSetting(Base):
    """What the bureau set for a road in the app (outlives a network re-import): the half road-land width."""

    __tablename__ = "road_settings"
    adcode: Mapped[str] = mapped_column(String(6), primary_key=True, default=configured_county)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    half_road_land_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ControlLineRow(Base):
    """A building control line published by the county government (条例 第十一条、第十二条) for a stake range:
    ``distance_m`` from the centreline. Withdrawn lines are kept (``active`` false) for the record."""

    __tablename__ = "control_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adcode: Mapped[str] = _adcode(index=True)
    road_code: Mapped[str] = mapped_column(String(16), index=True)
    from_m: Mapped[float] = mapped_column(Float)
    to_m: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    doc_no: Mapped[str] = mapped_column(String(128))
    doc_date: Mapped[dt.date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ImportJob(Base):
    """A ledger check or import running in the background: its progress, polled by the page (any tab)."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)  # running | done | failed
    stage: Mapped[str] = mapped_column(String(16), default="read")  # read | validate | write | done
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_validated: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    bad_rows: Mapped[int] = mapped_column(Integer, default=0)
    patrols: Mapped[int] = mapped_column(Integer, default=0)
    incidents: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"key": …, "params": {…}}
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


__all__ = [
    "Base",
    "User",
    "Personnel",
    "Vehicle",
    "RoadPieceRow",
    "ImportBatch",
    "Patrol",
    "PatrolRoad",
    "Incident",
    "AuditEntry",
    "AuditHead",
    "Setting",
    "PatrolCrew",
    "PatrolVehicle",
    "Photo",
    "IncidentEvent",
    "TrackPoint",
    "TrackBatch",
    "PatrolTrack",
    "PatrolCoverage",
    "Draft",
    "Case",
    "CaseOfficer",
    "DocumentNumber",
    "RoadSetting",
    "ControlLineRow",
    "ImportJob",
]
