/* Danbing service worker: the versioned app shell, Background Sync nudges, push notifications.
 *
 * The server prepends two lines when it serves this file (pwa/web.py, like Workbox's
 * injectManifest but at serve time, so there is no build step):
 *   self.__SHELL_VERSION = "<hash of every shell file>";
 *   self.__PRECACHE = ["/", "/js/app.js", ...];
 * Any change to any shell file changes those bytes, the browser installs the new worker,
 * and the page offers 更新 (the new worker waits until the user agrees: skipWaiting on message).
 */
const VERSION = self.__SHELL_VERSION || "dev";
const SHELL_CACHE = `danbing-shell-${VERSION}`;
const PRECACHE = self.__PRECACHE || ["/"];

self.addEventListener("install", (event) => {
  // cache: "reload" bypasses the HTTP cache, so a new version never precaches stale files.
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) =>
    cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })))));
});

self.addEventListener("activate", (event) => {
  // wittr habit: versioned cache names, stale shells deleted once the new worker takes over.
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("danbing-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // The API is never cached here: the outbox owns every request and keeps data in IndexedDB.
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/") || event.request.method !== "GET") return;
  // The supervisor console (/console/) is an online desktop app with its own files: not the field shell.
  if (url.pathname === "/console" || url.pathname.startsWith("/console/") || url.pathname.startsWith("/vendor/leaflet")) return;
  if (event.request.mode === "navigate") {
    // Every navigation opens the cached shell (hash routes): a reload with no network works.
    event.respondWith(caches.match("/", { cacheName: SHELL_CACHE }).then((hit) => hit || fetch(event.request)));
    return;
  }
  event.respondWith(caches.match(event.request, { cacheName: SHELL_CACHE, ignoreSearch: true })
    .then((hit) => hit || fetch(event.request)));
});

// ---------------------------------------------------------------- Background Sync
// The outbox lives in the page (it needs the user's tokens and tus); the worker wakes an
// open page to replay it. With no page open, the page replays on its next start, as
// workbox-background-sync does where the Sync API is missing.
self.addEventListener("sync", (event) => {
  if (event.tag !== "danbing-outbox") return;
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: "window" });
    for (const c of wins) c.postMessage({ type: "sync" });
  })());
});

// ---------------------------------------------------------------- push (issue #11)
// Payload: {kind, title, body, url, severity, level?, tag?} (push/delivery.py).
const LEVELS = {
  red: { name: "红色", color: "#d32f2f" }, orange: { name: "橙色", color: "#ef6c00" },
  yellow: { name: "黄色", color: "#f9a825" }, blue: { name: "蓝色", color: "#1565c0" },
};
const KINDS = {
  warning: "预警", assignment: "新任务", case_returned: "案件退回", case_approved: "案件通过",
  signature_needed: "待签发文书", detection: "隐患识别", overdue: "处置单逾期",
};

function notificationFor(msg) {
  const level = LEVELS[msg.level];
  const kind = KINDS[msg.kind] || "通知";
  const prefix = level ? `【${level.name}${kind}】` : `【${kind}】`;
  // Warnings arrive titled 【红色预警】… already (push/warnings.py): no second prefix.
  const title = !msg.title ? prefix : msg.title.startsWith("【") ? msg.title : `${prefix}${msg.title}`;
  return {
    title,
    options: {
      body: msg.body || "",
      lang: "zh-CN",
      dir: "ltr",
      // Notifications take no colour; the level's colour travels in its icon and badge.
      icon: level ? `/icons/level-${msg.level}.png` : "/icons/icon-192.png",
      badge: level ? `/icons/level-${msg.level}.png` : "/icons/icon-192.png",
      tag: msg.tag || `${msg.kind || "note"}:${msg.url || ""}`,
      renotify: true,
      requireInteraction: msg.severity === "high",
      vibrate: msg.severity === "high" ? [300, 100, 300, 100, 300] : [200],
      timestamp: Date.now(),
      data: { url: safeUrl(msg.url), kind: msg.kind, level: msg.level || null, color: level ? level.color : null },
    },
  };
}

function safeUrl(url) {
  // Only our own screens: a payload must not send the user anywhere else.
  try {
    const u = new URL(url || "/", self.location.origin);
    return u.origin === self.location.origin ? u.pathname + u.search + u.hash : "/";
  } catch (e) {
    return "/";
  }
}

// A small log of what the worker showed and opened (the status screen lists recent
// notifications; tests read it too). Its own database: db.js is the page's.
function logNotification(entry) {
  return new Promise((resolve) => {
    const req = indexedDB.open("danbing-sw", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("log", { keyPath: "seq", autoIncrement: true });
    req.onerror = () => resolve();
    req.onsuccess = () => {
      const tx = req.result.transaction("log", "readwrite");
      tx.objectStore("log").add({ ...entry, at: new Date().toISOString() });
      tx.oncomplete = tx.onerror = () => { req.result.close(); resolve(); };
    };
  });
}

self.addEventListener("push", (event) => {
  let msg;
  try {
    msg = event.data ? event.data.json() : {};
  } catch (e) {
    msg = { title: "新消息", body: event.data ? event.data.text() : "" };
  }
  const { title, options } = notificationFor(msg);
  event.waitUntil(Promise.all([
    self.registration.showNotification(title, options),
    logNotification({ event: "shown", title, body: options.body, url: options.data.url, level: options.data.level, kind: msg.kind }),
    self.clients.matchAll({ type: "window" }).then((wins) => wins.forEach((c) =>
      c.postMessage({ type: "push", title, body: options.body, url: options.data.url, level: options.data.level }))),
  ]));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil((async () => {
    await logNotification({ event: "clicked", title: event.notification.title, url });
    const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    if (wins.length) {
      const win = wins[0];
      // The app routes by hash: it navigates itself, keeping unsaved state and IndexedDB open.
      win.postMessage({ type: "navigate", url });
      try { await win.focus(); } catch (e) { /* focus needs a user gesture; the message still routes */ }
      return;
    }
    await self.clients.openWindow(url);
  })());
});
