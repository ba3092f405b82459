// The outbox: local-first writes and the sync protocol (docs: sync/openapi.py).
//
// Every change is written to IndexedDB first (record + op in one transaction), then a sync
// pushes ops in order with their op_id (the server is idempotent by op_id, so a batch whose
// answer was lost is simply sent again), uploads the media of records the server already
// holds (a record before its photos), flushes buffered positions, and pulls changes from
// the cursor. Views call these functions and listen to `events`; they never fetch.
import * as db from "./db.js";
import * as api from "./api.js";

export const events = new EventTarget();
const emit = (type, detail) => events.dispatchEvent(new CustomEvent(type, { detail }));

export const MEDIA_FIELDS = ["photos", "after_photos", "voice_notes", "evidence"];
const BATCH_OPS = 200;              // below the server's SYNC_MAX_OPS (500)
const BATCH_BYTES = 1024 * 1024;    // well below SYNC_MAX_BODY_BYTES (4 MiB)
export const CHUNK_SIZE = 512 * 1024; // tus PATCH size: a poor link loses at most this much
const PERIOD_MS = 120000;           // a quiet pull every two minutes while the app is open

const uuid = () => crypto.randomUUID();
const nowIso = () => new Date().toISOString();
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---------------------------------------------------------------- media

export async function sha256Hex(blob) {
  const buf = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Keep captured bytes on the phone; returns the content hash records refer to. */
export async function storeMedia(blob, kind, name, meta = {}) {
  const sha256 = await sha256Hex(blob);
  const existing = await db.getUpload(sha256);
  if (!existing) {
    await db.putUpload({ sha256, blob, kind, mime: blob.type || "application/octet-stream", size: blob.size,
      name: name || `${kind}-${sha256.slice(0, 8)}`, meta, record_ids: [], state: "waiting", offset: 0,
      upload_url: null, created_at: nowIso() });
  }
  return sha256;
}

export async function media(sha256) { return db.getUpload(sha256); }

/** Every blob hash a document refers to (the media contract's field names, checklist items too). */
export function mediaRefs(data) {
  const out = new Set();
  const walk = (obj) => {
    if (!obj || typeof obj !== "object") return;
    for (const f of MEDIA_FIELDS) if (Array.isArray(obj[f])) obj[f].forEach((s) => typeof s === "string" && out.add(s));
    if (typeof obj.annotated_image === "string") out.add(obj.annotated_image);
    for (const k of ["items", "findings"]) if (Array.isArray(obj[k])) obj[k].forEach(walk);
  };
  walk(data);
  return [...out];
}

// ---------------------------------------------------------------- local writes

/** Save a record locally and queue its op; returns the record. `data` is the whole document. */
export async function save(entity, id, data) {
  id = id || uuid();
  const old = await db.getRecord(id);
  const base = old ? old.data : {};
  const patch = {};
  for (const [k, v] of Object.entries(data)) if (!same(base[k], v)) patch[k] = v;
  // A record the server never accepted is sent whole; otherwise only the fields changed here
  // (a stale copy of a field someone else changed must not overwrite their edit).
  const create = !old || old.version == null;
  const opData = create ? { ...base, ...data } : patch;
  const rec = { id, entity, data: { ...base, ...data }, version: old ? old.version : null,
    deleted: false, pending: 1, server: old ? old.server : null, updated_at: nowIso(), mine: true };
  if (!create && Object.keys(patch).length === 0) return rec;
  const op = { op_id: uuid(), entity, record_id: id, op: "upsert", base_version: old ? old.version : null,
    data: opData, state: "pending", created_at: nowIso() };
  await db.saveWithOp(rec, op);
  for (const sha of mediaRefs(rec.data)) await db.addUploadRef({ sha256: sha }, id);
  emit("changed", { id, entity });
  requestBackgroundSync();
  return rec;
}

export async function remove(id) {
  const old = await db.getRecord(id);
  if (!old) return;
  const op = { op_id: uuid(), entity: old.entity, record_id: id, op: "delete",
    base_version: old.server ? old.server.version : null, data: null, state: "pending", created_at: nowIso() };
  await db.saveWithOp({ ...old, deleted: true, pending: 1 }, old.version == null ? null : op);
  if (old.version == null) {
    for (const o of await db.opsOf(id)) await db.deleteOp(o.seq); // never reached the server
    await db.deleteRecord(id);
  }
  emit("changed", { id, entity: old.entity });
}

export const get = (id) => db.getRecord(id);
export async function list(entity) {
  const rows = await db.recordsOf(entity);
  return rows.filter((r) => !r.deleted).sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || ""));
}
export const all = () => db.allRecords();

// ---------------------------------------------------------------- positions

export async function bufferPosition(p) {
  await db.addPosition(p);
  emit("status");
}

// ---------------------------------------------------------------- sync

let running = null;
let failures = 0;
let timer = null;
let nextAttempt = null;
let lastError = null;
const progress = new Map(); // sha256 -> {sent, total}

function requestBackgroundSync() {
  // Chromium's Background Sync fires even after the page closed; elsewhere the timer and
  // the `online` event do the job (https://developer.mozilla.org/docs/Web/API/Background_Synchronization_API).
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.ready.then((reg) => reg.sync && reg.sync.register("danbing-outbox")).catch(() => {});
}

function schedule(ms) {
  clearTimeout(timer);
  nextAttempt = Date.now() + ms;
  timer = setTimeout(() => sync("timer"), ms);
}

/** Run one sync (joins a sync already running). Resolves to the status. */
export function sync(reason = "manual") {
  if (!db.currentUserId()) return Promise.resolve(null);
  if (running) return running;
  running = (async () => {
    emit("status");
    const uid = db.currentUserId();
    try {
      // Edits of records the server holds are where conflicts arise: pull first, so a
      // conflict can show the server's version that this edit meets (the push result only
      // says that a field overlapped). New records push at once.
      if ((await db.ops()).some((o) => o.state === "pending" && o.base_version != null)) await pull();
      for (const step of [pushOps, uploadMedia, flushPositions, pull, refreshTeam]) {
        sameUser(uid);
        await step();
      }
      sameUser(uid);
      failures = 0;
      lastError = null;
      await db.metaSet("last_sync", nowIso());
      schedule(PERIOD_MS);
    } catch (e) {
      failures += 1;
      lastError = e instanceof api.Offline ? "离线：网络恢复后自动同步" : e.message;
      if (e instanceof api.ApiError && e.status === 401) {
        lastError = e.problem.code === "relogin_required" ? e.message : "登录已失效，请重新登录后同步";
      }
      // Backoff: 5 s, 10 s, 20 s ... at most 5 minutes, with jitter so a reconnecting
      // county does not hit the server in step.
      schedule(Math.min(300000, 5000 * 2 ** Math.min(failures - 1, 6)) * (0.8 + Math.random() * 0.4));
    } finally {
      running = null;
      if (db.currentUserId() !== uid) { clearTimeout(timer); timer = null; }
      emit("status");
      emit("synced", { reason });
    }
  })();
  return running;
}

let listening = false;
export function start() {
  if (!listening) {
    listening = true;
    window.addEventListener("online", () => sync("online"));
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (e) => e.data && e.data.type === "sync" && sync("background"));
    }
  }
  return sync("start");
}

/** Stop the timer and let a running sync finish (logout waits: the next user's database
 * must never receive the previous user's sync). */
export async function stop() {
  clearTimeout(timer);
  timer = null;
  if (running) await running.catch(() => {});
}

function sameUser(uid) {
  if (db.currentUserId() !== uid) throw new Error("用户已切换，同步停止");
}

async function heldRecords(all) {
  // A rejected op holds back the later ops of the same record until it is fixed or discarded.
  return new Set(all.filter((o) => o.state === "rejected").map((o) => o.record_id));
}

async function pushOps() {
  const auth = await api.ensureTokens(); // an offline login logs in online here, once the network is back
  for (;;) {
    const all = (await db.ops()).sort((a, b) => a.seq - b.seq);
    const held = await heldRecords(all);
    const ready = all.filter((o) => o.state === "pending" && !held.has(o.record_id));
    if (!ready.length) return;
    const batch = [];
    let bytes = 0;
    for (const o of ready) {
      const size = JSON.stringify(o.data || {}).length + 200;
      if (batch.length && (batch.length >= BATCH_OPS || bytes + size > BATCH_BYTES)) break;
      batch.push(o);
      bytes += size;
    }
    const body = { device_id: auth.device_id, ops: batch.map((o) => ({ op_id: o.op_id, entity: o.entity, id: o.record_id,
      op: o.op, base_version: o.base_version, data: o.data })) };
    const { results } = await api.call("POST", "/api/v1/sync/push", body);
    for (let i = 0; i < batch.length; i++) await applyResult(batch[i], results[i]);
    emit("status");
  }
}

async function applyResult(op, res) {
  const status = res.status === "duplicate" ? res.original_status : res.status;
  const rec = await db.getRecord(op.record_id);
  if (status === "rejected") {
    await db.putOp({ ...op, state: "rejected", errors: res.errors || {}, rejected_at: nowIso() });
    emit("rejected", { op });
    return;
  }
  if (status === "conflict") {
    // The server's document as this phone last saw it, i.e. the version this edit met.
    const seen = rec && rec.server && rec.server.version > (op.base_version || 0) ? rec.server.data : null;
    await db.addConflict({ record_id: op.record_id, entity: op.entity, mine: op.data, errors: res.errors || {},
      server: seen, version: res.version, at: nowIso() });
    emit("conflict", { op });
  }
  await db.deleteOp(op.seq);
  if (rec) {
    const left = (await db.opsOf(op.record_id)).length;
    rec.version = Math.max(rec.version || 0, res.version || 0) || rec.version;
    rec.pending = left ? 1 : 0;
    if (op.op === "delete" && !left) await db.deleteRecord(rec.id);
    else await db.putRecord(rec);
  }
}

/** Media whose records the server holds, oldest first. */
async function readyUploads() {
  const out = [];
  for (const u of await db.uploads()) {
    if (u.state === "done" || !u.record_ids.length) continue;
    let ok = true;
    for (const id of u.record_ids) {
      const rec = await db.getRecord(id);
      if (rec && rec.version == null) ok = false; // the record first, then its photos
    }
    if (ok) out.push(u);
  }
  return out.sort((a, b) => (a.created_at || "").localeCompare(b.created_at || ""));
}

async function uploadMedia() {
  const ready = await readyUploads();
  if (!ready.length) return;
  // Bytes the server already holds (sent from another record or phone) are not sent again.
  const present = new Set();
  for (let i = 0; i < ready.length; i += 500) {
    const { blobs } = await api.call("POST", "/api/v1/blobs/status", { hashes: ready.slice(i, i + 500).map((u) => u.sha256) });
    for (const [sha, st] of Object.entries(blobs || {})) if (st === "present") present.add(sha);
  }
  for (const u of ready) {
    if (present.has(u.sha256)) await db.putUpload({ ...u, state: "done", offset: u.size, uploaded_at: nowIso() });
    else await uploadOne(u);
    emit("status");
  }
}

function uploadOne(u) {
  return new Promise((resolve, reject) => {
    let stored = u;
    const up = new window.tus.Upload(u.blob, {
      endpoint: "/api/v1/uploads",
      // Resume across restarts: the URL is kept per content hash (records refer to the hash).
      uploadUrl: u.upload_url || null,
      chunkSize: CHUNK_SIZE,
      retryDelays: [0, 1000, 3000],
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
      metadata: { sha256: u.sha256, kind: u.kind, filename: u.name, filetype: u.mime, record_id: u.record_ids[0] || "" },
      onBeforeRequest: async (req) => { req.setHeader("Authorization", `Bearer ${await api.accessToken()}`); },
      onUploadUrlAvailable: async () => {
        stored = { ...stored, upload_url: up.url, state: "uploading" };
        await db.putUpload(stored);
      },
      onProgress: (sent, total) => { progress.set(u.sha256, { sent, total }); emit("progress", { sha256: u.sha256, sent, total }); },
      onChunkComplete: async (_chunk, accepted) => { stored = { ...stored, offset: accepted }; await db.putUpload(stored); },
      onSuccess: async () => {
        progress.delete(u.sha256);
        await db.putUpload({ ...stored, state: "done", offset: u.size, uploaded_at: nowIso() });
        resolve();
      },
      onError: async (err) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        if (status >= 400 && status < 500 && status !== 401 && status !== 409 && status !== 423 && status !== 429) {
          await db.putUpload({ ...stored, state: "error", error: err.message });
          resolve(); // a refused file must not block the others; it is shown with its reason
        } else reject(status ? err : new api.Offline(err));
      },
    });
    up.start();
  });
}

async function flushPositions() {
  for (;;) {
    const batch = await db.positions(500);
    if (!batch.length) return;
    await api.call("POST", "/api/v1/positions", { fixes: batch.map(({ seq, ...p }) => p) });
    await db.deletePositions(batch.map((p) => p.seq));
    emit("status");
  }
}

async function pull() {
  let cursor = await db.metaGet("cursor");
  const log = (await db.metaGet("changes")) || [];
  for (;;) {
    const q = new URLSearchParams({ limit: "500" });
    if (cursor) q.set("cursor", cursor);
    const page = await api.call("GET", `/api/v1/sync/pull?${q}`);
    for (const ch of page.changes) {
      const entry = await applyChange(ch);
      if (entry) log.unshift(entry);
    }
    cursor = page.cursor;
    await db.metaSet("cursor", cursor);
    if (!page.has_more) break;
  }
  await db.metaSet("changes", log.slice(0, 200));
}

async function applyChange(ch) {
  const rec = await db.getRecord(ch.id);
  const pendingOps = rec ? (await db.opsOf(ch.id)) : [];
  const mine = rec && rec.server && rec.server.version === ch.version;
  if (ch.deleted) {
    if (!rec) return null;
    if (pendingOps.length) await db.putRecord({ ...rec, server: { version: ch.version, data: null, deleted: true } });
    else await db.deleteRecord(ch.id);
    return { entity: ch.entity, id: ch.id, title: rec.data.title || "", what: ch.dropped ? "移出范围" : "已删除", at: nowIso() };
  }
  // Local edits not yet accepted stay on top of the server's document.
  let data = ch.data;
  for (const o of pendingOps.sort((a, b) => a.seq - b.seq)) if (o.data) data = { ...data, ...o.data };
  const fresh = !rec || rec.version !== ch.version;
  await db.putRecord({ id: ch.id, entity: ch.entity, data, version: ch.version, deleted: false,
    pending: pendingOps.length ? 1 : 0, server: { version: ch.version, data: ch.data }, mine: !!(rec && rec.mine),
    updated_at: rec && rec.updated_at && !fresh ? rec.updated_at : nowIso() });
  for (const c of await db.conflicts()) {
    if (c.record_id === ch.id) await db.putConflict({ ...c, server: c.server || ch.data, server_now: ch.data, server_version: ch.version });
  }
  if (mine || !fresh || (rec && rec.version === ch.version)) return null;
  return { entity: ch.entity, id: ch.id, title: ch.data.title || "", what: rec ? "已更新" : "新收到", status: ch.data.status || "", at: nowIso() };
}

async function refreshTeam() {
  const me = await db.metaGet("user");
  if (!me || me.role !== "rescuer") return;
  try {
    const team = await api.call("GET", "/api/v1/positions/latest");
    await db.metaSet("team", { at: nowIso(), items: team.items || team.positions || [] });
  } catch (e) {
    if (e instanceof api.Offline) throw e; // positions API missing or refused: the list just stays
  }
}

export async function teamList() { return db.metaGet("team"); }

// ---------------------------------------------------------------- the status panel's data

export async function status() {
  const ops = await db.ops();
  const ups = await db.uploads();
  return {
    syncing: !!running,
    online: navigator.onLine,
    pending: ops.filter((o) => o.state === "pending"),
    rejected: ops.filter((o) => o.state === "rejected"),
    conflicts: await db.conflicts(),
    uploads: ups.filter((u) => u.state !== "done" && u.record_ids.length)
      .map(({ blob, ...u }) => ({ ...u, progress: progress.get(u.sha256) || { sent: u.offset || 0, total: u.size } })),
    positions: await db.countPositions(),
    lastSync: await db.metaGet("last_sync"),
    changes: (await db.metaGet("changes")) || [],
    lastError,
    nextAttempt: timer ? nextAttempt : null,
  };
}

export async function clearChanges() { await db.metaSet("changes", []); emit("status"); }

/** Resend a rejected record with corrected data (a new op id; the old ops are dropped). */
export async function fixAndResend(recordId, data) {
  const rec = await db.getRecord(recordId);
  const old = await db.opsOf(recordId);
  for (const o of old) await db.deleteOp(o.seq);
  const onServer = rec.server && rec.server.data;
  const payload = {};
  if (onServer) {
    for (const [k, v] of Object.entries(data)) if (!same(onServer[k], v)) payload[k] = v;
  }
  const op = { op_id: uuid(), entity: rec.entity, record_id: recordId, op: "upsert",
    base_version: onServer ? rec.server.version : null, data: onServer ? payload : data, state: "pending", created_at: nowIso() };
  await db.saveWithOp({ ...rec, data: { ...(onServer || {}), ...data }, pending: 1, updated_at: nowIso() }, op);
  for (const sha of mediaRefs(data)) await db.addUploadRef({ sha256: sha }, recordId);
  emit("changed", { id: recordId });
  emit("status");
}

/** Give up a rejected change: the server's copy comes back, or a never-accepted record goes. */
export async function discard(recordId) {
  const rec = await db.getRecord(recordId);
  for (const o of await db.opsOf(recordId)) await db.deleteOp(o.seq);
  if (rec && rec.server && rec.server.data) await db.putRecord({ ...rec, data: rec.server.data, pending: 0 });
  else if (rec) await db.deleteRecord(recordId);
  for (const u of await db.uploads()) {
    if (u.record_ids.includes(recordId)) await db.putUpload({ ...u, record_ids: u.record_ids.filter((r) => r !== recordId) });
  }
  emit("changed", { id: recordId });
  emit("status");
}

/** A conflict: keep the server's version (drop mine) or send mine again on top of it. */
export async function resolveConflict(key, keepMine) {
  const c = (await db.conflicts()).find((x) => x.key === key);
  if (!c) return;
  if (keepMine) {
    const rec = await db.getRecord(c.record_id);
    await save(c.entity, c.record_id, { ...(rec ? rec.data : {}), ...c.mine });
  }
  await db.deleteConflict(key);
  emit("status");
}

/** Everything not yet on the server, as one JSON file (the last resort when a phone dies). */
export async function exportUnsent() {
  const ops = await db.ops();
  const ids = new Set(ops.map((o) => o.record_id));
  const records = [];
  for (const id of ids) records.push(await db.getRecord(id));
  const files = [];
  for (const u of await db.uploads()) {
    if (u.state === "done" || !u.record_ids.length) continue;
    const bytes = new Uint8Array(await u.blob.arrayBuffer());
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const { blob, ...rest } = u;
    files.push({ ...rest, base64: btoa(bin) });
  }
  const doc = { format: "danbing-unsent/1", exported_at: nowIso(), user: await db.metaGet("user"),
    device_id: ((await api.tokens()) || {}).device_id || (await db.deviceGet("device_id")) || null, ops, records, files, positions: await db.positions(100000) };
  return new Blob([JSON.stringify(doc)], { type: "application/json" });
}
