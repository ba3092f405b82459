// The console's only door to the server: every fetch goes through here (views never fetch).
// Bearer token from /api/v1/auth/login, refreshed once on a 401; errors arrive as
// application/problem+json and are thrown as ApiError with the server's Chinese message.

const BASE = '/api/v1';
const SESSION_KEY = 'danbing.console.session';
const DEVICE_KEY = 'danbing.console.device';

let session = readSession();

function readSession() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch { return null; }
}

function saveSession(s) {
  session = s;
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
}

function randomHex(n) {
  // crypto.randomUUID exists only in secure contexts; a console on http://<LAN IP> is not one.
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function uuid() {
  const h = randomHex(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** This browser's device id (the server registers every login's device). */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `console-${randomHex(10)}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** Field messages of a 422, flattened for a toast. */
  get fieldMessages() {
    const out = [];
    const walk = (prefix, v) => {
      if (Array.isArray(v)) v.forEach((x) => (typeof x === 'string' ? out.push(prefix ? `${prefix}：${x}` : x) : walk(prefix, x)));
      else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => walk(prefix ? `${prefix}.${k}` : k, x));
      else if (v != null) out.push(String(v));
    };
    walk('', this.problem.errors);
    return out;
  }
}

export const currentUser = () => (session ? session.user : null);
export const isLoggedIn = () => !!session;

let onLoggedOut = () => {};
export function setLoggedOutHandler(fn) { onLoggedOut = fn; }

function qs(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    p.set(k, v === true ? '1' : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function refresh() {
  if (!session || !session.refresh_token) return false;
  const r = await fetch(`${BASE}/auth/refresh`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: session.refresh_token }),
  });
  if (!r.ok) return false;
  saveSession(await r.json());
  return true;
}

async function raw(method, path, { json, query, retry = true } = {}) {
  const headers = {};
  if (session) headers.Authorization = `Bearer ${session.access_token}`;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${BASE}${path}${qs(query)}`, {
    method, headers, body: json === undefined ? undefined : JSON.stringify(json),
  });
  if (r.status === 401 && retry && session) {
    if (await refresh()) return raw(method, path, { json, query, retry: false });
    saveSession(null);
    onLoggedOut();
  }
  if (!r.ok) {
    let problem = null;
    try { problem = await r.json(); } catch { /* not JSON */ }
    throw new ApiError(r.status, problem);
  }
  return r;
}

async function call(method, path, opts) {
  const r = await raw(method, path, opts);
  return r.status === 204 ? null : r.json();
}

const get = (path, query) => call('GET', path, { query });
const post = (path, json) => call('POST', path, { json: json || {} });
const patch = (path, json) => call('PATCH', path, { json });

/** GET that answers null on 404 (an optional module's API not installed). */
async function optional(path, query) {
  try { return await get(path, query); } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

// ---- session -----------------------------------------------------------------------------

export async function login(username, password) {
  saveSession(null);
  const body = await call('POST', '/auth/login', { json: { username, password, device_id: deviceId() }, retry: false });
  saveSession(body);
  return body.user;
}

export async function logout() {
  try { if (session) await post('/auth/logout'); } finally { saveSession(null); }
}

export const me = () => get('/auth/me');
export const config = () => get('/console/config');

// ---- the review queue and records (console read models) --------------------------------

export const queue = (filters) => get('/console/queue', filters);
export const record = (entity, id) => get(`/console/records/${entity}/${encodeURIComponent(id)}`);
export const mapLayer = (layer, query) => get(`/console/map/${layer}`, query);
export const disasterEvents = () => optional('/disasters/events');
export const disasterSummary = (eventId, level = 'township') => get(`/disasters/events/${encodeURIComponent(eventId)}/summary`, { level });
export const disasterChain = (eventId) => get(`/console/disasters/${encodeURIComponent(eventId)}/chain`);
/** The county passes a stage on (上报): 初报 (default), today's 续报, or the 核报. */
export const disasterForward = (eventId, note, stage) => post(`/disasters/events/${encodeURIComponent(eventId)}/forward`, { note, stage });
export const jurisdictions = () => get('/jurisdictions');
export const enterprises = (query) => get('/enterprises', { per_page: 500, ...query });
/** Active users of the supervisor's jurisdiction with the given roles (comma separated), for assignment. */
export const people = async (roles) => (await get('/users', { role: roles, per_page: 500 })).items;

/** Dashboard figures: the review module's (hazards, inspections) and the console's own. */
export async function dashboard() {
  const [stats, own] = await Promise.all([optional('/stats/dashboard'), get('/console/dashboard')]);
  return { stats, own };
}

// ---- audit chain and conflicts ----------------------------------------------------------

export const auditVerify = (entity, id) => optional(`/audit/${entity}/${encodeURIComponent(id)}/verify`);
export const auditHistory = (entity, id) => optional(`/audit/${entity}/${encodeURIComponent(id)}`);
export const restoreConflict = (conflictId) => post(`/sync/conflicts/${conflictId}/restore`);

// ---- writes through the sync protocol ----------------------------------------------------

/**
 * A supervisor's change to a synced record, as an op from this browser's device: the same
 * path every phone takes, so the change is versioned, scoped, conflict-checked and reaches
 * the devices on their next pull. Throws ApiError (409/422) when the op is not applied.
 */
export async function syncWrite(entity, id, baseVersion, data) {
  const op = { op_id: uuid(), entity, id, op: 'upsert', base_version: baseVersion, data };
  const body = await post('/sync/push', { device_id: session.device_id, ops: [op] });
  const res = body.results[0];
  if (res.status === 'applied') return res;
  throw new ApiError(res.status === 'conflict' ? 409 : 422, {
    detail: res.status === 'conflict' ? '记录已被他人修改，请刷新后再操作。' : '操作未被接受。', errors: res.errors,
  });
}

// ---- review (hazard/inspection module, loops) ---------------------------------------------

/** The review module's view of a case: history, audit check, conflicts, available actions. */
export const reviewItem = (entity, id) => optional(`/review/items/${entity}/${encodeURIComponent(id)}`);

/**
 * One review action: approve, return, verify, assign, reassign, escalate, reinspect, close,
 * legal-review. ``body``: {comment, unit, person_id, deadline, handling, risk_level, grade,
 * passed, result, opinion, reason}. Answers the case's new detail.
 */
export const reviewAction = (entity, id, action, body) =>
  post(`/review/items/${entity}/${encodeURIComponent(id)}/${action}`, body || {});

/** Confirm or dismiss one detection (vision module); vision then rewrites the record's fields. */
export const reviewDetection = (detectionId, verdict, comment) =>
  post(`/vision/detections/${detectionId}/${verdict === 'confirmed' ? 'confirm' : 'dismiss'}`, { comment: comment || null });

// ---- laws and clauses ---------------------------------------------------------------------

export const suggestClauses = (text, limit = 5) => post('/clauses/suggest', { text, limit });
export const clausesForHazard = (code) => optional(`/clauses/for-hazard/${encodeURIComponent(code)}`);

// ---- documents (legal module) -------------------------------------------------------------

export const documentsFor = (caseEntity, caseId) => get('/documents', { case_entity: caseEntity, case_id: caseId });
export const documentGet = (id) => get(`/documents/${id}`);
export const documentEdit = (id, fields) => patch(`/documents/${id}`, fields);
export const documentReview = (id, action, opinion) => post(`/documents/${id}/legal-review`, { action, opinion });
export const documentSign = (id) => post(`/documents/${id}/sign`);
export const documentIssue = (id) => post(`/documents/${id}/issue`);

/** The PDF as an object URL (an <iframe src> cannot send the Bearer header itself). */
export async function documentPdfUrl(id) {
  const r = await raw('GET', `/documents/${id}/pdf`);
  return URL.createObjectURL(await r.blob());
}

// ---- media --------------------------------------------------------------------------------

const blobCache = new Map();
/** A photo or voice note as an object URL, or null while the device has not uploaded it. */
export async function blobUrl(sha256, variant) {
  const key = `${sha256}:${variant || ''}`;
  if (!blobCache.has(key)) {
    blobCache.set(key, raw('GET', `/blobs/${sha256}`, { query: { variant } })
      .then(async (r) => URL.createObjectURL(await r.blob()))
      .catch((e) => { blobCache.delete(key); if (e.status === 404) return null; throw e; }));
  }
  return blobCache.get(key);
}

// ---- field: team positions ---------------------------------------------------------------

export const positionsLatest = (query) => optional('/positions/latest', query);
export const positionsTrack = (query) => optional('/positions/track', query);
