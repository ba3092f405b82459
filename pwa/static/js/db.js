// The only module that touches IndexedDB (wittr / workbox QueueDb habit): database names,
// versions and the one upgrade function live here; everything else calls these functions.
//
// Two kinds of database:
//  * "danbing-device": this phone: its device id, who is logged in, who has used it.
//  * "danbing-user-<user id>": one per user, so a shared phone never shows one user's work
//    to the next, and logging out deletes nothing (unsent work waits for its owner).
import { openDB, deleteDB } from "../vendor/idb.js";

const DEVICE_DB = "danbing-device";
const USER_DB_VERSION = 1;

let deviceDb;
function device() {
  deviceDb = deviceDb || openDB(DEVICE_DB, 1, {
    upgrade(db) { db.createObjectStore("kv"); },
  });
  return deviceDb;
}

export async function deviceGet(key) { return (await device()).get("kv", key); }
export async function deviceSet(key, value) { return (await device()).put("kv", value, key); }
export async function deviceDel(key) { return (await device()).delete("kv", key); }

export function userDbName(userId) { return `danbing-user-${userId}`; }

// ---------------------------------------------------------------- the user's database

let current = null; // {userId, db}

export async function openUser(userId) {
  if (current && current.userId === userId) return current.db;
  closeUser();
  const db = await openDB(userDbName(userId), USER_DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        // Records as this phone knows them: {id, entity, data, version, deleted, pending, server}
        const records = db.createObjectStore("records", { keyPath: "id" });
        records.createIndex("entity", "entity");
        records.createIndex("pending", "pending");
        // Ops waiting to be pushed, in the order they were made.
        const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
        outbox.createIndex("record_id", "record_id");
        outbox.createIndex("state", "state");
        // Photos and voice notes (bytes kept as Blobs; Chromium stores them on disk).
        const uploads = db.createObjectStore("uploads", { keyPath: "sha256" });
        uploads.createIndex("state", "state");
        const conflicts = db.createObjectStore("conflicts", { keyPath: "key", autoIncrement: true });
        conflicts.createIndex("record_id", "record_id");
        db.createObjectStore("positions", { keyPath: "seq", autoIncrement: true });
        db.createObjectStore("meta"); // cursor, last sync, tokens, team list, change log ...
      }
    },
    blocked() { /* another tab holds an older version: it closes on versionchange */ },
  });
  db.addEventListener("versionchange", () => db.close());
  current = { userId, db };
  return db;
}

export function closeUser() {
  if (current) current.db.close();
  current = null;
}

function db() {
  if (!current) throw new Error("没有登录的用户");
  return current.db;
}

export const currentUserId = () => (current ? current.userId : null);

// ---- meta
export async function metaGet(key) { return db().get("meta", key); }
export async function metaSet(key, value) { return db().put("meta", value, key); }
export async function metaDel(key) { return db().delete("meta", key); }

// ---- records
export async function getRecord(id) { return db().get("records", id); }
export async function putRecord(rec) { return db().put("records", rec); }
export async function deleteRecord(id) { return db().delete("records", id); }
export async function recordsOf(entity) { return db().getAllFromIndex("records", "entity", entity); }
export async function allRecords() { return db().getAll("records"); }

// ---- outbox: a record and its op are written in one transaction, so neither exists alone.
export async function saveWithOp(rec, op) {
  const tx = db().transaction(["records", "outbox"], "readwrite");
  tx.objectStore("records").put(rec);
  const seq = op ? tx.objectStore("outbox").add(op) : null;
  await tx.done;
  return seq && (await seq);
}
export async function ops() { return db().getAll("outbox"); }
export async function opsOf(recordId) { return db().getAllFromIndex("outbox", "record_id", recordId); }
export async function putOp(op) { return db().put("outbox", op); }
export async function deleteOp(seq) { return db().delete("outbox", seq); }
export async function countOps() { return db().count("outbox"); }

// ---- uploads
export async function getUpload(sha) { return db().get("uploads", sha); }
export async function putUpload(u) { return db().put("uploads", u); }
export async function uploads() { return db().getAll("uploads"); }
/** Attach a blob to a record; the same bytes attached twice are stored (and sent) once. */
export async function addUploadRef(row, recordId) {
  const tx = db().transaction("uploads", "readwrite");
  const store = tx.objectStore("uploads");
  const existing = await store.get(row.sha256);
  const u = existing || { ...row, record_ids: [], state: "waiting", offset: 0, upload_url: null, created_at: new Date().toISOString() };
  if (!u.record_ids.includes(recordId)) u.record_ids.push(recordId);
  await store.put(u);
  await tx.done;
  return u;
}

// ---- conflicts
export async function addConflict(c) { return db().add("conflicts", c); }
export async function conflicts() { return db().getAll("conflicts"); }
export async function putConflict(c) { return db().put("conflicts", c); }
export async function deleteConflict(key) { return db().delete("conflicts", key); }

// ---- positions (rescuers' shared location, buffered while offline)
export async function addPosition(p) { return db().add("positions", p); }
export async function positions(limit = 500) { return db().getAll("positions", null, limit); }
export async function deletePositions(seqs) {
  const tx = db().transaction("positions", "readwrite");
  for (const s of seqs) tx.store.delete(s);
  await tx.done;
}
export async function countPositions() { return db().count("positions"); }

/** Only for tests and the admin's "wipe this phone": removes one user's database. */
export async function dropUser(userId) {
  if (current && current.userId === userId) closeUser();
  await deleteDB(userDbName(userId));
}
