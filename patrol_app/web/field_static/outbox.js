/* The outbox: every record the officer makes (patrol start/end, incident, photo, track batch) is written to
 * IndexedDB first and sent from there, in the order made, each with its own client_id (the API stores a
 * client_id once, so a resend after a lost answer never makes a duplicate).
 *
 * Record: {client_id, seq, kind, state: waiting|sending|sent|refused, reason, created_at, payload,
 *          patrol_client_id?, incident_client_id?, server_id?, result?, attempts, note?}
 * Photo originals are kept in the "blobs" store under the photo's client_id.
 */
(function (root) {
  "use strict";

  const DB_NAME = "patrol-field";
  let dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = idb.openDB(DB_NAME, 1, {
        upgrade(d) {
          d.createObjectStore("meta");
          const ob = d.createObjectStore("outbox", { keyPath: "client_id" });
          ob.createIndex("seq", "seq");
          d.createObjectStore("blobs");
        },
      });
    }
    return dbPromise;
  }

  async function getMeta(key) { return (await db()).get("meta", key); }
  async function setMeta(key, value) { return (await db()).put("meta", value, key); }
  async function delMeta(key) { return (await db()).delete("meta", key); }

  function uuid() {
    if (root.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /* Queue a record (and, for a photo, its original file) in one transaction. */
  async function add(rec, blob) {
    const d = await db();
    const tx = d.transaction(["meta", "outbox", "blobs"], "readwrite");
    const seq = ((await tx.objectStore("meta").get("seq")) || 0) + 1;
    await tx.objectStore("meta").put(seq, "seq");
    rec = Object.assign({ client_id: uuid(), state: "waiting", reason: "", attempts: 0,
      created_at: new Date().toISOString() }, rec, { seq });
    await tx.objectStore("outbox").put(rec);
    if (blob) await tx.objectStore("blobs").put(blob, rec.client_id);
    await tx.done;
    changed();
    return rec;
  }

  async function get(clientId) { return (await db()).get("outbox", clientId); }
  async function blob(clientId) { return (await db()).get("blobs", clientId); }

  async function update(clientId, changes) {
    const d = await db();
    const tx = d.transaction("outbox", "readwrite");
    const rec = await tx.store.get(clientId);
    if (!rec) { await tx.done; return null; }
    Object.assign(rec, typeof changes === "function" ? changes(rec) : changes);
    await tx.store.put(rec);
    await tx.done;
    changed();
    return rec;
  }

  async function remove(clientIds) {
    const d = await db();
    const tx = d.transaction(["outbox", "blobs"], "readwrite");
    for (const id of clientIds) {
      await tx.objectStore("outbox").delete(id);
      await tx.objectStore("blobs").delete(id);
    }
    await tx.done;
    changed();
  }

  async function all() { return (await db()).getAllFromIndex("outbox", "seq"); }

  async function pending() { return (await all()).filter((r) => r.state !== "sent"); }

  /* After a restart nothing is being sent: a record left "sending" is simply sent again (idempotent). */
  async function recover() {
    for (const r of await all()) if (r.state === "sending") await update(r.client_id, { state: "waiting" });
  }

  const listeners = new Set();
  function onChange(fn) { listeners.add(fn); }
  function changed() { for (const fn of listeners) try { fn(); } catch (e) { console.error(e); } }

  root.FieldOutbox = { db, getMeta, setMeta, delMeta, uuid, add, get, blob, update, remove, all, pending, recover,
    onChange };
})(typeof self !== "undefined" ? self : this);
