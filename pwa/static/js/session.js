// Who is using this phone. Logging out ends the server session and forgets the tokens, but
// never deletes the user's database: unsent work waits for its owner to log in again, and
// the next user opens a different database (db.js: one per user id).
import * as db from "./db.js";
import * as api from "./api.js";

let user = null;
export const current = () => user;

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
  return user;
}

export async function login(username, password) {
  const body = await api.login(username.trim(), password, await deviceId());
  const u = body.user;
  await db.openUser(u.id);
  await api.saveTokens(body);
  await db.metaSet("user", u);
  await db.deviceSet("current_user", u);
  const known = (await db.deviceGet("known_users")) || [];
  if (!known.some((k) => k.id === u.id)) await db.deviceSet("known_users", [...known, { id: u.id, username: u.username }]);
  user = u;
  return u;
}

export async function logout() {
  await api.logout().catch(() => {});
  await db.deviceDel("current_user");
  db.closeUser();
  user = null;
}
