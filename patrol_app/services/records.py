"""Patrols and incidents: one set of validators for forms and ledgers, and the services that write them.

Ledgers are history: crew names are kept as written. A patrol is not a penalty (《行政处罚法》第四十二条 governs
who carries out a penalty, not who patrols): two people on a patrol is the bureau's practice, so a patrol with
fewer is accepted and flagged (``few_personnel``), never refused — 《公路安全保护条例》第四十七条 makes the patrol
record a duty, and a historical row is a fact to keep. Certificate checks apply to what is entered in the app
(see :mod:`patrol_app.services.field`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import pickle
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.errors import GisError
from gis.linref import deciding_verdict, locate_arrays, offset_point, offset_points, zone_candidates
from gis.roads import RoadNetwork, normalise_code
from gis.stakes import format_stake, parse_stake
from patrol_app import clock
from patrol_app.clock import local_now, utc_now  # noqa: F401 - local_now: pages and tests import it from here
from patrol_app.config import get_settings
from patrol_app.district import district
from patrol_app.domain.catalog import resolve_type
from patrol_app.domain.rules import MEASURE_ALIASES, SIDE_ALIASES, STATUS_ALIASES, Perm, Status
from patrol_app.io.ledger import LedgerFormatError, LedgerSheet, iter_ledger
from patrol_app.parallel import ordered_map
from patrol_app.services import audit
from patrol_app.services.errors import FieldError, ServiceError
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import require, write_county
from patrol_app.storage.db import insert_many
from patrol_app.storage.models import ImportBatch, Incident, Patrol, PatrolRoad, User

MIN_OFFICERS = 2
FLAG_FEW_PERSONNEL = "few_personnel"
MAX_COUNT = 10_000
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
# China's rough extent: a point outside it is out of the area whatever the network.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
AREA_MARGIN_DEG = 0.2  # beyond the network's bbox by more than this (~20 km): out of the area
#: Longest text per field (characters), as the columns hold them: a longer value is refused, never cut.
MAX_CHARS = {
    "crew": 2000,
    "joint": 500,
    "weather": 32,
    "notes": 4000,
    "description": 4000,
    "party": 128,
    "party_phone": 32,
}


class _Bad(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params


def _blank(v: Any) -> bool:
    if v is None:
        return True
    cls = v.__class__
    if cls is str:
        return not v.strip()
    if cls is float:
        return math.isnan(v)
    return (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _text(v: Any) -> str:
    """A code or number as text: full-width forms folded (NFKC). Never for free text (see ``free_text``)."""
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # a phone number or code typed into a number cell
    return unicodedata.normalize("NFKC", str(v)).strip()


def free_text(v: Any) -> str:
    """Free text (descriptions, notes, names, parties) exactly as typed — Chinese punctuation (，（）：) stays —
    only the surrounding white space trimmed."""
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def parse_datetime(v: Any) -> dt.datetime:
    """Excel date cells, Excel serial numbers and text dates (2021-03-05, 2021/3/5, 2021年3月5日 [09:30]):
    :func:`patrol_app.clock.parse_datetime`, with the ledger's error."""
    try:
        return clock.parse_datetime(v)
    except clock.BadDate as exc:
        raise _Bad("error.bad_date", value=exc.value) from None


def parse_date(v: Any) -> dt.date:
    return parse_datetime(v).date()


def parse_time(v: Any) -> str:
    if isinstance(v, dt.time):
        return v.strftime("%H:%M")
    if isinstance(v, dt.datetime):
        return v.strftime("%H:%M")
    if isinstance(v, float) and 0 <= v < 1:  # Excel time fraction
        minutes = round(v * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    s = unicodedata.normalize("NFKC", str(v)).strip()
    m = re.match(r"^(\d{1,2})\s*[:：时点]\s*(\d{1,2})?", s)
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise _Bad("error.bad_time", value=s)
    return f"{int(m.group(1)):02d}:{int(m.group(2) or 0):02d}"


def parse_count(v: Any) -> int:
    if isinstance(v, bool):
        raise _Bad("error.bad_count", value=str(v))
    if isinstance(v, (int, float)):
        f = float(v)
    else:
        s = unicodedata.normalize("NFKC", str(v)).strip()
        s = re.sub(r"(台次|人次|台|人|辆)$", "", s).strip()
        try:
            f = float(s)
        except ValueError:
            raise _Bad("error.bad_count", value=_text(v)) from None
    if not math.isfinite(f) or f != int(f):
        raise _Bad("error.bad_count", value=_text(v))
    if f < 0:
        raise _Bad("error.negative", value=_text(v))
    if f > MAX_COUNT:  # vehicle or person trips of one patrol: a typo (or a hostile cell), not a count
        raise _Bad("error.count_too_large", value=_text(v), max=MAX_COUNT)
    return int(f)


def parse_number(v: Any) -> float:
    if isinstance(v, bool):
        raise _Bad("error.bad_number", value=str(v))
    if isinstance(v, (int, float)):
        f = float(v)
    else:
        s = unicodedata.normalize("NFKC", str(v)).strip()
        s = re.sub(r"(公里|千米|km|KM|Km)$", "", s).strip()
        try:
            f = float(s)
        except ValueError:
            raise _Bad("error.bad_number", value=_text(v)) from None
    if not math.isfinite(f):
        raise _Bad("error.bad_number", value=_text(v))
    return f


def parse_road_list(v: Any, net: RoadNetwork) -> list[str]:
    s = _text(v)
    parts = [p for p in re.split(r"[、,，;；/\s]+", s) if p]
    if not parts:
        raise _Bad("error.required")
    codes: list[str] = []
    for p in parts:
        try:
            code = normalise_code(p)
        except ValueError:
            raise _Bad("error.unknown_road", code=p) from None
        if code not in net.routes:
            raise _Bad("error.unknown_road", code=p)
        if code not in codes:
            codes.append(code)
    return codes


def _alias(v: Any, table: dict[str, Any], key: str) -> Any:
    s = _text(v).lower().replace(" ", "")
    if s in table:
        return table[s]
    raise _Bad(key, value=_text(v))


# --- patrols ----------------------------------------------------------------------------------------


@dataclass
class PatrolRecord:
    date: dt.date
    roads: list[str]
    vehicles: int
    personnel: int
    km: float | None = None
    start_time: str | None = None
    end_time: str | None = None
    crew: str = ""
    joint: str = ""
    weather: str = ""
    notes: str = ""
    flags: str = ""


def validate_patrol(
    raw: dict[str, Any],
    net: RoadNetwork,
    now: dt.datetime,
    columns: dict[str, str] | None = None,
    row: int | None = None,
    sheet: str | None = None,
) -> tuple[PatrolRecord | None, list[FieldError]]:
    """Check one patrol (a form or a ledger row). Returns the record or every problem found."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    col = (columns or {}).get

    def check(name: str, fn: Any, required: bool = False) -> None:
        v = raw.get(name)
        if _blank(v):
            if required:
                errors.append(FieldError(col(name, name), "error.required", {}, row, sheet))
            return
        try:
            out[name] = fn(v)
        except _Bad as b:
            errors.append(FieldError(col(name, name), b.key, b.params, row, sheet))

    check("date", parse_date, required=True)
    check("roads", lambda v: parse_road_list(v, net), required=True)
    check("vehicles", parse_count, required=True)
    check("personnel", parse_count, required=True)
    check("km", parse_number)
    check("start", parse_time)
    check("end", parse_time)
    if "date" in out and out["date"] > now.date():
        errors.append(
            FieldError(col("date", "date"), "error.future_date", {"value": str(out["date"])}, row, sheet)
        )
    if "km" in out and out["km"] < 0:
        errors.append(FieldError(col("km", "km"), "error.negative", {"value": _text(out["km"])}, row, sheet))
    for name in ("crew", "joint", "weather", "notes"):
        n = len(_text(raw.get(name)))
        if n > MAX_CHARS[name]:
            errors.append(
                FieldError(
                    col(name, name), "error.too_long", {"length": n, "max": MAX_CHARS[name]}, row, sheet
                )
            )
    if errors:
        return None, errors
    return (
        PatrolRecord(
            date=out["date"],
            roads=out["roads"],
            vehicles=out["vehicles"],
            personnel=out["personnel"],
            km=out.get("km"),
            start_time=out.get("start"),
            end_time=out.get("end"),
            crew=free_text(raw.get("crew")),
            joint=free_text(raw.get("joint")),
            weather=free_text(raw.get("weather")),
            notes=free_text(raw.get("notes")),
            flags=FLAG_FEW_PERSONNEL if out["personnel"] < MIN_OFFICERS else "",
        ),
        [],
    )


def _patrol_row(
    rec: PatrolRecord, actor: User, source: str, batch_id: int | None, now: dt.datetime, county: str
) -> Patrol:
    p = Patrol(
        adcode=county,
        date=rec.date,
        start_time=rec.start_time,
        end_time=rec.end_time,
        vehicles=rec.vehicles,
        personnel=rec.personnel,
        km=rec.km,
        crew=rec.crew,
        joint=rec.joint,
        weather=rec.weather,
        notes=rec.notes,
        flags=rec.flags,
        status="closed",
        source=source,
        import_batch_id=batch_id,
        created_by=actor.id,
        created_at=now,
    )
    p.roads = [PatrolRoad(seq=i, road_code=c) for i, c in enumerate(rec.roads)]
    return p


def patrol_dict(p: Patrol) -> dict[str, Any]:
    return {
        "id": p.id,
        "date": p.date.isoformat(),
        "start_time": p.start_time,
        "end_time": p.end_time,
        "roads": p.road_codes,
        "vehicles": p.vehicles,
        "personnel": p.personnel,
        "km": p.km,
        "crew": p.crew,
        "joint": p.joint,
        "weather": p.weather,
        "notes": p.notes,
        "source": p.source,
        "flags": p.flags,
    }


# --- incidents --------------------------------------------------------------------------------------


def validate_incidents(
    rows: Sequence[tuple[int | None, dict[str, Any]]],
    net: RoadNetwork,
    now: dt.datetime,
    max_distance: float,
    columns: dict[str, str] | None = None,
    sheet: str | None = None,
) -> tuple[list[dict[str, Any]], list[FieldError]]:
    """Check and locate incidents (forms and ledgers alike), vectorised over rows.

    Returns column values ready for the ``incidents`` table, or every problem found.
    """
    errors: list[FieldError] = []
    col = (columns or {}).get
    parsed: list[dict[str, Any]] = []
    # rows placed beside a road by road + stake + offset + side, by road: placed together after the loop
    beside: dict[str, list[tuple[int, float, float, str]]] = {}
    for rownum, raw in rows:
        out: dict[str, Any] = {"_row": rownum}
        bad_before = len(errors)

        def err(name: str, key: str, **params: Any) -> None:
            errors.append(FieldError(col(name, name), key, params, rownum, sheet))

        def get(name: str, fn: Any, required: bool = False) -> Any:
            v = raw.get(name)
            if _blank(v):
                if required:
                    err(name, "error.required")
                return None
            try:
                return fn(v)
            except _Bad as b:
                err(name, b.key, **b.params)
                return None

        out["found_at"] = get("found_at", parse_datetime, required=True)
        if out["found_at"] is not None and out["found_at"] > now:
            err("found_at", "error.future_date", value=str(out["found_at"]))
        t = raw.get("type")
        if _blank(t):
            err("type", "error.required")
        else:
            try:
                out["type_code"] = resolve_type(str(t)).code
                out["_shed"] = "棚" in str(t)  # 搭建棚房: stall on road land, building in the control zone
            except KeyError:
                err("type", "error.unknown_type", value=_text(t))
        out["status"] = get("status", lambda v: _alias(v, STATUS_ALIASES, "error.bad_status")) or Status.OPEN
        out["status"] = str(out["status"])
        out["measure"] = get("measure", lambda v: _alias(v, MEASURE_ALIASES, "error.bad_measure")) or ""
        out["closed_at"] = get("closed_at", parse_date)
        out["deadline"] = get("deadline", parse_date)
        if out["closed_at"] is not None:
            if out["closed_at"] > now.date():
                err("closed_at", "error.future_date", value=str(out["closed_at"]))
            elif out["found_at"] is not None and out["closed_at"] < out["found_at"].date():
                err("closed_at", "error.closed_before_found", value=str(out["closed_at"]))
        side = get("side", lambda v: _alias(v, SIDE_ALIASES, "error.bad_side"))
        has_lonlat = not _blank(raw.get("lon")) or not _blank(raw.get("lat"))
        road = None
        if not _blank(raw.get("road")):
            try:
                road = net.route(str(raw["road"])).code
            except GisError:
                err("road", "error.unknown_road", code=_text(raw.get("road")))
        if has_lonlat:
            lon = get("lon", parse_number, required=True)
            lat = get("lat", parse_number, required=True)
            if lon is not None and lat is not None:
                problem = _area_problem(lon, lat, net)
                if problem:
                    err("lon", problem, lon=lon, lat=lat)
                else:
                    out["lon"], out["lat"] = lon, lat
            out["_road"] = road
        elif not _blank(raw.get("stake")) or road is not None:
            stake = get("stake", lambda v: _stake(v), required=True)
            if road is None and _blank(raw.get("road")):
                err("road", "error.required")
            if road is not None and stake is not None:
                route = net.routes[road]
                if stake < route.start_m - 0.5 or stake > route.end_m + 0.5:
                    err(
                        "stake",
                        "error.stake_out_of_range",
                        code=road,
                        stake=format_stake(stake),
                        start=route.start_stake,
                        end=route.end_stake,
                    )
                else:
                    offset = get("offset_m", parse_number)
                    if offset is not None and offset < 0:
                        err("offset_m", "error.negative", value=_text(raw.get("offset_m")))
                        offset = None
                    if offset and _blank(raw.get("side")):
                        err("side", "error.required")
                        offset = None
                    if offset and side:  # a point beside the road: located like a fix, on this road
                        beside.setdefault(road, []).append((len(parsed), stake, offset, side))
                        out["_road"] = road
                    else:  # on the road itself: road + stake (+ side) only, no zone verdict
                        try:
                            out["lon"], out["lat"] = net.point_at(road, stake)
                            out["_stake_loc"] = (road, stake, side)
                        except GisError as exc:
                            err("stake", exc.key, **exc.params)
        else:
            err("lon", "error.no_location")
        out["description"] = free_text(raw.get("description"))
        out["party"] = free_text(raw.get("party"))
        out["party_phone"] = _text(raw.get("party_phone"))
        out["basis_note"] = str(raw.get("basis_note") or "").strip()  # free text: kept as typed
        out["effects"] = get("effects", _effects) or ""
        for name in ("description", "party", "party_phone"):
            if len(out[name]) > MAX_CHARS[name]:
                err(name, "error.too_long", length=len(out[name]), max=MAX_CHARS[name])
        out["_side"] = side
        for extra in ("location_method", "gps_accuracy_m", "patrol_id"):
            if extra in raw and not _blank(raw[extra]):
                out[extra] = raw[extra]
        out["_bad"] = len(errors) > bad_before
        parsed.append(out)
    for road, placed in beside.items():
        lons, lats = offset_points(
            net,
            road,
            np.array([p[1] for p in placed]),
            np.array([p[2] for p in placed]),
            [p[3] for p in placed],
        )
        for (i, stake, offset, side), lon, lat in zip(placed, lons.tolist(), lats.tolist()):
            rec = parsed[i]
            if math.isnan(lon):  # in a gap between the road's pieces: the error of the single point
                try:
                    offset_point(net, road, stake, offset, side)
                except GisError as exc:
                    errors.append(FieldError(col("stake", "stake"), exc.key, exc.params, rec["_row"], sheet))
                    rec["_bad"] = True
                    continue
            rec["lon"], rec["lat"] = lon, lat
    # locate the lon/lat rows in one vectorised pass per named road (None: nearest road); rows with other
    # problems are located too, so that every problem of a row is reported at once
    by_road: dict[str | None, list[int]] = {}
    for i, rec in enumerate(parsed):
        if "_stake_loc" not in rec and "lon" in rec:
            by_road.setdefault(rec.get("_road"), []).append(i)
    for road, idx in by_road.items():
        lon = np.array([parsed[i]["lon"] for i in idx])
        lat = np.array([parsed[i]["lat"] for i in idx])
        b = locate_arrays(net, lon, lat, max_distance, road)
        cands = zone_candidates(net, lon, lat, max_distance)
        for j, i in enumerate(idx):
            rec = parsed[i]
            if not b.found[j]:
                key = "error.not_near_road" if road else "error.no_road_in_reach"
                errors.append(
                    FieldError(
                        col("lon", "lon"),
                        key,
                        {
                            "lon": rec["lon"],
                            "lat": rec["lat"],
                            "max_distance": f"{max_distance:g}",
                            "code": road or "",
                        },
                        rec["_row"],
                        sheet,
                    )
                )
                rec["_bad"] = True
                continue
            route = net.routes[net.codes[int(b.route_index[j])]]
            offset = float(b.offset_m[j])
            # the strictest road in reach; on each road a published control line replaces the statutory minimum
            k, v = deciding_verdict(net, cands[j], int(b.route_index[j]), offset, float(b.chainage_m[j]))
            rec.update(
                road_code=route.code,
                chainage_m=round(float(b.chainage_m[j]), 1),
                stake=format_stake(float(b.chainage_m[j])),
                side="left" if b.side_left[j] else "right",
                offset_m=round(offset, 1),
                zone=v.zone,
                in_control_zone=v.in_control_zone,
                zone_road_code=net.codes[k],
            )
            if rec.get("_shed") and rec.get("type_code") == "stall" and v.zone == "control_zone":
                rec["type_code"] = "building"  # a shed outside road land, inside the zone: 公路法 第五十六条
            rec.setdefault("location_method", "lonlat")
    for rec in parsed:
        if "_stake_loc" in rec and not rec["_bad"]:
            road, stake, side = rec["_stake_loc"]
            rec.update(
                road_code=road,
                chainage_m=round(stake, 1),
                stake=format_stake(stake),
                side=side or "",
                offset_m=None,
                zone="unknown",
                in_control_zone=None,
                zone_road_code=None,
            )
            rec.setdefault("location_method", "stake")
    good = [r for r in parsed if not r.get("_bad")]
    if good:
        towns = district().nearest_town(
            np.array([r["lon"] for r in good]), np.array([r["lat"] for r in good])
        )
        for r, town in zip(good, towns):
            r["town"] = town
    for r in good:  # drop the private keys in place (no copy of 100,000 dicts)
        for name in [name for name in r if name.startswith("_")]:
            del r[name]
    clean = good
    errors.sort(key=lambda e: (e.sheet or "", e.row or 0))
    return clean, errors


#: 《公路法》第七十七条's condition: 造成公路路面损坏、污染或者影响公路畅通
EFFECTS = ("damage", "pollution", "obstruction")
EFFECT_ALIASES = {
    "damage": "damage",
    "路面损坏": "damage",
    "损坏": "damage",
    "造成公路路面损坏": "damage",
    "pollution": "pollution",
    "污染": "pollution",
    "污染公路": "pollution",
    "obstruction": "obstruction",
    "影响公路畅通": "obstruction",
    "影响畅通": "obstruction",
    "妨碍通行": "obstruction",
}


def _effects(v: Any) -> str:
    """``["damage", "obstruction"]`` or "路面损坏、影响公路畅通" → ``"damage,obstruction"`` (catalog order)."""
    items = v if isinstance(v, (list, tuple, set)) else re.split(r"[、,，;；/\s]+", _text(v))
    found = set()
    for item in items:
        if not str(item).strip():
            continue
        key = _text(item).lower()
        if key not in EFFECT_ALIASES:
            raise _Bad("error.bad_effect", value=_text(item))
        found.add(EFFECT_ALIASES[key])
    return ",".join(e for e in EFFECTS if e in found)


def _stake(v: Any) -> float:
    try:
        return parse_stake(v if isinstance(v, (int, float)) else str(v))
    except GisError:
        raise _Bad("error.stake_format", text=_text(v)) from None


def _area_problem(lon: float, lat: float, net: RoadNetwork) -> str | None:
    in_china = CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]
    swapped_ok = CHINA_LON[0] <= lat <= CHINA_LON[1] and CHINA_LAT[0] <= lon <= CHINA_LAT[1]
    if not in_china and swapped_ok:
        return "error.swapped_coordinates"
    x0, y0, x1, y1 = net.bounds
    m = AREA_MARGIN_DEG
    if not (x0 - m <= lon <= x1 + m and y0 - m <= lat <= y1 + m):
        return "error.out_of_area"
    return None


def incident_dict(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "found_at": i.found_at.isoformat(sep=" ", timespec="minutes"),
        "type": i.type_code,
        "road_code": i.road_code,
        "stake": i.stake,
        "chainage_m": i.chainage_m,
        "side": i.side,
        "offset_m": i.offset_m,
        "lon": i.lon,
        "lat": i.lat,
        "zone": i.zone,
        "in_control_zone": i.in_control_zone,
        "zone_road_code": i.zone_road_code,
        "effects": i.effects,
        "basis_note": i.basis_note,
        "town": i.town,
        "description": i.description,
        "party": i.party,
        "party_phone": i.party_phone,
        "measure": i.measure,
        "deadline": i.deadline.isoformat() if i.deadline else None,
        "status": i.status,
        "closed_at": i.closed_at.isoformat() if i.closed_at else None,
        "source": i.source,
    }


# --- ledger import ----------------------------------------------------------------------------------------

#: ``progress(stage, done, total)`` with stage ``read``, ``validate`` or ``write``.
Progress = Callable[[str, int, int], None]
#: Rows validated or written between two progress reports.
CHUNK = 5000
#: Rows of each kind shown "as they will be stored" after a check.
PREVIEW_ROWS = 20


@dataclass
class ImportResult:
    file: str
    dry_run: bool
    patrols: int = 0
    incidents: int = 0
    sheets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    batch_id: int | None = None
    #: patrols accepted and flagged: fewer than two personnel (where each is in the file)
    flagged: list[FieldError] = field(default_factory=list)
    rows: int = 0  # ledger rows read (records and bad rows)
    preview: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # first rows as they will be stored

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({(e.sheet, e.row) for e in self.errors})


class Spool:
    """Checked records of one kind, kept on disk in chunks until they are written: a ledger of any size is
    checked and written in bounded memory (validated once; the write lock is held for the inserts alone)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="patrol-ledger-")
        self.count = 0

    def add(self, records: list[Any]) -> None:
        if records:
            pickle.dump(records, self._file, pickle.HIGHEST_PROTOCOL)
            self.count += len(records)

    def add_pickled(self, blob: bytes, count: int) -> None:
        """Records pickled already (by a worker process: see :func:`_check_incidents`)."""
        if count:
            self._file.write(blob)
            self.count += count

    def chunks(self) -> Iterator[list[Any]]:
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        self._file.close()


@dataclass
class LedgerCheck:
    """A checked ledger: what would be written (kept for :func:`write_ledger`), and the result to show."""

    result: ImportResult
    patrols: Spool
    incidents: Spool
    digest: str
    kinds: str
    county: str = ""  # the county the records belong to (6-digit adcode)

    def close(self) -> None:
        self.patrols.close()
        self.incidents.close()


def file_digest(path: str | Path) -> str:
    return _digest_and_lines(path)[0]


def _digest_and_lines(path: str | Path) -> tuple[str, int]:
    """The file's SHA-256 and its number of line breaks, in one pass (the lines: an estimate of a CSV file's rows
    for progress; a quoted cell may hold a line break)."""
    h = hashlib.sha256()
    lines = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            lines += block.count(b"\n")
    return h.hexdigest(), lines


def imported_batch(session: Session, digest: str) -> ImportBatch | None:
    """The batch (not rolled back) that imported a file with this SHA-256, if any."""
    return session.execute(
        select(ImportBatch)
        .where(ImportBatch.sha256 == digest, ImportBatch.rolled_back_at.is_(None))
        .order_by(ImportBatch.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def check_ledger(
    session: Session,
    actor: User,
    path: str | Path,
    kind: str | None = None,
    max_distance: float | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    county: str | None = None,
    jobs: int = 1,
) -> LedgerCheck:
    """Read and validate a ledger without writing: counts, the first rows as they would be stored, and every
    problem of every bad row. Raises ServiceError for a file that is no ledger or was imported already.
    The records belong to the actor's county (the command line's account: ``county``), located on its roads.

    The rows are read, checked and spooled to disk a chunk at a time, so memory stays bounded at any size;
    ``jobs`` above one checks incident chunks in forked worker processes (the command line: ``--jobs``)."""
    require(actor, Perm.IMPORT_LEDGER)
    county = write_county(actor, county)
    p = Path(path)
    shown = name or p.name
    try:
        sheets = iter_ledger(
            p, kind, progress=(lambda d, t: progress("read", d, t)) if progress else None, name=shown
        )
    except LedgerFormatError as exc:
        raise ServiceError(exc.key, **exc.params) from exc
    digest, lines = _digest_and_lines(p)
    with _reading(session) as rs:  # no write lock while the rows are checked
        net = store_network(rs, county)
        _refuse_duplicate(rs, digest, shown)
    now = local_now()
    dist = get_settings().max_distance_m if max_distance is None else max_distance
    result = ImportResult(file=shown, dry_run=True, preview={"patrols": [], "incidents": []})
    check = LedgerCheck(
        result, Spool(), Spool(), digest, "+".join(sorted({sh.kind for sh in sheets})), county
    )
    streamed = p.suffix.lower() not in (".xlsx", ".xlsm")
    estimate = max(lines - 1, 0) if streamed and progress else 0
    done = [0]
    if progress:
        if streamed:
            progress("read", 0, estimate)
        progress("validate", 0, estimate)

    def on_chunk(n: int) -> None:
        done[0] += n
        if progress:
            progress("validate", done[0], max(estimate, done[0]))

    try:
        for sh in sheets:
            result.sheets.append(
                _validate_sheet(sh, net, now, dist, check, result.errors, result.flagged, on_chunk, jobs)
            )
    except LedgerFormatError as exc:
        check.close()
        raise ServiceError(exc.key, **exc.params) from exc
    except BaseException:
        check.close()
        raise
    result.rows = done[0]
    if progress and streamed:
        progress("read", done[0], done[0])
    order = {sh.name: k for k, sh in enumerate(sheets)}
    result.errors.sort(key=lambda e: (order.get(e.sheet, 0), e.row or 0))
    result.patrols, result.incidents = len(check.patrols), len(check.incidents)
    if result.errors:
        check.close()  # nothing of it will be written
    return check


def write_ledger(
    session: Session, actor: User, check: LedgerCheck, progress: Progress | None = None
) -> ImportResult:
    """Write a checked ledger (no bad rows) as one batch, in the caller's transaction; audited."""
    require(actor, Perm.IMPORT_LEDGER)
    county = write_county(actor, check.county or None)
    result = check.result
    if result.errors:
        raise ServiceError("error.validation_failed", count=len(result.errors))
    _refuse_duplicate(session, check.digest, result.file)  # again, inside the write transaction
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    total = len(check.patrols) + len(check.incidents)
    batch = ImportBatch(
        adcode=county,
        kind=check.kinds,
        filename=result.file,
        sha256=check.digest,
        rows=total,
        created_by=actor.id,
        created_at=created,
    )
    session.add(batch)
    try:
        session.flush()
    except IntegrityError:  # the same file, imported meanwhile by someone else (unique index on sha256)
        session.rollback()
        raise ServiceError("error.already_imported", file=result.file, batch="?", when="—") from None
    result.batch_id = batch.id
    result.dry_run = False
    written = 0
    if progress:
        progress("write", 0, total)
    try:
        for spool, is_patrol in ((check.patrols, True), (check.incidents, False)):
            for part in spool.chunks():
                store_records(
                    session,
                    actor,
                    part if is_patrol else [],
                    [] if is_patrol else part,
                    "ledger",
                    batch.id,
                    county,
                )
                written += len(part)
                if progress:
                    progress("write", written, total)
    finally:
        check.close()
    audit.record(
        session,
        actor,
        "ledger.import",
        "import_batch",
        batch.id,
        after={
            "file": result.file,
            "sha256": check.digest,
            "patrols": len(check.patrols),
            "incidents": len(check.incidents),
        },
    )
    return result


def import_ledger(
    session: Session,
    actor: User,
    path: str | Path,
    kind: str | None = None,
    dry_run: bool = False,
    max_distance: float | None = None,
    progress: Progress | None = None,
    county: str | None = None,
    jobs: int = 1,
) -> ImportResult:
    """Import a ledger all or nothing. With any bad row nothing is written and every problem is listed.

    The file is read and validated on a read-only session of its own (on SQLite: no write lock, so the app's
    users keep saving meanwhile); ``session`` — the caller's transaction — is used only to insert, so the write
    lock is held for the inserts alone."""
    check = check_ledger(session, actor, path, kind, max_distance, progress, county=county, jobs=jobs)
    if check.result.errors or dry_run:
        check.close()
        check.result.dry_run = dry_run
        return check.result
    return write_ledger(session, actor, check, progress)


@contextmanager
def _reading(session: Session) -> Iterator[Session]:
    """A read-only session on the store of ``session`` (the same one for an in-memory SQLite database)."""
    from patrol_app.storage.db import read_session

    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        yield session
        return
    with read_session(url.render_as_string(hide_password=False)) as rs:
        yield rs


def _refuse_duplicate(session: Session, digest: str, name: str) -> None:
    """Refuse a file whose batch is in the store (a rolled-back batch does not count)."""
    dup = imported_batch(session, digest)
    if dup is not None:
        raise ServiceError(
            "error.already_imported", file=name, batch=dup.id, when=dup.created_at.strftime("%Y-%m-%d %H:%M")
        )


# the columns' scalar defaults (the county is always given)
_DEFAULTS = {
    c.key: getattr(c.default, "arg", None)
    for c in Incident.__table__.columns
    if c.default is not None and c.default.is_scalar
}


def store_records(
    session: Session,
    actor: User,
    patrols: Sequence[PatrolRecord],
    incidents: list[dict[str, Any]],
    source: str,
    batch_id: int | None = None,
    county: str | None = None,
) -> None:
    """Bulk-write validated patrols and incidents of one county (the actor's; the command line's account:
    ``county``) in the caller's transaction (the caller audits). Needs ``Perm.IMPORT_LEDGER`` (ledgers and the
    demo load records in bulk)."""
    require(actor, Perm.IMPORT_LEDGER)
    county = write_county(actor, county)
    created = utc_now()
    if patrols:
        session.add_all(_patrol_row(r, actor, source, batch_id, created, county) for r in patrols)
    if incidents:
        for rec in incidents:
            rec.update(
                adcode=county,
                source=source,
                import_batch_id=batch_id,
                created_by=actor.id,
                created_at=created,
            )
            rec.setdefault("location_method", source)
        # every row with the same columns (a blank where a column has a default: the default, as ever), so that
        # the rows go in as one statement executed many times, without the ORM's work per row
        keys = set().union(*(r.keys() for r in incidents))
        for rec in incidents:
            for k in keys:
                if rec.get(k) is None:
                    rec[k] = _DEFAULTS.get(k)
        insert_many(session.connection(), Incident.__table__, incidents)
    session.flush()
    # one audit entry per record, with its full state: the trail can tell later if any of them is changed
    action = "ledger.import" if source == "ledger" else f"{source}.load"
    mine = {"source": source, "batch": batch_id}
    for model, entity in ((Patrol, "patrol"), (Incident, "incident")):
        ids = (
            session.execute(
                select(model.id).where(
                    model.created_at == created, model.source == source, model.created_by == actor.id
                )
            )
            .scalars()
            .all()
        )
        audit.record_rows(session, actor, action, entity, ids, after=mine)


def _validate_sheet(
    sh: LedgerSheet,
    net: RoadNetwork,
    now: dt.datetime,
    dist: float,
    check: LedgerCheck,
    errors: list[FieldError],
    flagged: list[FieldError] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Validate one sheet in chunks of :data:`CHUNK` rows (``on_chunk(rows)`` after each), spooling the good
    records and keeping the first :data:`PREVIEW_ROWS` of each kind as they will be stored."""
    info: dict[str, Any] = {
        "sheet": sh.name,
        "kind": sh.kind,
        "rows": 0,
        "columns": sh.columns,
        "ignored_columns": sh.unknown_headers,
        "skipped_total_rows": sh.skipped_rows,
        "example_rows": sh.example_rows,
    }
    preview = check.result.preview
    rows = sh.stream if sh.stream is not None else iter(sh.rows)
    if sh.kind != "patrols":  # incidents: chunks checked in ``jobs`` worker processes, taken in order
        chunks = (
            [(r.row, r.values) for r in chunk]
            for chunk in iter(lambda: list(itertools.islice(rows, CHUNK)), [])
        )
        job = _IncidentCheck(net, now, dist, sh.columns, sh.name)
        for blob, count, head, errs, n in ordered_map(_check_incidents, job, chunks, jobs):
            info["rows"] += n
            shown = preview.setdefault("incidents", [])
            shown += head[: PREVIEW_ROWS - len(shown)]
            check.incidents.add_pickled(blob, count)
            errors.extend(errs)
            if on_chunk is not None:
                on_chunk(n)
        return info
    while chunk := list(itertools.islice(rows, CHUNK)):  # patrols
        info["rows"] += len(chunk)
        good: list[Any] = []
        for r in chunk:
            rec, errs = validate_patrol(r.values, net, now, sh.columns, r.row, sh.name)
            if rec:
                good.append(rec)
                if rec.flags and flagged is not None:
                    flagged.append(
                        FieldError(
                            sh.columns.get("personnel", "personnel"),
                            "patrol.flag.few_personnel",
                            {"count": rec.personnel},
                            r.row,
                            sh.name,
                        )
                    )
            errors.extend(errs)
        shown = preview.setdefault("patrols", [])
        shown += [
            {**r.__dict__, "date": r.date.isoformat(), "roads": "、".join(r.roads)}
            for r in good[: PREVIEW_ROWS - len(shown)]
        ]
        check.patrols.add(good)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return info


@dataclass
class _IncidentCheck:
    net: RoadNetwork
    now: dt.datetime
    dist: float
    columns: dict[str, str]
    sheet: str | None


def _check_incidents(
    job: _IncidentCheck, rows: list[tuple[int, dict[str, Any]]]
) -> tuple[bytes, int, list[dict[str, Any]], list[FieldError], int]:
    """One chunk checked: its good records pickled for the spool (once, where they were made: a worker's result
    is not unpickled and pickled again), the first of them for the preview, its problems, its row count."""
    good, errs = validate_incidents(rows, job.net, job.now, job.dist, job.columns, job.sheet)
    blob = pickle.dumps(good, pickle.HIGHEST_PROTOCOL) if good else b""
    return blob, len(good), [dict(r) for r in good[:PREVIEW_ROWS]], errs, len(rows)
