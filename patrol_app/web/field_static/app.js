/* 外业模式: the field page. Everything the officer records goes to the outbox (outbox.js) first and is sent by
 * sync.js; roads and the catalog (with the crew and vehicle registries) are kept on the device (IndexedDB, and the service worker's cache), so
 * after one sign-in with signal the page works without any. Texts come from FIELD_CONFIG.i18n (the server's
 * catalogs); the road position is computed here by geo.js before saving. */
(function () {
  "use strict";

  const CFG = self.FIELD_CONFIG;
  const O = self.FieldOutbox;
  const S = self.FieldSync;
  const G = self.FieldGeo;
  const WEATHER = ["sunny", "cloudy", "overcast", "light_rain", "heavy_rain", "fog"];
  const MEASURES = ["persuasion", "order_correct", "case", "transfer"];

  const app = {
    lang: localStorage.getItem("field.lang") || "zh",
    view: "patrol",
    session: null,
    roads: null, catalog: null, net: null,
    patrol: null,
    editing: null, // client_id of a refused record being edited
    position: null, // {lon, lat, accuracy_m, source, located}
    photos: [], // [{file, sha256, thumb, filename}]
    message: null,
  };

  /* ---------- texts ---------- */
  function t(key, params) {
    const cat = CFG.i18n[app.lang] || CFG.i18n.zh;
    let s = cat[key] ?? CFG.i18n.zh[key] ?? key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] ?? "") + "");
    return s;
  }

  /* ---------- DOM helper ---------- */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k in el && k !== "list" && k !== "form") el[k] = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (sel) => document.querySelector(sel);

  /* ---------- time ---------- */
  const pad = (n) => String(n).padStart(2, "0");
  function isoLocal(d) {
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:` +
      `${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  }
  const today = () => isoLocal(new Date()).slice(0, 10);
  const nowHM = () => isoLocal(new Date()).slice(11, 16);
  const showTime = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "");

  /* ---------- server ---------- */
  async function api(method, url, json) {
    const headers = { Accept: "application/json", "Accept-Language": app.lang === "en" ? "en" : "zh-CN" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && app.session) headers["X-CSRF-Token"] = app.session.csrf_token || "";
    const res = await fetch(url, { method, headers, credentials: "same-origin",
      body: json === undefined ? undefined : JSON.stringify(json) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  /* Fetch roads and catalog (through the service worker, which keeps a copy) into IndexedDB. */
  async function refreshData() {
    if (!navigator.onLine) return;
    await swReady();
    for (const [key, url] of [["roads", "/api/v1/roads"], ["catalog", "/api/v1/catalog"]]) {
      try {
        const r = await api("GET", url);
        if (r.status === 401) { S.state.signedOut = true; break; }
        if (r.ok && r.data) await O.setMeta("data." + key, r.data);
      } catch (e) { /* offline: keep the copy on the device */ }
    }
    await loadData();
  }

  async function loadData() {
    app.roads = await O.getMeta("data.roads");
    app.catalog = await O.getMeta("data.catalog");
    app.net = app.roads ? G.buildNetwork(app.roads) : null;
  }

  /* ---------- catalog helpers (tolerant of the API's list shapes) ---------- */
  function opt(x) {
    if (typeof x === "string") return { code: x, name: x };
    return { code: x.code ?? x.value ?? x.id, name: (app.lang === "en" && (x.name_en || x.label_en)) ||
      x.name_zh || x.name || x.label || x.code, basis: x.legal_basis || "" };
  }
  function types() {
    const c = app.catalog || {};
    return (c.types || c.violation_types || c.violations || []).map(opt);
  }
  function measures() {
    const c = app.catalog || {};
    const list = (c.measures || MEASURES).map(opt);
    return list.map((m) => (CFG.i18n.zh["measure." + m.code] ? { code: m.code, name: t("measure." + m.code) } : m));
  }
  /* the crew and vehicle registries come with the catalog */
  function personnel() {
    const r = app.catalog || {};
    return (r.personnel || []).filter((p) => p.active !== false);
  }
  function vehicles() {
    const r = app.catalog || {};
    return (r.vehicles || []).filter((v) => v.active !== false);
  }
  function weathers() {
    const c = app.catalog || {};
    return c.weather ? c.weather.map(opt) : WEATHER.map((w) => ({ code: w, name: t("weather." + w) }));
  }
  function typeName(code) {
    const x = types().find((y) => y.code === code);
    return x ? x.name : code;
  }

  function positionText(p) {
    if (!p) return "";
    return `${p.road_code} ${p.road_name} ${p.stake} ${t("side." + p.side)} · ` +
      t("fieldapp.offset", { m: p.offset_m.toFixed(1) }) + " · " + t("zone." + p.zone);
  }
  function zoneDetail(p) {
    if (!p || p.control_zone_m === null) return p && p.road_class === "village" ? t("fieldapp.no_zone_village") : "";
    return t("zone.detail", { road_class_text: t("class." + p.road_class), width: p.control_zone_m,
      half: p.half_road_land_m, assumed: p.half_road_land_assumed ? t("zone.assumed") : "", basis: p.legal_basis });
  }

  /* ---------- service worker ---------- */
  let swPromise = null;
  function registerSW() {
    if (!("serviceWorker" in navigator)) return Promise.resolve(null);
    if (!swPromise) {
      swPromise = navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch((e) => {
        console.warn("service worker", e);
        return null;
      });
    }
    return swPromise;
  }
  /* Resolves once a service worker controls the page (so that the data fetched next is cached by it). */
  async function swReady() {
    if (!("serviceWorker" in navigator) || !(await registerSW())) return;
    if (navigator.serviceWorker.controller) return;
    await Promise.race([
      new Promise((res) => navigator.serviceWorker.addEventListener("controllerchange", res, { once: true })),
      new Promise((res) => setTimeout(res, 8000)),
    ]);
  }

  /* ---------- track ---------- */
  const Track = {
    watch: null, timers: [], chain: Promise.resolve(),
    start() {
      if (!navigator.geolocation || this.watch !== null) return;
      const o = { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 };
      this.watch = navigator.geolocation.watchPosition((p) => this.add(p), () => {}, o);
      this.timers.push(setInterval(() => navigator.geolocation.getCurrentPosition((p) => this.add(p), () => {}, o),
        CFG.track.interval_s * 1000));
      this.timers.push(setInterval(() => this.flush(), CFG.track.flush_s * 1000));
    },
    stop() {
      if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
      this.watch = null;
      this.timers.forEach(clearInterval);
      this.timers = [];
    },
    serial(fn) { this.chain = this.chain.then(fn).catch((e) => console.error(e)); return this.chain; },
    add(pos) {
      return this.serial(async () => {
        const patrol = await O.getMeta("patrol");
        if (!patrol) return;
        const buf = (await O.getMeta("track")) || { patrol_client_id: patrol.client_id, points: [], last: null,
          count: 0, metres: 0 };
        if (buf.patrol_client_id !== patrol.client_id) return;
        const pt = { t: isoLocal(new Date(pos.timestamp || Date.now())), lon: pos.coords.longitude,
          lat: pos.coords.latitude, accuracy_m: Math.round((pos.coords.accuracy ?? 0) * 10) / 10 };
        const last = buf.last;
        const d = last ? G.distanceM(last.lon, last.lat, pt.lon, pt.lat) : 0;
        const dt = last ? Date.parse(pt.t) - Date.parse(last.t) : Infinity;
        if (last && d < CFG.track.distance_m && dt < CFG.track.interval_s * 1000) return;
        buf.points.push(pt);
        buf.last = pt;
        buf.count += 1;
        buf.metres += d;
        await O.setMeta("track", buf);
        if (buf.points.length >= CFG.track.batch) await this.flushNow();
        renderPatrolStatus();
      });
    },
    flush() { return this.serial(() => this.flushNow()); },
    async flushNow() {
      const buf = await O.getMeta("track");
      if (!buf || !buf.points.length) return;
      const id = O.uuid();
      await O.add({ client_id: id, kind: "track", patrol_client_id: buf.patrol_client_id,
        payload: { batch_id: id, client_id: id, points: buf.points } });
      buf.points = [];
      await O.setMeta("track", buf);
      S.run();
    },
  };

  /* ---------- rendering ---------- */
  function render() {
    document.documentElement.lang = app.lang === "en" ? "en" : "zh-CN";
    document.title = t("fieldapp.title");
    const root = $("#app");
    root.replaceChildren();
    root.append(header());
    if (app.message) root.append(h("div", { class: "msg " + (app.message.kind || ""), role: "status" }, app.message.text));
    if (!app.session || S.state.signedOut) root.append(signInView());
    if (app.session) {
      root.append(tabs());
      if (app.view === "incident") root.append(incidentView());
      else if (app.view === "outbox") root.append(outboxView());
      else root.append(patrolView());
    }
    updateBadge();
  }

  function header() {
    return h("header", { class: "top" },
      h("div", { class: "brand" }, h("img", { src: "/field/static/icons/icon-192.png", alt: "", width: 32, height: 32 }),
        h("span", {}, t("fieldapp.title"))),
      h("span", { id: "net", class: "net" }),
      h("button", { id: "badge", class: "badge", type: "button", onclick: () => go("outbox") }),
      app.session ? h("span", { class: "who" }, app.session.display_name || app.session.user) : null,
      h("button", { class: "lang", type: "button", onclick: () => { app.lang = app.lang === "zh" ? "en" : "zh";
        localStorage.setItem("field.lang", app.lang); render(); } }, app.lang === "zh" ? "EN" : "中文"),
      app.session ? h("button", { class: "quiet", type: "button", onclick: signOut }, t("fieldapp.sign_out")) : null);
  }

  async function updateBadge() {
    const list = await O.all();
    const pending = list.filter((r) => r.state !== "sent").length;
    const refused = list.filter((r) => r.state === "refused").length;
    const b = $("#badge");
    if (b) {
      b.textContent = pending ? t("fieldapp.pending", { n: pending }) : t("fieldapp.all_sent");
      b.classList.toggle("warn", refused > 0);
      b.dataset.pending = pending;
    }
    const n = $("#net");
    if (n) {
      n.textContent = navigator.onLine ? t("fieldapp.online") : t("fieldapp.offline");
      n.classList.toggle("off", !navigator.onLine);
    }
    if (app.view === "outbox" && $("#outbox-list")) renderOutboxList();
  }

  function tabs() {
    const tab = (v, label) => h("button", { type: "button", class: "tab" + (app.view === v ? " on" : ""),
      "aria-pressed": app.view === v ? "true" : "false", onclick: () => go(v) }, label);
    return h("nav", { class: "tabs" }, tab("patrol", t("fieldapp.tab_patrol")),
      tab("incident", t("fieldapp.tab_incident")), tab("outbox", t("fieldapp.tab_outbox")));
  }

  function go(v) {
    app.view = v;
    app.message = null;
    render();
    window.scrollTo(0, 0);
  }

  function say(text, kind) { app.message = { text, kind }; }

  /* ----- sign in ----- */
  function signInView() {
    const expired = app.session && S.state.signedOut;
    const form = h("form", { class: "card", id: "sign-in", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      if (!navigator.onLine) { say(t("fieldapp.need_network"), "error"); render(); return; }
      let r;
      try { r = await api("POST", "/api/v1/session", { username: f.username.value, password: f.password.value }); }
      catch (err) { say(t("fieldapp.need_network"), "error"); render(); return; }
      if (!r.ok) {
        say((r.data && (r.data.message || (r.data.errors && r.data.errors.map((x) => x.message).join("；")))) ||
          t("fieldapp.sign_in_failed"), "error");
        render();
        return;
      }
      app.session = { user: r.data.user, display_name: r.data.display_name, role: r.data.role,
        csrf_token: r.data.csrf_token, username: f.username.value };
      await O.setMeta("session", app.session);
      app.message = null;
      S.start();
      await S.signedIn();
      await refreshData();
      S.run();
      render();
    } },
    h("h2", {}, expired ? t("fieldapp.session_ended") : t("fieldapp.sign_in_title")),
    h("p", { class: "hint" }, expired ? t("fieldapp.session_ended_hint") : t("fieldapp.sign_in_hint")),
    h("label", {}, t("fieldapp.username"), h("input", { name: "username", autocomplete: "username", required: true,
      value: (app.session && app.session.username) || "" })),
    h("label", {}, t("fieldapp.password"), h("input", { name: "password", type: "password",
      autocomplete: "current-password", required: true })),
    h("button", { type: "submit", class: "primary" }, t("fieldapp.sign_in")));
    return form;
  }

  async function signOut() {
    const pending = (await O.pending()).length;
    if (pending && !confirm(t("fieldapp.sign_out_pending", { n: pending }))) return;
    try { await api("DELETE", "/api/v1/session"); } catch (e) { /* offline: the cookie ends by itself */ }
    await O.delMeta("session");
    app.session = null;
    S.state.signedOut = false;
    render();
  }

  /* ----- patrol ----- */
  function chips(name, items, selected) {
    return h("div", { class: "chips", role: "group" }, items.map((it) => h("label", { class: "chip" },
      h("input", { type: "checkbox", name, value: String(it.value), checked: selected.includes(String(it.value)) }),
      h("span", {}, it.label))));
  }
  const checked = (form, name) => Array.from(form.querySelectorAll(`input[name="${name}"]:checked`), (x) => x.value);

  function patrolView() {
    if (!app.net) return h("div", { class: "card" }, h("p", {}, t("fieldapp.no_data")));
    if (app.patrol) return runningView();
    const rec = app.editing ? app.editingRec : null;
    const last = app.lastPatrol || (app.catalog && app.catalog.defaults) || {};
    const pre = rec ? Object.assign({ date: rec.payload.started_at.slice(0, 10),
      start_time: rec.payload.started_at.slice(11, 16) }, rec.payload) :
      { date: today(), start_time: nowHM(), roads: last.roads || [], crew: last.crew || [],
        vehicles: last.vehicles || [], weather: "", notes: "" };
    const form = h("form", { class: "card", id: "patrol-form", onsubmit: startPatrol },
      h("h2", {}, rec ? t("fieldapp.edit_patrol") : t("fieldapp.start_title")),
      h("div", { class: "row" },
        h("label", {}, t("fieldapp.date"), h("input", { type: "date", name: "date", value: pre.date, required: true })),
        h("label", {}, t("fieldapp.start_time"), h("input", { type: "time", name: "start_time", value: pre.start_time,
          required: true }))),
      h("fieldset", {}, h("legend", {}, t("fieldapp.roads")),
        chips("roads", app.net.routes.map((r) => ({ value: r.code, label: `${r.code} ${r.name}` })),
          (pre.roads || []).map(String))),
      h("fieldset", {}, h("legend", {}, t("fieldapp.crew")),
        chips("crew", personnel().map((p) => ({ value: p.id, label: p.name + (p.auxiliary ? "（" +
          t("fieldapp.auxiliary") + "）" : "") })), (pre.crew || []).map(String))),
      h("fieldset", {}, h("legend", {}, t("fieldapp.vehicles")),
        chips("vehicles", vehicles().map((v) => ({ value: v.id, label: v.plate + (v.kind ? " " + v.kind : "") })),
          (pre.vehicles || []).map(String))),
      h("label", {}, t("fieldapp.weather"), h("select", { name: "weather" }, h("option", { value: "" }, "—"),
        weathers().map((w) => h("option", { value: w.code, selected: pre.weather === w.code }, w.name)))),
      h("label", {}, t("fieldapp.notes"), h("textarea", { name: "notes", rows: 2, value: pre.notes || "" })),
      h("button", { type: "submit", class: "primary big" }, rec ? t("fieldapp.save_changes") : t("fieldapp.start")));
    return form;
  }

  async function startPatrol(e) {
    e.preventDefault();
    const f = e.target;
    const roads = checked(f, "roads");
    const crew = checked(f, "crew").map(Number);
    const veh = checked(f, "vehicles").map(Number);
    const problems = [];
    if (!roads.length) problems.push(t("fieldapp.need_roads"));
    if (!veh.length) problems.push(t("fieldapp.need_vehicle"));
    const officers = personnel().filter((p) => crew.includes(Number(p.id)) && !p.auxiliary);
    if (officers.length < 2) problems.push(t("fieldapp.need_two_officers", { n: officers.length }));
    if (problems.length) { say(problems.join("；"), "error"); render(); return; }
    const started = new Date(`${f.date.value}T${f.start_time.value}:00`);
    const payload = { started_at: isoLocal(started), roads, crew, vehicles: veh, notes: f.notes.value };
    if (f.weather.value) payload.weather = f.weather.value;
    await O.setMeta("last_patrol", { roads, crew, vehicles: veh });
    if (app.editing) {
      await O.update(app.editing, (r) => ({ payload: Object.assign({}, payload, { client_id: r.client_id }),
        state: "waiting", reason: "" }));
      app.editing = null;
      say(t("fieldapp.changes_saved"), "ok");
      app.view = "outbox";
      render();
      S.run();
      return;
    }
    const id = O.uuid();
    payload.client_id = id;
    await O.add({ client_id: id, kind: "patrol_start", payload });
    app.patrol = { client_id: id, date: f.date.value, start_time: f.start_time.value, roads };
    await O.setMeta("patrol", app.patrol);
    await O.setMeta("track", { patrol_client_id: id, points: [], last: null, count: 0, metres: 0 });
    Track.start();
    say(t("fieldapp.patrol_started"), "ok");
    render();
    S.run();
  }

  function runningView() {
    const p = app.patrol;
    return h("div", { class: "card", id: "patrol-running" },
      h("h2", {}, t("fieldapp.running")),
      h("p", {}, t("fieldapp.running_detail", { date: p.date, time: p.start_time, roads: p.roads.join("、") })),
      h("p", { id: "track-status", class: "hint" }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary big", onclick: () => go("incident") }, t("fieldapp.log_incident")),
        h("button", { type: "button", class: "big", id: "end-patrol", onclick: endPatrol }, t("fieldapp.end"))));
  }

  async function renderPatrolStatus() {
    const el = $("#track-status");
    if (!el) return;
    const buf = await O.getMeta("track");
    el.textContent = t("fieldapp.track_status", { n: buf ? buf.count : 0,
      km: buf ? (buf.metres / 1000).toFixed(2) : "0.00" });
  }

  async function endPatrol() {
    const time = prompt(t("fieldapp.end_time_prompt"), nowHM());
    if (time === null) return;
    if (!/^\d{1,2}:\d{2}$/.test(time.trim())) { say(t("fieldapp.bad_time"), "error"); render(); return; }
    await Track.flush();
    Track.stop();
    const p = app.patrol;
    const buf = (await O.getMeta("track")) || { metres: 0, count: 0 };
    const id = O.uuid();
    const [hh, mm] = time.trim().split(":").map(Number);
    const ended = new Date();
    ended.setHours(hh, mm, 0, 0);
    // no km given: the server derives it from the track when one arrived, else from the declared roads
    const payload = { ended_at: isoLocal(ended) };
    await O.add({ client_id: id, kind: "patrol_end", patrol_client_id: p.client_id, payload,
      device_km: Math.round(buf.metres / 100) / 10 });
    await O.delMeta("patrol");
    await O.delMeta("track");
    app.patrol = null;
    say(t("fieldapp.patrol_ended"), "ok");
    render();
    S.run();
  }

  /* ----- incident ----- */
  let map = null;
  let marker = null;

  function incidentView() {
    if (!app.net) return h("div", { class: "card" }, h("p", {}, t("fieldapp.no_data")));
    const rec = app.editing ? app.editingRec : null;
    const pre = rec ? rec.payload : {};
    const typeOpts = types();
    const form = h("form", { class: "card", id: "incident-form", onsubmit: saveIncident },
      h("h2", {}, rec ? t("fieldapp.edit_incident") : t("fieldapp.incident_title")),
      app.patrol ? h("p", { class: "hint" }, t("fieldapp.in_patrol", { roads: app.patrol.roads.join("、") })) :
        h("p", { class: "hint" }, t("fieldapp.no_patrol")),
      h("label", {}, t("fieldapp.type"), h("select", { name: "type", required: true },
        h("option", { value: "" }, t("fieldapp.choose")),
        typeOpts.map((x) => h("option", { value: x.code, selected: pre.type === x.code }, x.name)))),
      h("label", {}, t("fieldapp.description"), h("textarea", { name: "description", rows: 3, required: true,
        value: pre.description || "" })),
      h("label", {}, t("fieldapp.party"), h("input", { name: "party", value: pre.party || "" })),
      h("div", { class: "row" },
        h("label", {}, t("fieldapp.measure"), h("select", { name: "measure", onchange: (e) => {
          $("#deadline-wrap").hidden = e.target.value !== "order_correct"; } },
          h("option", { value: "" }, "—"),
          measures().map((m) => h("option", { value: m.code, selected: pre.measure === m.code }, m.name)))),
        h("label", { id: "deadline-wrap", hidden: pre.measure !== "order_correct" }, t("fieldapp.deadline"),
          h("input", { type: "date", name: "deadline", value: pre.deadline || "" }))),
      h("fieldset", { class: "where" }, h("legend", {}, t("fieldapp.position")),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "big", id: "gps", onclick: useGps }, t("fieldapp.gps")),
          h("button", { type: "button", class: "big", id: "show-map", onclick: showMap }, t("fieldapp.map_tap"))),
        h("div", { id: "map", hidden: true }),
        h("div", { id: "verdict", class: "verdict", "aria-live": "polite" })),
      h("fieldset", {}, h("legend", {}, t("fieldapp.photos")),
        h("label", { class: "filebtn big" }, t("fieldapp.take_photo"),
          h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, id: "photo-input",
            onchange: addPhotos })),
        h("div", { id: "thumbs", class: "thumbs" })),
      h("button", { type: "submit", class: "primary big", id: "save-incident" },
        rec ? t("fieldapp.save_changes") : t("fieldapp.save_incident")));
    if (rec && pre.lon != null) {
      app.position = { lon: pre.lon, lat: pre.lat, accuracy_m: pre.accuracy_m, source: rec.position_source || "gps" };
    }
    setTimeout(() => { showVerdict(); renderThumbs(); }, 0);
    return form;
  }

  function useGps() {
    const v = $("#verdict");
    if (!navigator.geolocation) { v.textContent = t("fieldapp.gps_unavailable"); return; }
    v.textContent = t("fieldapp.locating");
    navigator.geolocation.getCurrentPosition((p) => {
      app.position = { lon: p.coords.longitude, lat: p.coords.latitude,
        accuracy_m: Math.round(p.coords.accuracy * 10) / 10, source: "gps" };
      showVerdict();
      if (map) placeMarker();
    }, (err) => { v.textContent = t("fieldapp.gps_failed", { message: err.message }); },
    // a fix up to 5 s old is taken as it is (the track's watch keeps one fresh while a patrol runs)
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 5000 });
  }

  const ROAD_COLOURS = { national: "#c0392b", provincial: "#d35400", county: "#1f5fbf", township: "#16a085",
    village: "#7f8c8d", special: "#8e44ad" };

  function showMap() {
    const el = $("#map");
    el.hidden = false;
    if (map) { map.remove(); map = null; }
    map = L.map(el, { zoomControl: true, attributionControl: false, preferCanvas: true });
    const layers = [];
    for (const r of app.net.routes) {
      for (const line of r.lines) {
        layers.push(L.polyline(line.map((c) => [c[1], c[0]]), { color: ROAD_COLOURS[r.road_class] || "#555",
          weight: 4 }).bindTooltip(`${r.code} ${r.name}`));
      }
    }
    const group = L.featureGroup(layers).addTo(map);
    if (app.position) map.setView([app.position.lat, app.position.lon], 17);
    else map.fitBounds(group.getBounds());
    map.on("click", (e) => {
      app.position = { lon: Math.round(e.latlng.lng * 1e7) / 1e7, lat: Math.round(e.latlng.lat * 1e7) / 1e7,
        accuracy_m: null, source: "map" };
      showVerdict();
      placeMarker();
    });
    if (app.position) placeMarker();
    window.fieldMap = map;
    el.scrollIntoView({ block: "nearest" });
  }

  function placeMarker() {
    if (!map || !app.position) return;
    const ll = [app.position.lat, app.position.lon];
    if (marker) marker.setLatLng(ll); else marker = L.circleMarker(ll, { radius: 9, color: "#e74c3c" }).addTo(map);
    if (!marker._map) marker.addTo(map);
  }

  function showVerdict() {
    const v = $("#verdict");
    if (!v) return;
    v.replaceChildren();
    const p = app.position;
    if (!p) { v.append(h("p", { class: "hint" }, t("fieldapp.no_position"))); return; }
    const where = p.source === "gps" ? t("fieldapp.gps_at", { lon: p.lon.toFixed(6), lat: p.lat.toFixed(6),
      acc: p.accuracy_m }) : t("fieldapp.map_at", { lon: p.lon.toFixed(6), lat: p.lat.toFixed(6) });
    v.append(h("p", {}, where));
    if (p.source === "gps" && p.accuracy_m > CFG.rules.gps_warn_accuracy_m) {
      v.append(h("p", { class: "warn" }, t("fieldapp.gps_poor", { acc: p.accuracy_m })));
    }
    p.located = G.locate(app.net, p.lon, p.lat);
    if (!p.located) {
      v.append(h("p", { class: "error", id: "no-road" }, t("fieldapp.no_road", { m: CFG.rules.max_distance_m })));
      return;
    }
    v.append(h("p", { class: "stake", id: "stake-text" }, positionText(p.located)));
    const d = zoneDetail(p.located);
    if (d) v.append(h("p", { class: "hint" }, d));
  }

  async function sha256Hex(buf) {
    const d = await crypto.subtle.digest("SHA-256", buf);
    return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function thumbnail(file) {
    const bmp = await createImageBitmap(file);
    const scale = Math.min(1, 320 / Math.max(bmp.width, bmp.height));
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(bmp.width * scale));
    c.height = Math.max(1, Math.round(bmp.height * scale));
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    bmp.close && bmp.close();
    return c.toDataURL("image/jpeg", 0.7);
  }

  async function addPhotos(e) {
    const files = Array.from(e.target.files || []);
    for (const file of files) {
      const sha = await sha256Hex(await file.arrayBuffer());
      let thumb = null;
      try { thumb = await thumbnail(file); } catch (err) { thumb = null; }
      if (!app.photos.some((p) => p.sha256 === sha)) {
        app.photos.push({ file, sha256: sha, thumb, filename: file.name || "photo.jpg", size: file.size,
          type: file.type });
      }
    }
    e.target.value = "";
    renderThumbs();
  }

  function renderThumbs() {
    const el = $("#thumbs");
    if (!el) return;
    el.replaceChildren(...app.photos.map((p, i) => h("figure", { class: "thumb" },
      p.thumb ? h("img", { src: p.thumb, alt: p.filename }) : h("span", {}, p.filename),
      h("button", { type: "button", class: "x", "aria-label": t("fieldapp.remove_photo"), onclick: () => {
        app.photos.splice(i, 1); renderThumbs(); } }, "×"))));
  }

  async function saveIncident(e) {
    e.preventDefault();
    const f = e.target;
    const p = app.position;
    if (!p || !p.located) { say(t("fieldapp.need_position"), "error"); showVerdict(); render(); return; }
    if (f.measure.value === "order_correct" && !f.deadline.value) {
      say(t("fieldapp.need_deadline"), "error"); render(); return;
    }
    const loc = p.located;
    const payload = { type: f.type.value, found_at: isoLocal(new Date()), lon: p.lon, lat: p.lat,
      accuracy_m: p.accuracy_m, location_method: p.source, description: f.description.value, party: f.party.value,
      measure: f.measure.value || null, device_road_code: loc.road_code, device_chainage_m: loc.chainage_m,
      device_stake: loc.stake };
    if (f.deadline.value && f.measure.value === "order_correct") payload.deadline = f.deadline.value;
    if (app.editing) {
      await O.update(app.editing, (r) => ({ payload: Object.assign({}, r.payload, payload, { client_id: r.client_id,
        found_at: r.payload.found_at }), position_source: p.source, located: loc, state: "waiting", reason: "" }));
      app.editing = null;
      app.position = null;
      say(t("fieldapp.changes_saved"), "ok");
      app.view = "outbox";
      render();
      S.run();
      return;
    }
    const id = O.uuid();
    payload.client_id = id;
    const patrolId = app.patrol ? app.patrol.client_id : null;
    if (patrolId) payload.patrol_client_id = patrolId;
    await O.add({ client_id: id, kind: "incident", payload, patrol_client_id: patrolId, position_source: p.source,
      located: loc, type_name: typeName(payload.type) });
    for (const ph of app.photos) {
      await O.add({ kind: "photo", incident_client_id: id, sha256: ph.sha256, filename: ph.filename, size: ph.size,
        content_type: ph.type, thumb: ph.thumb }, ph.file);
    }
    const n = app.photos.length;
    app.photos = [];
    app.position = null;
    say(t("fieldapp.incident_saved", { stake: `${loc.road_code} ${loc.stake}`, n }), "ok");
    render();
    S.run();
  }

  /* ----- outbox ----- */
  function outboxView() {
    return h("div", { class: "card", id: "outbox" },
      h("h2", {}, t("fieldapp.outbox_title")),
      h("p", { class: "hint" }, t("fieldapp.outbox_hint")),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary big", id: "send-now", onclick: () => { S.signedIn(); } },
          t("fieldapp.send_now")),
        h("button", { type: "button", class: "big", onclick: clearSent }, t("fieldapp.clear_sent"))),
      h("ul", { id: "outbox-list", class: "outbox" }));
  }

  const KIND = { patrol_start: "fieldapp.kind_patrol_start", patrol_end: "fieldapp.kind_patrol_end",
    incident: "fieldapp.kind_incident", photo: "fieldapp.kind_photo", track: "fieldapp.kind_track" };

  function summary(r) {
    if (r.kind === "patrol_start") return `${showTime(r.payload.started_at)} · ${r.payload.roads.join("、")}`;
    if (r.kind === "patrol_end") return t("fieldapp.end_at", { time: showTime(r.payload.ended_at) });
    if (r.kind === "track") return t("fieldapp.track_points", { n: r.payload.points.length });
    if (r.kind === "photo") return `${r.filename} · ${(r.size / 1024 / 1024).toFixed(1)} MB`;
    if (r.kind === "incident") {
      const res = r.state === "sent" && r.result ? r.result : null;
      const where = res && res.stake ? `${res.road_code} ${res.stake}` : r.located ? `${r.located.road_code} ${r.located.stake}` : "";
      return `${typeName(r.payload.type)} · ${where} · ${showTime(r.payload.found_at)}`;
    }
    return "";
  }

  async function renderOutboxList() {
    const el = $("#outbox-list");
    if (!el) return;
    const list = await O.all();
    if (!list.length) { el.replaceChildren(h("li", { class: "empty" }, t("fieldapp.outbox_empty"))); return; }
    el.replaceChildren(...list.slice().reverse().map((r) => {
      const stateText = t("fieldapp.state_" + r.state);
      const buttons = [];
      if (r.state === "refused" && (r.kind === "incident" || r.kind === "patrol_start")) {
        buttons.push(h("button", { type: "button", onclick: () => edit(r) }, t("fieldapp.edit")));
      }
      if (r.state === "refused") {
        buttons.push(h("button", { type: "button", onclick: async () => {
          await O.update(r.client_id, { state: "waiting", reason: "" }); S.signedIn(); } }, t("fieldapp.retry")));
      }
      if (r.state === "waiting" || r.state === "refused") {
        buttons.push(h("button", { type: "button", class: "danger", onclick: () => removeRecord(r) }, t("fieldapp.delete")));
      }
      return h("li", { class: "rec " + r.state, "data-kind": r.kind, "data-state": r.state, "data-client-id": r.client_id },
        r.thumb ? h("img", { src: r.thumb, alt: "", class: "mini" }) : null,
        h("div", { class: "body" },
          h("div", {}, h("strong", {}, t(KIND[r.kind] || r.kind)), " ", summary(r)),
          h("div", { class: "state" }, h("span", { class: "chip-state " + r.state }, stateText),
            r.state === "sent" && r.server_id != null ? " " + t("fieldapp.server_no", { id: r.server_id }) : "",
            r.state === "sent" && r.result && r.result.relocated ? h("span", { class: "warn" }, " " +
              t("fieldapp.relocated", { device: r.result.relocated.device.stake, server: r.result.relocated.server.stake,
                road: r.result.relocated.server.road_code })) : "",
            r.reason ? h("span", { class: "reason" }, " " + r.reason) : "",
            r.note && r.state !== "sent" ? h("span", { class: "note" }, " " + t(r.note)) : "")),
        buttons.length ? h("div", { class: "actions" }, buttons) : null);
    }));
  }

  async function edit(r) {
    app.editing = r.client_id;
    app.editingRec = r;
    app.photos = [];
    app.position = null;
    app.view = r.kind === "incident" ? "incident" : "patrol";
    if (r.kind === "patrol_start") app.patrol = null;
    render();
  }

  async function removeRecord(r) {
    if (!confirm(t("fieldapp.delete_confirm"))) return;
    const ids = [r.client_id];
    for (const x of await O.all()) {
      if (x.state === "sent") continue;
      if (r.kind === "incident" && x.incident_client_id === r.client_id) ids.push(x.client_id);
      if (r.kind === "patrol_start" && x.patrol_client_id === r.client_id && x.kind !== "incident") ids.push(x.client_id);
      if (r.kind === "patrol_start" && x.kind === "incident" && x.patrol_client_id === r.client_id) {
        await O.update(x.client_id, (y) => { delete y.payload.patrol_client_id; return { patrol_client_id: null }; });
      }
    }
    await O.remove(ids);
    if (r.kind === "patrol_start" && app.patrol && app.patrol.client_id === r.client_id) {
      Track.stop(); await O.delMeta("patrol"); await O.delMeta("track"); app.patrol = null;
    }
    renderOutboxList();
  }

  async function clearSent() {
    await O.remove((await O.all()).filter((r) => r.state === "sent").map((r) => r.client_id));
    renderOutboxList();
  }

  /* ---------- start ---------- */
  async function main() {
    registerSW();
    app.session = (await O.getMeta("session")) || null;
    app.patrol = (await O.getMeta("patrol")) || null;
    app.lastPatrol = (await O.getMeta("last_patrol")) || null;
    await loadData();
    render();
    O.onChange(() => updateBadge());
    S.onChange(() => {
      // signed out while sending: ask for the password above whatever the officer is doing (no re-render)
      if (S.state.signedOut && !$("#sign-in")) $("header.top").after(signInView());
      updateBadge();
    });
    addEventListener("online", () => { updateBadge(); if (app.session && !app.net) refreshData().then(render); });
    addEventListener("offline", updateBadge);
    if (app.session) {
      S.start();
      if (app.patrol) { Track.start(); renderPatrolStatus(); }
      const hadNet = !!app.net;
      refreshData().then(() => { if (!hadNet) render(); });
    }
    window.fieldApp = { app, Track, render, refreshData };
  }

  main();
})();
