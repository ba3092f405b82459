// Who is using this phone. Logging out ends the server session and forgets the tokens, but
// never deletes the user's database: unsent work waits for its owner to log in again, and
// the next user opens a different database (db.js: one per user id).
//
// Offline login (三断: the network is down, the phone is shared between shifts): every online
// login keeps a PBKDF2 verifier of the password in the device store (never the password).
// When the server cannot be reached, a user who has logged in on this phone before is let in
// against it; the session has no tokens, and the password stays in this module's memory
// until the network is back, when the first sync logs in online with it (api.ensureTokens).
import * as db from "./db.js";
import * as api from "./api.js";

const ITERATIONS = 310000;       // PBKDF2-SHA256 (OWASP's 2021 figure; ~0.2 s on a field phone)
const MAX_OFFLINE_FAILURES = 5;  // wrong offline passwords before only an online login helps
export const EXPIRED = "密码已变更或账号已停用，请联网重新登录";

let user = null;
let offlineOnly = false; // logged in against the verifier: no tokens yet
let password = null;     // that login's password, in memory only, until the server confirms it
let notice = null;       // {username, message} for the next login screen
export const current = () => user;
export const events = new EventTarget(); // "expired": the server refused the offline login's password

/** null (nobody), "online", "offline" (verified when the network is back) or "unverified"
 * (offline-only and the page was reloaded: the password is gone, a new login is needed). */
export function state() {
  if (!user) return null;
  if (!offlineOnly) return "online";
  return password ? "offline" : "unverified";
}

export function setNotice(username, message) { notice = { username, message }; }

/** What the login screen should say, until someone logs in. */
export const loginNotice = () => notice;

export async function deviceId() {
  let id = await db.deviceGet("device_id");
  if (!id) {
    id = `pwa-${crypto.randomUUID()}`;
    await db.deviceSet("device_id", id);
  }
  return id;
}

/** The user who was logged in before a reload (works offline). */
export async function restore() {
  const saved = await db.deviceGet("current_user");
  if (!saved) return null;
  await db.openUser(saved.id);
  user = saved;
  offlineOnly = !(await api.tokens());
  return user;
}

// ---------------------------------------------------------------- offline-login verifier
const verifierKey = (username) => `offline_login:${username}`;
const failuresKey = (username) => `offline_login_failures:${username}`;

async function derive(pw, salt, iterations) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(pw), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256));
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]; // no early exit
  return diff === 0;
}

async function rememberVerifier(u, pw) {
  await db.deviceDel(failuresKey(u.username)); // an online login lifts the offline lock
  if (!crypto.subtle) return; // not a secure context: no offline login on this phone
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(pw, salt, ITERATIONS);
  await db.deviceSet(verifierKey(u.username), { username: u.username, user: u, salt, hash, iterations: ITERATIONS });
}

async function signedIn(body, pw) {
  const u = body.user;
  await db.openUser(u.id);
  await api.saveTokens(body);
  await db.metaSet("user", u);
  await db.deviceSet("current_user", u);
  // Without a verifier only the next offline login fails, not this one.
  await rememberVerifier(u, pw).catch((e) => console.warn("offline-login verifier not kept", e));
  return u;
}

// ---------------------------------------------------------------- login / logout

export async function login(username, pw) {
  username = username.trim();
  let body;
  try {
    body = await api.login(username, pw, await deviceId());
  } catch (e) {
    if (!api.unreachable(e)) throw e; // the server answered (wrong password, locked, ...)
    return loginOffline(username, pw);
  }
  const u = await signedIn(body, pw);
  const known = (await db.deviceGet("known_users")) || [];
  if (!known.some((k) => k.id === u.id)) await db.deviceSet("known_users", [...known, { id: u.id, username: u.username }]);
  user = u;
  offlineOnly = false;
  password = null;
  notice = null;
  return u;
}

async function loginOffline(username, pw) {
  const v = await db.deviceGet(verifierKey(username));
  if (!v || !crypto.subtle) throw new Error("本机尚未联网登录过该账号，首次登录需要联网");
  const failures = (await db.deviceGet(failuresKey(username))) || 0;
  if (failures >= MAX_OFFLINE_FAILURES) throw new Error("离线登录已锁定（密码错误次数过多），请联网登录");
  if (!sameBytes(await derive(pw, v.salt, v.iterations), v.hash)) {
    await db.deviceSet(failuresKey(username), failures + 1);
    const left = MAX_OFFLINE_FAILURES - failures - 1;
    throw new Error(left ? `密码错误（离线登录），还可尝试 ${left} 次` : "密码错误（离线登录），离线登录已锁定，请联网登录");
  }
  await db.deviceDel(failuresKey(username));
  const u = v.user;
  await db.openUser(u.id);
  await db.metaDel("auth"); // an offline session starts without tokens (the server's come with the check)
  await db.metaSet("user", u);
  await db.deviceSet("current_user", u);
  user = u;
  offlineOnly = true;
  password = pw;
  notice = null;
  return u;
}

/** The network is back: log the offline session in online (api.ensureTokens calls this). */
async function verify() {
  const who = user;
  if (!who) throw new api.ApiError(401, { detail: "请重新登录" });
  if (!password) {
    throw new api.ApiError(401, { detail: "离线登录后页面已重新打开，请重新登录以同步", code: "relogin_required" });
  }
  const pw = password;
  const refused = async () => {
    // Password changed or account/device disabled: the local data stays, the way in goes.
    await db.deviceDel(verifierKey(who.username));
    if (user !== who) return;
    password = null;
    notice = { username: who.username, message: EXPIRED };
    events.dispatchEvent(new CustomEvent("expired", { detail: notice }));
  };
  let body;
  try {
    body = await api.login(who.username, pw, await deviceId());
  } catch (e) {
    if (e instanceof api.ApiError && (e.status === 401 || e.status === 403)) await refused();
    throw e;
  }
  if (user !== who || db.currentUserId() !== who.id) throw new Error("用户已切换");
  if (body.user.id !== who.id) { // the name now belongs to another account: not this database
    await refused();
    throw new api.ApiError(401, { detail: EXPIRED });
  }
  user = await signedIn(body, pw);
  offlineOnly = false;
  password = null;
}
api.setRelogin(verify);

export async function logout() {
  await api.logout().catch(() => {});
  await db.deviceDel("current_user");
  db.closeUser();
  user = null;
  offlineOnly = false;
  password = null;
}
