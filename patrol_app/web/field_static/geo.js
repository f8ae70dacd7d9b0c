/* Field page geometry, on the device: point -> road, chainage, stake, side, offset, zone verdict.
 *
 * The same computation as the server's gis.linref (nearest segment in a local transverse Mercator, chainage
 * along the route from its start stake, side by the cross product facing increasing chainage, zone from the
 * class widths in gis.zones, served in FIELD_CONFIG.rules), so the device shows before saving what the server
 * will store. Projection: GRS80 transverse Mercator, central meridian = mean longitude of the network rounded
 * to 0.001 deg, k = 1, false easting 500 km (gis.crs.local_metric_crs), by the Krueger series (sub-mm here).
 */
(function (root) {
  "use strict";

  const A = 6378137.0;
  const F = 1 / 298.257222101; // GRS80
  const N = F / (2 - F);
  const A_RECT = (A / (1 + N)) * (1 + (N * N) / 4 + (N ** 4) / 64);
  const ALPHA = [
    N / 2 - (2 * N * N) / 3 + (5 * N ** 3) / 16 + (41 * N ** 4) / 180,
    (13 * N * N) / 48 - (3 * N ** 3) / 5 + (557 * N ** 4) / 1440,
    (61 * N ** 3) / 240 - (103 * N ** 4) / 140,
    (49561 * N ** 4) / 161280,
  ];
  const E2N = (2 * Math.sqrt(N)) / (1 + N);
  const RAD = Math.PI / 180;

  function projector(cmDeg) {
    const lam0 = cmDeg * RAD;
    return function (lon, lat) {
      const phi = lat * RAD;
      const lam = lon * RAD - lam0;
      const s = Math.sin(phi);
      const t = Math.sinh(Math.atanh(s) - E2N * Math.atanh(E2N * s));
      const xi = Math.atan2(t, Math.cos(lam));
      const eta = Math.atanh(Math.sin(lam) / Math.sqrt(1 + t * t));
      let x = eta;
      let y = xi;
      for (let j = 1; j <= 4; j++) {
        x += ALPHA[j - 1] * Math.cos(2 * j * xi) * Math.sinh(2 * j * eta);
        y += ALPHA[j - 1] * Math.sin(2 * j * xi) * Math.cosh(2 * j * eta);
      }
      return [500000 + A_RECT * x, A_RECT * y];
    };
  }

  function parseStake(v) {
    if (v === null || v === undefined || v === "") return null;
    if (typeof v === "number") return v;
    const m = /^\s*K?\s*(\d+)\s*\+\s*(\d{1,3}(?:\.\d+)?)\s*M?\s*$/i.exec(String(v).normalize("NFKC"));
    if (!m) return null;
    return parseInt(m[1], 10) * 1000 + parseFloat(m[2]);
  }

  // Python's round() rounds halves to even; stakes are whole metres, so only exact .5 can differ.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function formatStake(ch) {
    const sign = ch < 0 ? "-" : "";
    const value = roundHalfEven(Math.abs(ch));
    const km = Math.floor(value / 1000);
    const m = value - km * 1000;
    return sign + "K" + km + "+" + String(m).padStart(3, "0");
  }

  function rules() {
    return (root.FIELD_CONFIG && root.FIELD_CONFIG.rules) || {};
  }

  /* gis.zones.zone_verdict (statutory minimum; a published control line is the server's answer) */
  function zoneVerdict(roadClass, offset, halfRoadLand) {
    const r = rules();
    const assumed = halfRoadLand === null || halfRoadLand === undefined;
    const half = assumed ? (r.default_half_road_land_m[roadClass] ?? 6.0) : Number(halfRoadLand);
    const width = r.control_zone_min_m[roadClass] ?? null;
    const line = width === null ? null : half + width;
    let zone, basis;
    if (roadClass === "village") { zone = "none"; basis = r.legal_basis_village; }
    else if (offset <= half) { zone = "road_land"; basis = r.legal_basis_road_land; }
    else if (line === null) { zone = "none"; basis = r.legal_basis_zone; }
    else if (offset <= line) { zone = "control_zone"; basis = r.legal_basis_zone; }
    else { zone = "outside"; basis = r.legal_basis_zone; }
    return { zone, in_control_zone: zone === "control_zone", control_zone_m: width, half_road_land_m: half,
      half_road_land_assumed: assumed, control_line_m: line, legal_basis: basis };
  }

  function linesOf(geom) {
    if (!geom) return [];
    if (geom.type === "LineString") return [geom.coordinates];
    if (geom.type === "MultiLineString") return geom.coordinates;
    return [];
  }

  /* Build the network from the GeoJSON of GET /api/v1/roads: one feature per route (or several per code, in
   * chainage order), lines in the route's forward direction. Properties understood: code, name, road_class or
   * class, start_m or start_stake, half_road_land_m, and m (the server's chainage at each vertex of a one-line
   * feature) or parts_start_m (the chainage at the start of each line). */
  function buildNetwork(fc) {
    const feats = (fc && fc.features) || [];
    let sum = 0;
    let count = 0;
    for (const f of feats) for (const line of linesOf(f.geometry)) for (const c of line) { sum += c[0]; count++; }
    if (!count) return null;
    const cm = Math.round((sum / count) * 1000) / 1000;
    const proj = projector(cm);
    const routes = [];
    const byCode = new Map();
    const seg = { x1: [], y1: [], x2: [], y2: [], ch0: [], len: [], route: [], lon1: [], lat1: [], lon2: [], lat2: [] };
    for (const f of feats) {
      const p = f.properties || {};
      const code = p.code || p.road_code;
      let r = byCode.get(code);
      if (!r) {
        const start = p.start_m ?? parseStake(p.start_stake) ?? 0;
        r = { code, name: p.name || "", road_class: p.road_class || p.class || "", half_road_land_m:
          p.half_road_land_m ?? null, start_m: start, end_m: start, next: start, index: routes.length, lines: [] };
        byCode.set(code, r);
        routes.push(r);
      }
      const lines = linesOf(f.geometry);
      const starts = p.parts_start_m || p.part_starts_m || null;
      // properties.m: the server's chainage at each vertex (one line per feature); else measured here
      const ms = Array.isArray(p.m) && lines.length === 1 && p.m.length === lines[0].length ? p.m : null;
      lines.forEach((line, i) => {
        let ch = ms ? Number(ms[0]) : starts && starts[i] !== undefined && starts[i] !== null ? Number(starts[i]) : r.next;
        r.lines.push(line);
        let prev = proj(line[0][0], line[0][1]);
        for (let k = 1; k < line.length; k++) {
          const cur = proj(line[k][0], line[k][1]);
          const len = Math.hypot(cur[0] - prev[0], cur[1] - prev[1]);
          const next = ms ? Number(ms[k]) : ch + len;
          if (len > 0) {
            seg.x1.push(prev[0]); seg.y1.push(prev[1]); seg.x2.push(cur[0]); seg.y2.push(cur[1]);
            seg.ch0.push(ch); seg.len.push(next - ch); seg.route.push(r.index);
            seg.lon1.push(line[k - 1][0]); seg.lat1.push(line[k - 1][1]);
            seg.lon2.push(line[k][0]); seg.lat2.push(line[k][1]);
          }
          ch = next;
          prev = cur;
        }
        r.next = ch;
        r.end_m = Math.max(r.end_m, ch);
      });
    }
    const arr = {};
    for (const k of Object.keys(seg)) arr[k] = k === "route" ? Int32Array.from(seg[k]) : Float64Array.from(seg[k]);
    return { cm, proj, routes, byCode, seg: arr, segmentCount: arr.x1.length };
  }

  /* gis.linref.locate: the nearest road within maxDistance metres, or null. */
  function locate(net, lon, lat, maxDistance) {
    if (!net) return null;
    const maxD = maxDistance ?? rules().max_distance_m ?? 100;
    const [px, py] = net.proj(lon, lat);
    const s = net.seg;
    let best = -1;
    let bestD2 = Infinity;
    let bestT = 0;
    for (let i = 0; i < s.x1.length; i++) {
      const ax = s.x1[i], ay = s.y1[i];
      const dx = s.x2[i] - ax, dy = s.y2[i] - ay;
      const l2 = dx * dx + dy * dy;
      let t = ((px - ax) * dx + (py - ay) * dy) / l2;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const fx = ax + t * dx - px, fy = ay + t * dy - py;
      const d2 = fx * fx + fy * fy;
      if (d2 < bestD2) { bestD2 = d2; best = i; bestT = t; }
    }
    if (best < 0 || Math.sqrt(bestD2) > maxD) return null;
    const i = best;
    const ax = s.x1[i], ay = s.y1[i];
    const dx = s.x2[i] - ax, dy = s.y2[i] - ay;
    const chain = s.ch0[i] + bestT * s.len[i];
    const offset = Math.sqrt(bestD2);
    const cross = dx * (py - ay) - dy * (px - ax);
    const r = net.routes[s.route[i]];
    const v = zoneVerdict(r.road_class, offset, r.half_road_land_m);
    return Object.assign({
      road_code: r.code, road_name: r.name, road_class: r.road_class,
      chainage_m: Math.round(chain * 10) / 10, stake: formatStake(chain),
      side: cross > 0 ? "left" : "right", offset_m: Math.round(offset * 10) / 10,
      lon, lat,
      road_lon: s.lon1[i] + bestT * (s.lon2[i] - s.lon1[i]),
      road_lat: s.lat1[i] + bestT * (s.lat2[i] - s.lat1[i]),
    }, v);
  }

  /* Ground distance in metres between two WGS-84 points (haversine), for track thinning and km. */
  function distanceM(lon1, lat1, lon2, lat2) {
    const p1 = lat1 * RAD, p2 = lat2 * RAD;
    const dp = p2 - p1, dl = (lon2 - lon1) * RAD;
    const h = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function trackKm(points) {
    let m = 0;
    for (let i = 1; i < points.length; i++) {
      m += distanceM(points[i - 1].lon, points[i - 1].lat, points[i].lon, points[i].lat);
    }
    return m / 1000;
  }

  root.FieldGeo = { projector, parseStake, formatStake, zoneVerdict, buildNetwork, locate, distanceM, trackKm };
})(typeof self !== "undefined" ? self : this);
