// The controller: session, router, service worker and its update prompt, storage, sync status.
import * as session from "./session.js";
import * as outbox from "./outbox.js";
import { h, ROLES, toast, fmtBytes } from "./ui.js";
import { routes, tabsFor } from "./views/routes.js";

const view = document.getElementById("view");
let cleanup = null;

// ---------------------------------------------------------------- router (hash routes)
// Push payloads open "/#/<entity>/<id>" (push/triggers.py), so routes are hashes.
function parse() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query || "") };
}

// Renders overlap (a sync redraws the home screen while 退出登录 routes to the login form);
// each draws into its own element and only the newest one may touch the screen, so a
// stale screen finishing late can never cover the current one.
let generation = 0;

async function render() {
  if (cleanup) { try { cleanup(); } catch (e) { /* a view's own cleanup failing must not stop routing */ } }
  cleanup = null;
  const gen = ++generation;
  const { parts, query } = parse();
  const user = session.current();
  const name = parts[0] || "";
  if (!user && name !== "login") { location.hash = "#/login"; return; }
  const route = routes[name] || routes["*"];
  const root = h("div", { class: "screen" });
  view.replaceChildren(root);
  document.body.dataset.route = name || "home";
  try {
    const own = await route(root, parts.slice(1), query, { user, rerender: render, logout, afterLogin });
    if (gen !== generation) { if (own) try { own(); } catch (e) { /* stale screen */ } return; }
    if (route.live) {
      // Screens that only show data are redrawn when a sync brings changes (forms are not:
      // that would throw away what the user is typing).
      const again = () => render();
      outbox.events.addEventListener("synced", again);
      cleanup = () => { outbox.events.removeEventListener("synced", again); if (own) own(); };
    } else cleanup = own;
  } catch (e) {
    if (gen !== generation) return;  // a stale screen failing (e.g. after logout) is not this screen's error
    root.replaceChildren(h("p", { class: "errors" }, `页面出错：${e.message}`));
    console.error(e);
  }
  drawTabs();
}

function drawTabs() {
  const user = session.current();
  const nav = document.getElementById("tabs");
  nav.hidden = !user;
  if (!user) return;
  const { parts } = parse();
  nav.replaceChildren(...tabsFor(user.role).map(([hash, text]) =>
    h("a", { href: hash, class: `#/${parts[0] || ""}` === hash.split("?")[0] ? "on" : "" }, text)));
}

// ---------------------------------------------------------------- header: who and sync status
async function drawStatus() {
  const user = session.current();
  document.getElementById("who").textContent = user ? `${user.display_name || user.username} · ${ROLES[user.role] || user.role}` : "";
  drawSessionNote();
  const pill = document.getElementById("sync-pill");
  const btn = document.getElementById("sync-now");
  btn.hidden = !user;
  if (!user) { pill.textContent = ""; return; }
  const s = await outbox.status().catch(() => null);
  if (!s || session.current() !== user) return; // logged out meanwhile: that status is stale
  const waiting = s.pending.length + s.uploads.length;
  const bad = s.rejected.length + s.conflicts.length;
  pill.className = `pill ${bad ? "bad" : waiting ? "wait" : "ok"}`;
  pill.dataset.pending = String(s.pending.length);
  pill.dataset.uploads = String(s.uploads.length);
  pill.textContent = [s.syncing ? "同步中…" : !s.online ? "离线" : waiting ? "" : "已同步",
    s.pending.length ? `待发 ${s.pending.length}` : "", s.uploads.length ? `附件 ${s.uploads.length}` : "",
    bad ? `需处理 ${bad}` : ""].filter(Boolean).join(" · ");
}

// An offline login is shown until the server has confirmed it; after a reload the password
// it needs is gone, and the user is asked to log in again (nothing unsent is lost by that).
function drawSessionNote() {
  const state = session.state();
  const note = document.getElementById("session-note");
  const [text, btn] = note.children;
  note.hidden = state !== "offline" && state !== "unverified";
  note.dataset.state = state || "";
  btn.hidden = state !== "unverified" || !navigator.onLine;
  text.textContent = state === "offline" ? "离线登录：联网后自动验证"
    : !navigator.onLine ? "离线登录：页面已重新打开，联网后需重新登录才能同步" : "离线登录未经服务器验证：请重新登录，未发送的数据会保留并同步";
  btn.onclick = () => {
    const who = session.current();
    session.setNotice(who && who.username, "请重新登录以同步未发送的数据（数据已保留在本机）");
    logout();
  };
}

async function logout() {
  await outbox.stop();
  await session.logout();
  location.hash = "#/login";
  await drawStatus();
  render();
}

// ---------------------------------------------------------------- service worker + update prompt
function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").then((reg) => {
    const offer = (worker) => {
      const bar = document.getElementById("update");
      bar.hidden = false;
      document.getElementById("update-btn").onclick = () => worker.postMessage({ type: "SKIP_WAITING" });
    };
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener("updatefound", () => {
      const w = reg.installing;
      w.addEventListener("statechange", () => {
        if (w.state === "installed" && navigator.serviceWorker.controller) offer(w);
      });
    });
  }).catch((e) => console.warn("service worker", e));
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only reload for an update the user accepted, not for the first install's claim().
    if (!document.getElementById("update").hidden && !reloading) { reloading = true; location.reload(); }
  });
  navigator.serviceWorker.addEventListener("message", (e) => {
    const m = e.data || {};
    if (m.type === "navigate" && m.url) {
      const u = new URL(m.url, location.origin);
      location.hash = u.hash || "#/";
    } else if (m.type === "push") {
      toast(`${m.title}${m.body ? "：" + m.body : ""}`, m.level === "red" || m.level === "orange" ? "bad" : "info");
      outbox.sync("push");
    }
  });
}

// ---------------------------------------------------------------- storage: persist, quota, warning
export async function storageInfo() {
  const info = { persisted: false, usage: null, quota: null };
  if (navigator.storage) {
    info.persisted = navigator.storage.persisted ? await navigator.storage.persisted() : false;
    if (navigator.storage.estimate) Object.assign(info, await navigator.storage.estimate());
  }
  return info;
}

async function checkStorage() {
  if (!navigator.storage) return;
  // Ask once: without it the browser may evict a week of unsent work under storage pressure.
  if (navigator.storage.persist && !(await navigator.storage.persisted())) await navigator.storage.persist().catch(() => false);
  const { usage, quota } = await storageInfo();
  const warn = document.getElementById("storage-warn");
  const free = quota - usage;
  const low = quota && (usage / quota > 0.8 || free < 200 * 1048576);
  warn.hidden = !low;
  if (low) warn.textContent = `存储空间不足：已用 ${fmtBytes(usage)} / 可用 ${fmtBytes(quota)}。请尽快联网同步，必要时在“同步”页导出未发送数据。`;
}

// ---------------------------------------------------------------- push subscription (best effort)
async function subscribePush() {
  try {
    if (!("PushManager" in window) || Notification.permission === "denied") return;
    const reg = await navigator.serviceWorker.ready;
    const mod = await import("./push.js");
    await mod.subscribe(reg);
  } catch (e) { /* no push service reachable (offline, headless): sync still carries everything */ }
}

// ---------------------------------------------------------------- start
async function afterLogin() {
  await drawStatus();
  outbox.start();
  subscribePush();
}

async function main() {
  registerWorker();
  window.addEventListener("hashchange", render);
  for (const ev of ["status", "changed", "synced"]) outbox.events.addEventListener(ev, () => drawStatus());
  outbox.events.addEventListener("progress", (e) => {
    const b = document.querySelector(`.badge[data-sha="${e.detail.sha256}"]`);
    if (b) b.textContent = `上传中 ${Math.floor((e.detail.sent / e.detail.total) * 100)}%`;
  });
  session.events.addEventListener("expired", () => logout()); // the login screen says why
  window.addEventListener("online", drawStatus);
  window.addEventListener("offline", drawStatus);
  document.getElementById("sync-now").onclick = () => { outbox.sync("button"); toast("正在同步…"); };
  const user = await session.restore();
  await render();
  document.body.dataset.ready = "1"; // the usable screen is up (bench and tests wait for this)
  performance.mark("danbing-ready");
  if (user) afterLogin();
  checkStorage();
  setInterval(checkStorage, 60000);
}

main();
