"""Replacing the road network from the app: read a road file, propose and apply a field mapping, preview the
new network against the current one (routes added / changed / removed, every problem, incidents that would be
located differently), then confirm in one audited transaction.

Field recognition is :func:`gis.roads.propose_mapping` — the same as ``patrol roads import``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.errors import GisError
from gis.linref import locate_arrays
from gis.roads import (
    FIELD_ROLES,
    RoadFile,
    RoadNetwork,
    RoadPiece,
    RoadProblem,
    parse_features,
    propose_mapping,
)
from gis.roads import read_road_features as _read
from gis.stakes import format_stake
from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm
from patrol_app.services.errors import ServiceError
from patrol_app.services.roads import import_roads
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import require
from patrol_app.storage.models import Incident, User

#: A route whose length or end stakes move by less than this is unchanged.
CHANGE_TOLERANCE_M = 1.0
#: An incident whose chainage would move by more than this (or onto another road, or out of reach) is listed.
RELOCATE_TOLERANCE_M = 5.0
#: Road files are read from these suffixes.
SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".shp")


def read_road_upload(path: str | Path, name: str | None = None) -> RoadFile:
    """Read an uploaded road file (GeoJSON, GeoPackage, zipped Shapefile). Raises ServiceError for a file that
    cannot be read."""
    p = Path(path)
    shown = name or p.name
    if p.suffix.lower() not in SUFFIXES:
        raise ServiceError("roads.error.format", file=shown)
    try:
        rf = _read(p, name=shown)
    except GisError as exc:
        raise ServiceError("roads.error.unreadable", file=shown, detail=str(exc)) from exc
    if not rf.features:
        raise ServiceError("roads.error.empty", file=shown)
    return rf


def proposed_mapping(rf: RoadFile) -> dict[str, str | None]:
    """The mapping ``patrol roads import`` would use without flags."""
    return propose_mapping(rf.fields)


@dataclass(frozen=True)
class RouteChange:
    code: str
    name: str
    road_class: str
    change: str  # added | changed | removed | same
    old_length_km: float | None = None
    new_length_km: float | None = None
    old_stakes: str = ""
    new_stakes: str = ""


@dataclass(frozen=True)
class Relocation:
    incident_id: int
    found_at: dt.datetime
    type_code: str
    old_road: str
    old_stake: str
    new_road: str | None  # None: no road of the new network in reach
    new_stake: str | None


@dataclass
class NetworkPreview:
    file: str
    mapping: dict[str, str | None]
    gcj02: bool
    pieces: list[RoadPiece]
    problems: list[RoadProblem]
    network: RoadNetwork | None
    changes: list[RouteChange] = field(default_factory=list)
    relocations: list[Relocation] = field(default_factory=list)
    incidents_checked: int = 0
    network_error: str | None = None  # the pieces could not be assembled into a network

    @property
    def errors(self) -> list[RoadProblem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[RoadProblem]:
        return [p for p in self.problems if not p.error]

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)


def preview_network(
    session: Session, actor: User, rf: RoadFile, mapping: dict[str, str | None], gcj02: bool = False
) -> NetworkPreview:
    """Everything the page shows before a network is replaced; writes nothing."""
    require(actor, Perm.MANAGE_ROADS)
    unknown = [v for v in mapping.values() if v and v not in rf.fields]
    if unknown:
        raise ServiceError("roads.error.no_field", field=unknown[0], fields="、".join(rf.fields))
    full = {role: mapping.get(role) for role in FIELD_ROLES}
    if not full["code"]:
        raise ServiceError("roads.error.code_field_required")
    pieces, problems = parse_features(rf.features, full, gcj02)
    pv = NetworkPreview(rf.name, full, gcj02, pieces, problems, None)
    if not pieces:
        return pv
    try:
        pv.network = RoadNetwork(pieces)
    except (GisError, ValueError) as exc:
        pv.network_error = str(exc)
        return pv
    current = _current(session)
    pv.changes = route_changes(current, pv.network)
    pv.relocations, pv.incidents_checked = relocations(session, actor, current, pv.network)
    return pv


def _current(session: Session) -> RoadNetwork | None:
    try:
        return store_network(session)
    except ServiceError:
        return None


def route_changes(old: RoadNetwork | None, new: RoadNetwork) -> list[RouteChange]:
    """Routes added, changed (length or start/end stake), removed and unchanged, by code."""
    out: list[RouteChange] = []
    old_codes = set(old.codes) if old else set()
    for code in sorted(old_codes | set(new.codes)):
        n = new.routes.get(code)
        o = old.routes.get(code) if old else None
        if n is not None:
            new_km, new_st = round(n.length_m / 1000, 3), f"{n.start_stake}–{n.end_stake}"
        if o is not None:
            old_km, old_st = round(o.length_m / 1000, 3), f"{o.start_stake}–{o.end_stake}"
        if o is None and n is not None:
            out.append(RouteChange(code, n.name, n.road_class, "added", None, new_km, "", new_st))
        elif n is None and o is not None:
            out.append(RouteChange(code, o.name, o.road_class, "removed", old_km, None, old_st, ""))
        elif n is not None and o is not None:
            moved = (
                abs(n.start_m - o.start_m) > CHANGE_TOLERANCE_M
                or abs(n.end_m - o.end_m) > CHANGE_TOLERANCE_M
                or n.road_class != o.road_class
                or n.name != o.name
                or len(n.parts) != len(o.parts)
                or n.half_road_land_m != o.half_road_land_m
            )
            out.append(
                RouteChange(
                    code, n.name, n.road_class, "changed" if moved else "same", old_km, new_km, old_st, new_st
                )
            )
    order = {"added": 0, "changed": 1, "removed": 2, "same": 3}
    return sorted(out, key=lambda c: (order[c.change], c.code))


def relocations(
    session: Session,
    actor: User,
    old: RoadNetwork | None,
    new: RoadNetwork,
    max_distance: float | None = None,
) -> tuple[list[Relocation], int]:
    """Incidents that the new network would locate differently from what they recorded (another road, a
    chainage more than :data:`RELOCATE_TOLERANCE_M` away, or no road in reach). Their records keep their stakes;
    this is for the administrator to know before confirming. Returns (list, incidents checked)."""
    require(actor, Perm.MANAGE_ROADS)
    rows = session.execute(
        select(
            Incident.id,
            Incident.lon,
            Incident.lat,
            Incident.road_code,
            Incident.chainage_m,
            Incident.stake,
            Incident.found_at,
            Incident.type_code,
            Incident.offset_m,
        ).order_by(Incident.id)
    ).all()
    if not rows:
        return [], 0
    dist = get_settings().max_distance_m if max_distance is None else max_distance
    n = len(rows)
    lon = np.array([r[1] for r in rows], dtype=float)
    lat = np.array([r[2] for r in rows], dtype=float)
    found = np.zeros(n, dtype=bool)
    chain = np.full(n, np.nan)
    new_road = np.full(n, None, dtype=object)
    # an incident recorded by road + stake (no offset) sits on its road's centreline: look for it on that road;
    # the others on the nearest road, as when they were logged
    groups: dict[str | None, list[int]] = {}
    for i, r in enumerate(rows):
        on_road = r[8] is None and r[3] in new.routes
        groups.setdefault(r[3] if on_road else None, []).append(i)
    for road, idx in groups.items():
        ix = np.array(idx)
        b = locate_arrays(new, lon[ix], lat[ix], dist, road)
        found[ix] = b.found
        chain[ix] = b.chainage_m
        codes = np.array(new.codes, dtype=object)
        new_road[ix] = np.where(b.found, codes[np.where(b.found, b.route_index, 0)], np.array(None))
    old_ch = np.array([r[4] for r in rows], dtype=float)
    old_road = np.array([r[3] for r in rows], dtype=object)
    differs = ~found | (new_road != old_road) | (np.abs(np.nan_to_num(chain) - old_ch) > RELOCATE_TOLERANCE_M)
    out = []
    for j in np.flatnonzero(differs):
        r = rows[int(j)]
        ok = bool(found[j])
        out.append(
            Relocation(
                int(r[0]),
                r[6],
                str(r[7]),
                str(r[3]),
                str(r[5]),
                str(new_road[j]) if ok else None,
                format_stake(float(chain[j])) if ok else None,
            )
        )
    return out, n


def confirm_network(
    session: Session, actor: User, pv: NetworkPreview, skip_bad: bool = False
) -> dict[str, Any]:
    """Replace the whole road network with the previewed one, in the caller's transaction (audited).

    Refused while the file has errors, unless ``skip_bad`` (the features with errors are left out, as the
    preview showed). Incidents keep their recorded stakes."""
    require(actor, Perm.MANAGE_ROADS)
    if pv.network is None or not pv.pieces:
        raise ServiceError("roads.error.nothing_to_import", file=pv.file)
    if pv.errors and not skip_bad:
        raise ServiceError("roads.error.has_errors", count=len(pv.errors))
    result = import_roads(session, actor, pv.pieces, source=pv.file, replace=True)
    from patrol_app.services import audit

    audit.record(
        session,
        actor,
        "roads.replace",
        "road_network",
        pv.file,
        after={
            "mapping": pv.mapping,
            "gcj02": pv.gcj02,
            "skipped_features": sorted({p.feature for p in pv.errors}),
            "added": pv.count("added"),
            "changed": pv.count("changed"),
            "removed": pv.count("removed"),
            "incidents_relocated": len(pv.relocations),
        },
    )
    return {**result, "relocated": len(pv.relocations)}
