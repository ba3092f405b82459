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

async function raw(method, path, { body, token, headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) { h["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: payload, cache: "no-store" });
  } catch (e) {
    throw new Offline(e);
  }
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export async function login(username, password, deviceId) {
  return raw("POST", "/api/v1/auth/login", { body: { username, password, device_id: deviceId } });
}

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

export async function accessToken() {
  let t = await tokens();
  if (!t) throw new ApiError(401, { detail: "请重新登录" });
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
