// HTTP to the server. Only session.js and outbox.js import this: views never touch the network.
import * as db from "./db.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}
export class Offline extends Error {
  constructor(cause) { super("网络不可用"); this.cause = cause; }
}

async function raw(method, path, { body, token, headers = {}, timeout } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) { h["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: payload, cache: "no-store",
      signal: timeout ? AbortSignal.timeout(timeout) : undefined });
  } catch (e) { // no network, or no answer in time (a link that hangs is no better than none)
    throw new Offline(e);
  }
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export async function login(username, password, deviceId) {
  return raw("POST", "/api/v1/auth/login", { body: { username, password, device_id: deviceId }, timeout: 10000 });
}

/** The server did not answer (no network, timeout, or a gateway saying the server is away):
 * not the same as an answer that says no. */
export const unreachable = (e) => e instanceof Offline || (e instanceof ApiError && [502, 503, 504].includes(e.status));

// ---- tokens: kept in the user's own database, rotated under a Web Lock so two tabs never
// spend the same refresh token (the server ends the session on reuse).
export async function tokens() { return db.metaGet("auth"); }
export async function saveTokens(t) {
  const now = Date.now();
  await db.metaSet("auth", { access_token: t.access_token, refresh_token: t.refresh_token,
    access_expires: now + (t.expires_in - 30) * 1000, device_id: t.device_id });
}

async function refreshed(stale) {
  const run = async () => {
    const t = await tokens();
    if (!t) throw new ApiError(401, { detail: "请重新登录" });
    if (t.access_token !== stale && t.access_expires > Date.now()) return t; // another tab did it
    const fresh = await raw("POST", "/api/v1/auth/refresh", { body: { refresh_token: t.refresh_token } });
    await saveTokens(fresh);
    return tokens();
  };
  return navigator.locks ? navigator.locks.request(`danbing-auth-${db.currentUserId()}`, run) : run();
}

// A session opened by an offline login has no tokens yet: session.js registers how to get
// them (an online login with the password it holds in memory), run once under the same lock.
let relogin = null;
export function setRelogin(fn) { relogin = fn; }

/** The user's tokens; an offline login's session logs in online first. */
export async function ensureTokens() {
  const t = await tokens();
  if (t) return t;
  if (!relogin) throw new ApiError(401, { detail: "请重新登录" });
  const run = async () => (await tokens()) || (await relogin(), tokens());
  const fresh = await (navigator.locks ? navigator.locks.request(`danbing-auth-${db.currentUserId()}`, run) : run());
  if (!fresh) throw new ApiError(401, { detail: "请重新登录" });
  return fresh;
}

export async function accessToken() {
  let t = await ensureTokens();
  if (t.access_expires <= Date.now()) t = await refreshed(t.access_token);
  return t.access_token;
}

/** An authenticated call; an expired access token is refreshed once. */
export async function call(method, path, body) {
  const token = await accessToken();
  try {
    return await raw(method, path, { body, token });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && e.problem.code === "token_expired") {
      const t = await refreshed(token);
      return raw(method, path, { body, token: t.access_token });
    }
    throw e;
  }
}

export async function logout() {
  const t = await tokens();
  if (t) await raw("POST", "/api/v1/auth/logout", { token: t.access_token }).catch(() => {});
  await db.metaDel("auth");
}
