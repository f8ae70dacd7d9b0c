"""The one function that builds all demo data: used by ``patrol demo``, ``make run``, tests and browser tests.

Everything is deterministic (seeded) and synthetic: the road network in ``patrol_app/data/demo_roads_wgs84.geojson``
is invented (see ``patrol_app/data/README.md``); the places and boundary are real. Year ``Y-1`` mirrors the bureau's
2021 report in size: 130 patrols, 263 vehicle trips (台次) and 734 person trips (人次).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gis.linref import offset_point
from gis.roads import read_road_file
from patrol_app.clock import local_now
from patrol_app.district import DEMO_ROADS_FILE
from patrol_app.domain.rules import Perm, Role
from patrol_app.services import audit
from patrol_app.services.auth import hash_password
from patrol_app.services.errors import ServiceError
from patrol_app.services.records import PatrolRecord, store_records, validate_incidents
from patrol_app.services.roads import import_roads, network
from patrol_app.services.users import CLI_USER, ensure_user, require
from patrol_app.storage import models as m

SEED = 530302

PERSONNEL = [
    # name, title, certificate number, auxiliary (协勤)
    ("张建华", "路政中队长", "53030201001", False),
    ("李明", "路政员", "53030201002", False),
    ("王芳", "路政员", "53030201003", False),
    ("赵磊", "路政员", "53030201004", False),
    ("陈静", "路政员", "53030201005", False),
    ("刘洋", "路政员", "53030201006", False),
    ("杨帆", "路政员", "53030201007", False),
    ("周强", "路政员", "53030201008", False),
    ("吴刚", "协勤", None, True),
    ("孙丽", "协勤", None, True),
]

VEHICLES = [
    ("云D·L0301", "路政巡查车"),
    ("云D·L0302", "路政巡查车"),
    ("云D·L0303", "皮卡"),
    ("云D·L0305", "执法车"),
]

#: demo accounts, one per role (two officers), all with the password DEMO_PASSWORD (see README)
DEMO_PASSWORD = "patrol-demo"
ACCOUNTS = [
    ("officer", Role.OFFICER, "李明"),
    ("officer2", Role.OFFICER, "王芳"),
    ("leader", Role.SQUAD_LEADER, "张建华"),
    ("reviewer", Role.REVIEWER, "法制审核员"),
    ("manager", Role.MANAGER, "局领导"),
    ("admin", Role.ADMIN, "系统管理员"),
]

TYPE_WEIGHTS = [
    ("materials", 34),
    ("stall", 20),
    ("dumping", 12),
    ("building", 14),
    ("digging", 6),
    ("trees", 5),
    ("over_limit", 7),
    ("other", 2),
]
DESCRIPTIONS = {
    "materials": "路肩堆放砂石建筑材料",
    "stall": "公路用地内摆摊设点",
    "dumping": "边沟内倾倒生活垃圾",
    "building": "建筑控制区内新建砖混房屋",
    "digging": "擅自开挖路肩埋设管道",
    "trees": "砍伐行道树两棵",
    "over_limit": "货车超限运输",
    "other": "其他损坏路产行为",
}
JOINT = ["", "", "", "", "交警大队", "镇人民政府", "综合执法局"]
WEATHER = ["晴", "晴", "多云", "阴", "小雨"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡"


@dataclass
class DemoSummary:
    roads: int
    personnel: int
    vehicles: int
    patrols: int
    incidents: int


def _count(session: Session, table: Any, *where: Any) -> int:
    return session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _demo_user_ids(session: Session) -> Any:
    return select(m.User.id).where(m.User.demo.is_(True))


def store_is_empty(session: Session) -> bool:
    """No account (but the command line's ``cli``), no road, register entry or record: the demo may load."""
    return not (
        _count(session, m.User, m.User.username != CLI_USER)
        or any(_count(session, t) for t in (m.RoadPieceRow, m.Patrol, m.Incident, m.Personnel, m.Vehicle))
    )


def real_data(session: Session) -> dict[str, int]:
    """What in the store is not the demo's: the bureau's own accounts, people, vehicles, roads and records.

    Demo accounts, personnel and vehicles carry ``demo``; the demo's roads come from a ``demo:`` source and its
    patrols and incidents have source ``demo``. What the demo accounts did in the app (trying it out) counts as
    demo; anything done by another account (the command line's ``cli`` included) is real."""
    demo_users = _demo_user_ids(session)
    by_real = lambda col: col.not_in(demo_users)  # noqa: E731
    found = {
        "accounts": _count(session, m.User, m.User.demo.is_(False), m.User.username != CLI_USER),
        "personnel": _count(session, m.Personnel, m.Personnel.demo.is_(False)),
        "vehicles": _count(session, m.Vehicle, m.Vehicle.demo.is_(False)),
        "roads": _count(session, m.RoadPieceRow, m.RoadPieceRow.source.not_like("demo:%")),
        "patrols": _count(session, m.Patrol, m.Patrol.source != "demo", by_real(m.Patrol.created_by)),
        "incidents": _count(session, m.Incident, m.Incident.source != "demo", by_real(m.Incident.created_by)),
        "photos": _count(session, m.Photo, by_real(m.Photo.created_by)),
        "cases": _count(session, m.Case, by_real(m.Case.opened_by)),
        "imports": _count(session, m.ImportBatch, by_real(m.ImportBatch.created_by)),
    }
    return {k: v for k, v in found.items() if v}


def reset_store(session: Session, actor: m.User | None = None) -> None:
    """Remove the demo and what was done with it (not the audit trail, which is append-only): for ``patrol demo
    --reset`` and tests. The caller has made sure that the store holds nothing else (:func:`real_data`). Each
    record removed is recorded as deleted in the trail (by ``actor``, default the command line)."""
    from patrol_app.services.users import cli_actor

    actor = actor or cli_actor(session)
    require(actor, Perm.LOAD_DEMO)
    demo_users = _demo_user_ids(session)
    gone: dict[str, list[int]] = {
        "incident": list(session.execute(select(m.Incident.id)).scalars()),
        "patrol": list(session.execute(select(m.Patrol.id)).scalars()),
        "import_batch": list(session.execute(select(m.ImportBatch.id)).scalars()),
        "road_piece": list(session.execute(select(m.RoadPieceRow.id)).scalars()),
        "vehicle": list(session.execute(select(m.Vehicle.id).where(m.Vehicle.demo.is_(True))).scalars()),
        "user": list(session.execute(select(m.User.id).where(m.User.demo.is_(True))).scalars()),
        "personnel": list(
            session.execute(select(m.Personnel.id).where(m.Personnel.demo.is_(True))).scalars()
        ),
    }
    t: type[m.Base]
    for t in (
        m.DocumentNumber,
        m.CaseOfficer,
        m.Case,
        m.Photo,
        m.IncidentEvent,
        m.PatrolCrew,
        m.PatrolVehicle,
        m.TrackPoint,
        m.TrackBatch,
        m.PatrolTrack,
        m.PatrolCoverage,
    ):
        session.execute(delete(t))
    session.execute(update(m.Incident).values(follow_up_of=None))
    for t in (m.Incident, m.PatrolRoad, m.Patrol, m.ImportBatch, m.RoadPieceRow):
        session.execute(delete(t))
    session.execute(delete(m.Draft).where(m.Draft.user_id.in_(demo_users)))
    session.execute(delete(m.WebSession).where(m.WebSession.user_id.in_(demo_users)))
    session.execute(delete(m.User).where(m.User.demo.is_(True)))
    session.execute(delete(m.Personnel).where(m.Personnel.demo.is_(True)))
    session.execute(delete(m.Vehicle).where(m.Vehicle.demo.is_(True)))
    session.execute(delete(m.Setting).where(m.Setting.key == "network_version"))
    session.flush()
    for entity, ids in gone.items():
        audit.record_rows(session, actor, "demo.reset", entity, ids)


def build_demo(session: Session, actor: m.User, today: dt.date | None = None, years: int = 2) -> DemoSummary:
    """Load the demo network, registries, accounts and ``years`` years of patrols and incidents.

    The last year runs up to yesterday; earlier years are whole calendar years.
    """
    require(actor, Perm.LOAD_DEMO)
    taken = sorted(
        session.execute(
            select(m.User.username).where(m.User.username.in_([a[0] for a in ACCOUNTS]))
        ).scalars()
    )
    if taken:  # never take over (or re-password) an existing account
        raise ServiceError("demo.account_exists", usernames=", ".join(taken))
    today = today or local_now().date()
    rng = random.Random(SEED)
    pieces = read_road_file(DEMO_ROADS_FILE)
    import_roads(session, actor, pieces, source="demo:" + DEMO_ROADS_FILE.name, replace=True)
    net = network(session)
    staff = []
    for name, title, cert, auxiliary in PERSONNEL:
        p = m.Personnel(
            name=name,
            title=title,
            cert_no=cert,
            auxiliary=auxiliary,
            active=True,
            demo=True,
            cert_expiry=None if auxiliary else dt.date(today.year + 2, 12, 31),
        )
        session.add(p)
        staff.append(p)
    for plate, kind in VEHICLES:
        session.add(m.Vehicle(plate=plate, kind=kind, active=True, demo=True))
    session.flush()
    audit.record_rows(session, actor, "demo.load", "personnel", [p.id for p in staff])
    audit.record_rows(
        session,
        actor,
        "demo.load",
        "vehicle",
        session.execute(select(m.Vehicle.id).where(m.Vehicle.plate.in_([v[0] for v in VEHICLES])))
        .scalars()
        .all(),
    )
    by_name = {p.name: p for p in staff}
    demo_hash = hash_password(DEMO_PASSWORD)
    accounts = []
    for username, role, display in ACCOUNTS:
        user = ensure_user(
            session, username, role, display, by_name[display].id if display in by_name else None
        )
        user.password_hash = demo_hash  # a new account: existing ones were refused above
        user.demo = True
        accounts.append(user.id)
    audit.record_rows(session, actor, "demo.load", "user", accounts)  # with their (demo) passwords set

    officers = [p.name for p in staff if not p.auxiliary]
    aux = [p.name for p in staff if p.auxiliary]
    county = [c for c in net.codes if c.startswith("X")]
    township = [c for c in net.codes if c.startswith("Y")]
    neglected = set(township[-3:])  # roads nobody patrols: road coverage should show them
    patrolled_township = [c for c in township if c not in neglected]

    patrols: list[PatrolRecord] = []
    raw_incidents: list[tuple[int | None, dict[str, Any]]] = []
    first_year = today.year - years + 1
    for year in range(first_year, today.year + 1):
        start = dt.date(year, 1, 1)
        end = dt.date(year, 12, 31) if year < today.year else today - dt.timedelta(days=1)
        days = (end - start).days + 1
        n = 130 if year < today.year else max(1, round(130 * days / 365))
        dates = sorted(start + dt.timedelta(days=rng.randrange(days)) for _ in range(n))
        # vehicle and person trips: 2 vehicles and 5 people each, plus extras (130 → 263 and 734)
        extra_v = set(rng.sample(range(n), min(n, round(3 * n / 130))))
        extra_p = rng.sample(range(n), min(n, round(84 * n / 130)))
        for i, d in enumerate(dates):
            vehicles = 2 + (1 if i in extra_v else 0)
            personnel = 5 + (1 if i in extra_p else 0)
            roads = rng.sample(county, rng.choice([1, 1, 2])) + rng.sample(
                patrolled_township, rng.choice([0, 1, 2])
            )
            crew = rng.sample(officers, min(personnel, len(officers) - 1)) + rng.sample(aux, 1)
            km = round(sum(net.routes[c].length_m for c in roads) / 1000.0 * 2 * rng.uniform(0.9, 1.1), 1)
            hour = rng.choice([8, 9, 14])
            patrols.append(
                PatrolRecord(
                    date=d,
                    roads=roads,
                    vehicles=vehicles,
                    personnel=personnel,
                    km=km,
                    start_time=f"{hour:02d}:{rng.choice(['00', '30'])}",
                    end_time=f"{hour + 3:02d}:00",
                    crew="、".join(crew[:personnel]),
                    joint=rng.choice(JOINT),
                    weather=rng.choice(WEATHER),
                )
            )
            for _ in range(rng.choices([0, 1, 2, 3, 4], [20, 30, 25, 15, 10])[0]):
                code = rng.choice(roads)
                route = net.routes[code]
                ch = rng.uniform(route.start_m + 50, route.end_m - 50)
                if rng.random() < 0.3:  # hotspots: repeated trouble near a few places
                    ch = route.start_m + (route.length_m * rng.choice([0.2, 0.55])) + rng.uniform(-200, 200)
                vtype = rng.choices([t for t, _ in TYPE_WEIGHTS], [w for _, w in TYPE_WEIGHTS])[0]
                offset = rng.uniform(14, 28) if vtype == "building" else rng.uniform(2, 12)
                side = rng.choice(["left", "right"])
                lon, lat = offset_point(net, code, ch, offset, side)
                found = dt.datetime.combine(d, dt.time(hour + rng.randrange(3), rng.randrange(60)))
                closed = rng.random() < (0.96 if year < today.year else 0.8)
                measure = rng.choices(["persuasion", "order_correct", "case", "transfer"], [70, 20, 7, 3])[0]
                closed_at = min(d + dt.timedelta(days=rng.randrange(0, 20)), today) if closed else None
                raw_incidents.append(
                    (
                        None,
                        {
                            "found_at": found,
                            "type": vtype,
                            "lon": round(lon, 7),
                            "lat": round(lat, 7),
                            "road": code,
                            "description": DESCRIPTIONS[vtype],
                            "party": rng.choice(SURNAMES) + "某某",
                            "party_phone": f"1{rng.randrange(3, 9)}{rng.randrange(10**8, 10**9)}",
                            "measure": measure,
                            "status": "closed" if closed else "open",
                            "closed_at": closed_at,
                            "deadline": d + dt.timedelta(days=15) if measure == "order_correct" else None,
                            "location_method": rng.choice(["gps", "gps", "map", "stake"]),
                        },
                    )
                )
    now = dt.datetime.combine(today, dt.time(0, 0))
    incidents, errors = validate_incidents(raw_incidents, net, now, 100.0)
    if errors:  # the demo builder must produce valid data; fail loudly if it ever does not
        raise AssertionError(f"demo data invalid: {errors[:3]}")
    store_records(session, actor, patrols, incidents, "demo")
    summary = DemoSummary(len(net), len(staff), len(VEHICLES), len(patrols), len(incidents))
    audit.record(session, actor, "demo.load", "store", "", after=summary.__dict__)
    return summary
