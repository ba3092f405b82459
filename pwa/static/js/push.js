// Web push subscription (issue #11): the server's VAPID key, this device's subscription.
import * as api from "./api.js";

function keyBytes(b64) {
  const s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export async function subscribe(reg) {
  if (Notification.permission === "default") await Notification.requestPermission();
  if (Notification.permission !== "granted") return null;
  const { public_key } = await api.call("GET", "/api/v1/push/vapid-public-key");
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
  await api.call("POST", "/api/v1/push/subscriptions", sub.toJSON());
  return sub;
}
