/* Sending the outbox: starts by itself when the network returns (online event) and retries with backoff
 * while anything waits; one record at a time, in the order made. A record that needs another one's server id
 * (a patrol's end or track, an incident's photos) waits for it. The API answers a resent client_id with the
 * stored record, so a record whose answer was lost is simply sent again.
 *
 * Answers: 2xx sent; 401 signed out (records wait; the page asks to sign in again); 400/403/404/409/413/422
 * refused with the server's reason (the record stays on the device, editable); anything else, or no answer,
 * is an interruption: the record waits and the next attempt follows after a backoff.
 */
(function (root) {
  "use strict";

  const O = root.FieldOutbox;
  const MIN_DELAY = 2000;
  const MAX_DELAY = 60000;
  let delay = MIN_DELAY;
  let timer = null;
  let running = null;
  const state = { signedOut: false, lastError: "" };
  const listeners = new Set();

  function notify() { for (const fn of listeners) try { fn(state); } catch (e) { console.error(e); } }

  async function csrf() { return ((await O.getMeta("session")) || {}).csrf_token || ""; }

  /* The request for a record, or {wait: note} while a record it needs has no server id yet. */
  async function request(rec) {
    const dep = async (clientId) => {
      const d = clientId ? await O.get(clientId) : null;
      if (!clientId) return { id: null };
      if (!d) return { missing: true };
      if (d.state === "sent" && d.server_id != null) return { id: d.server_id };
      return { wait: true, rec: d };
    };
    if (rec.kind === "patrol_start") return { url: "/api/v1/patrols", json: rec.payload };
    if (rec.kind === "patrol_end" || rec.kind === "track") {
      const p = await dep(rec.patrol_client_id);
      if (p.wait || p.missing) return { wait: "fieldapp.wait_patrol" };
      const path = rec.kind === "track" ? "track" : "end";
      return { url: `/api/v1/patrols/${p.id}/${path}`, json: rec.payload };
    }
    if (rec.kind === "incident") {
      const json = Object.assign({}, rec.payload);
      if (rec.patrol_client_id) {
        const p = await dep(rec.patrol_client_id);
        if (p.wait) return { wait: "fieldapp.wait_patrol" };
        if (p.id != null) json.patrol_id = p.id;
      }
      return { url: "/api/v1/incidents", json };
    }
    if (rec.kind === "photo") {
      const i = await dep(rec.incident_client_id);
      if (i.wait || i.missing) return { wait: "fieldapp.wait_incident" };
      const file = await O.blob(rec.client_id);
      const form = new FormData();
      form.append("client_id", rec.client_id);
      form.append("sha256", rec.sha256);
      form.append("file", file, rec.filename || "photo.jpg");
      return { url: `/api/v1/incidents/${i.id}/photos`, form };
    }
    return { wait: "fieldapp.wait_unknown" };
  }

  /* The API's error shape: {status, code, message, errors: [{field, code, message}]} */
  function reasonOf(status, body) {
    if (body && Array.isArray(body.errors) && body.errors.length) {
      return body.errors.map((e) => (e.message || e.code || "") + "").filter(Boolean).join("；");
    }
    if (body && (body.message || body.detail || body.error)) {
      const m = body.message || body.detail || body.error;
      return typeof m === "string" ? m : JSON.stringify(m);
    }
    return "HTTP " + status;
  }

  const REFUSED = new Set([400, 403, 404, 405, 409, 410, 413, 415, 422]);

  async function sendOne(rec) {
    const req = await request(rec);
    if (req.wait) {
      if (rec.note !== req.wait) await O.update(rec.client_id, { note: req.wait });
      return "blocked";
    }
    await O.update(rec.client_id, { state: "sending", note: "", attempts: (rec.attempts || 0) + 1 });
    const headers = { "X-CSRF-Token": await csrf(), Accept: "application/json",
      "Accept-Language": localStorage.getItem("field.lang") === "en" ? "en" : "zh-CN" };
    let body;
    if (req.form) body = req.form;
    else { headers["Content-Type"] = "application/json"; body = JSON.stringify(req.json); }
    let res;
    try {
      res = await fetch(req.url, { method: "POST", headers, body, credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      await O.update(rec.client_id, { state: "waiting", note: "fieldapp.no_connection" });
      return "offline";
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.ok) {
      const id = data && (data.id ?? (data.item && data.item.id));
      await O.update(rec.client_id, { state: "sent", reason: "", note: "", server_id: id ?? null, result: data,
        sent_at: new Date().toISOString() });
      return "sent";
    }
    if (res.status === 401) {
      await O.update(rec.client_id, { state: "waiting", note: "fieldapp.sign_in_again" });
      state.signedOut = true;
      return "signed_out";
    }
    if (res.status === 409 && data && data.code === "api.patrol_not_received") {
      await O.update(rec.client_id, { state: "waiting", note: "fieldapp.wait_patrol" });
      return "offline";
    }
    if (REFUSED.has(res.status)) {
      await O.update(rec.client_id, { state: "refused", reason: reasonOf(res.status, data), note: "" });
      return "refused";
    }
    await O.update(rec.client_id, { state: "waiting", note: "fieldapp.server_busy" });
    return "offline";
  }

  /* One pass over the outbox; resolves to true when nothing is left to send now. */
  async function pass() {
    let interrupted = false;
    for (const rec of await O.all()) {
      if (rec.state !== "waiting") continue;
      if (state.signedOut || !navigator.onLine) { interrupted = true; break; }
      const r = await sendOne(rec);
      if (r === "offline" || r === "signed_out") { interrupted = true; break; }
    }
    const left = (await O.all()).filter((r) => r.state === "waiting");
    return !interrupted && left.every((r) => r.note && r.note.startsWith("fieldapp.wait_"));
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => { run(); }, ms);
  }

  /* Send what can be sent; reschedule with backoff while records wait. Safe to call any time. */
  function run() {
    if (running) return running;
    running = (async () => {
      try {
        const done = await pass();
        if (done) delay = MIN_DELAY;
        else delay = Math.min(delay * 2, MAX_DELAY);
        const waiting = (await O.all()).some((r) => r.state === "waiting");
        if (waiting && !state.signedOut) schedule(done ? MIN_DELAY * 5 : delay);
      } catch (e) {
        console.error(e);
        state.lastError = String(e);
        schedule(delay = Math.min(delay * 2, MAX_DELAY));
      } finally {
        running = null;
        notify();
      }
    })();
    return running;
  }

  let started = false;
  function start() {
    if (started) return;
    started = true;
    root.addEventListener("online", () => { delay = MIN_DELAY; run(); });
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") run(); });
    O.recover().then(run);
  }

  function signedIn() { state.signedOut = false; delay = MIN_DELAY; return run(); }

  root.FieldSync = { start, run, signedIn, state, onChange: (fn) => listeners.add(fn) };
})(typeof self !== "undefined" ? self : this);
