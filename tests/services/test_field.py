"""Field logging services against a real store: patrols, incidents with photos, duplicates, follow-up,
double taps, drafts and permissions."""

import datetime as dt
import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.photos import store_photo
from patrol_app.services import field
from patrol_app.services.errors import PermissionDenied, ValidationFailed
from patrol_app.services.field import patrol_flags_explained
from patrol_app.services.users import get_user
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import Incident, IncidentEvent, PatrolCrew, Personnel, Photo


def ids(s, *names):
    return [s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in names]


def start(s, user, names=("李明", "王芳"), token=None, date=None, roads=("X001",)):
    return field.start_patrol(
        s,
        user,
        field.PatrolStart(
            date=date or dt.date(2026, 3, 2),
            start_time="08:30",
            roads=list(roads),
            crew_ids=ids(s, *names),
            vehicle_ids=[1, 2],
        ),
        client_token=token,
    )


def keys(exc):
    return [(e.column, e.key) for e in exc.value.errors]


def test_patrol_counts_trips_and_keeps_certificates(store):
    with session_scope() as s:
        p = start(s, get_user(s, "officer"), ("李明", "王芳", "孙丽"))
        crew = s.execute(select(PatrolCrew).where(PatrolCrew.patrol_id == p.id)).scalars().all()
        assert (p.vehicles, p.personnel, p.status) == (2, 3, "open")
        assert sorted(c.cert_no or "" for c in crew) == ["", "53030201002", "53030201003"]


@pytest.mark.parametrize(
    "names, flagged",
    [(("李明", "王芳"), False), (("李明", "吴刚"), True), (("吴刚", "孙丽"), True), (("李明",), True)],
)
def test_fewer_than_two_officers_is_accepted_and_flagged(store, names, flagged):
    """A patrol is not a penalty: 《行政处罚法》第四十二条 does not refuse it. Two officers is the bureau's practice:
    fewer are accepted and flagged; 协勤 do not count."""
    with session_scope() as s:
        user = get_user(s, "officer")
        p = start(s, user, names)
        assert p.id and p.flags == ("few_officers" if flagged else "")
        why = patrol_flags_explained(s, get_user(s, "officer"), ids(s, *names), p.date)
        assert bool(why) is flagged
        if flagged:
            assert why[0].key == "patrol.flag.few_officers" and "第四十二条" not in why[0].render()


def test_expired_certificate_does_not_count(store):
    with session_scope() as s:
        wang = s.get(Personnel, ids(s, "王芳")[0])
        wang.cert_expiry = dt.date(2026, 1, 31)
    with session_scope() as s:
        p = start(s, get_user(s, "officer"), date=dt.date(2026, 3, 2))
        assert p.flags == "few_officers"
        assert "registry.officer_cert_expired" in [
            e.key
            for e in patrol_flags_explained(
                s, get_user(s, "officer"), ids(s, "李明", "王芳"), dt.date(2026, 3, 2)
            )
        ]
        assert start(s, get_user(s, "officer"), date=dt.date(2026, 1, 30)).flags == ""  # still valid that day


def test_future_date_and_unknown_road_refused(store):
    with session_scope() as s:
        with pytest.raises(ValidationFailed) as exc:
            start(s, get_user(s, "officer"), date=dt.date.today() + dt.timedelta(days=3), roads=("X404",))
        assert {("date", "error.future_date"), ("roads", "error.unknown_road")} <= set(keys(exc))


def test_double_tap_creates_one_patrol_and_one_incident(store):
    net = store.network()
    lon, lat = offset_point(net, "X002", 1200, 6, "left")
    with session_scope() as s:
        user = get_user(s, "officer")
        a = start(s, user, token="tok-1")
        b = start(s, user, token="tok-1")
        assert a.id == b.id
        raw = {"found_at": dt.datetime(2026, 3, 2, 9, 0), "type": "stall", "lon": lon, "lat": lat}
        i1 = field.log_incident(s, user, raw, client_token="inc-1")
        i2 = field.log_incident(s, user, raw, client_token="inc-1")
        assert i1.id == i2.id
    with session_scope() as s:
        assert (
            s.execute(
                select(func.count()).select_from(Incident).where(Incident.client_token == "inc-1")
            ).scalar()
            == 1
        )


def test_end_patrol_by_gpx_and_by_roads(store):
    net = store.network()
    pts = [offset_point(net, "X001", ch, 0, "left") for ch in range(0, 5001, 250)]
    gpx = (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        + "".join(f'<trkpt lat="{lat}" lon="{lon}"/>' for lon, lat in pts)
        + "</trkseg></trk></gpx>"
    ).encode()
    with session_scope() as s:
        user = get_user(s, "officer")
        p = field.end_patrol(s, user, start(s, user).id, "11:30", method="gpx", gpx=gpx)
        assert p.km == pytest.approx(5.0, abs=0.1) and p.status == "closed"
        q = field.end_patrol(s, user, start(s, user, roads=("X001", "Y003")).id, "12:00", method="roads")
        assert q.km == pytest.approx(
            2 * (net.routes["X001"].length_m + net.routes["Y003"].length_m) / 1000, abs=0.1
        )
        with pytest.raises(ValidationFailed):
            field.end_patrol(s, user, start(s, user).id, "12:00", method="gpx", gpx=b"<not gpx")


def jpeg(color=(90, 120, 60)):
    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), color).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_incident_with_photos_history_and_closing(store):
    net = store.network()
    lon, lat = offset_point(net, "Y005", 800, 9, "right")
    originals = [jpeg(), jpeg((10, 20, 30))]
    photos = [store_photo(b, f"IMG_{i}.jpg") for i, b in enumerate(originals)]
    with session_scope() as s:
        user = get_user(s, "officer")
        inc = field.log_incident(
            s,
            user,
            {
                "found_at": dt.datetime(2026, 3, 2, 10, 5),
                "type": "违章建房",
                "lon": lon,
                "lat": lat,
                "measure": "order_correct",
                "deadline": dt.date(2026, 3, 20),
                "party": "李某某",
            },
            photos,
        )
        iid = inc.id
        assert inc.type_code == "building" and inc.stake and inc.location_method == "lonlat"
    with session_scope() as s:
        rows = s.execute(select(Photo).where(Photo.incident_id == iid)).scalars().all()
        assert sorted(r.sha256 for r in rows) == sorted(p.sha256 for p in photos)
        path = store.data_dir / rows[0].path
        assert path.read_bytes() in originals  # the original, untouched
        user = get_user(s, "officer")
        with pytest.raises(ValidationFailed) as exc:
            field.update_status(s, user, iid, "closed", note="  ")
        assert ("note", "field.outcome_required") in keys(exc)
        field.update_status(
            s, user, iid, "open", note="复查：仍未拆除", photos=[store_photo(jpeg((1, 2, 3)), "re.jpg")]
        )
        field.update_status(s, user, iid, "closed", note="已自行拆除")
    with session_scope() as s:
        steps = field.history(s, get_user(s, "officer"), iid)
        assert [ev.action for ev, _, _ in steps] == ["created", "reinspected", "closed"]
        assert len(steps[0][2]) == 2 and len(steps[1][2]) == 1
        assert s.get(Incident, iid).closed_at is not None


def test_order_to_correct_needs_deadline_and_points_must_be_near_a_road(store):
    with session_scope() as s:
        user = get_user(s, "officer")
        with pytest.raises(ValidationFailed) as exc:
            field.log_incident(
                s,
                user,
                {
                    "found_at": dt.datetime(2026, 3, 2),
                    "type": "stall",
                    "lon": 104.15,
                    "lat": 25.20,
                    "measure": "order_correct",
                },
            )
        assert {("deadline", "field.deadline_required"), ("lon", "error.no_road_in_reach")} <= set(keys(exc))
        assert (
            s.execute(select(func.count()).select_from(Incident).where(Incident.source == "app")).scalar()
            == 0
        )


def test_duplicates_and_follow_up(store):
    net = store.network()
    a = offset_point(net, "X005", 3000, 5, "left")
    b = offset_point(net, "X005", 3040, 5, "left")
    far = offset_point(net, "X005", 3100, 5, "left")
    with session_scope() as s:
        user = get_user(s, "officer")
        first = field.log_incident(
            s, user, {"found_at": dt.datetime(2026, 3, 2), "type": "materials", "lon": a[0], "lat": a[1]}
        )
        assert [d.id for d in field.find_duplicates(s, user, "materials", "X005", 3040, *b)] == [first.id]
        assert field.find_duplicates(s, user, "stall", "X005", 3040, *b) == []
        assert field.find_duplicates(s, user, "materials", "X005", 3100, *far) == []
        field.add_follow_up(s, user, first.id, "again", client_token="t1")
        field.add_follow_up(s, user, first.id, "again", client_token="t1")
        n = s.execute(
            select(func.count()).select_from(IncidentEvent).where(IncidentEvent.action == "follow_up")
        ).scalar()
        assert n == 1


def test_open_incidents_orders(store):
    net = store.network()
    with session_scope() as s:
        rows = field.open_incidents(s, get_user(s, "officer"), order="road")
        keys_ = [(r.road_code, r.chainage_m) for r, _ in rows]
        assert keys_ == sorted(keys_)
        here = offset_point(net, "Y010", 100, 0, "left")
        near = field.open_incidents(s, get_user(s, "officer"), order="distance", near=here)
        dists = [d for _, d in near]
        assert dists == sorted(dists)
        overdue = field.open_incidents(s, get_user(s, "officer"), order="overdue", today=dt.date(2030, 1, 1))
        assert all(r.deadline and r.deadline < dt.date(2030, 1, 1) for r, _ in overdue)


def test_roles_that_do_not_log_are_refused(store):
    with session_scope() as s:
        for name in ("reviewer", "manager", "admin"):
            with pytest.raises(PermissionDenied):
                start(s, get_user(s, name))
            with pytest.raises(PermissionDenied):
                field.log_incident(s, get_user(s, name), {})


def test_drafts_are_per_user(store):
    with session_scope() as s:
        field.save_draft(s, get_user(s, "officer"), "incident", {"inc_description": "x"})
        field.save_draft(s, get_user(s, "officer"), "incident", {"inc_description": "y"})
        assert field.load_draft(s, get_user(s, "officer"), "incident") == {"inc_description": "y"}
        assert field.load_draft(s, get_user(s, "officer2"), "incident") is None
        field.discard_draft(s, get_user(s, "officer"), "incident")
        assert field.load_draft(s, get_user(s, "officer"), "incident") is None


def test_other_needs_the_stated_basis_and_77_types_keep_their_effects(store):
    net = store.network()
    lon, lat = offset_point(net, "X002", 2200, 5, "left")
    raw = {
        "found_at": dt.datetime(2026, 3, 2, 9, 0),
        "type": "other",
        "lon": lon,
        "lat": lat,
        "description": "毁坏绿化",
    }
    with session_scope() as s:
        with pytest.raises(ValidationFailed) as exc:
            field.log_incident(s, get_user(s, "officer"), raw)
        assert ("basis_note", "field.basis_required") in keys(exc)
        inc = field.log_incident(
            s, get_user(s, "officer"), {**raw, "basis_note": "《中华人民共和国森林法》 第x条 "}
        )
        assert inc.basis_note == "《中华人民共和国森林法》 第x条"  # as typed (trimmed), never invented
        m = field.log_incident(
            s, get_user(s, "officer"), {**raw, "type": "materials", "effects": ["pollution", "damage"]}
        )
        assert (m.effects, m.zone, m.in_control_zone) == ("damage,pollution", "road_land", False)
