// The capture widget any record form embeds: photos, voice notes and a GPS fix.
import { h, toast, fmtLoc } from "../ui.js";
import * as outbox from "../outbox.js";
import * as capture from "../capture.js";

const STATE = { waiting: "待上传", uploading: "上传中", done: "已上传", error: "上传失败" };

export function uploadBadge(u, pendingRecord) {
  if (!u) return h("span", { class: "badge" }, "在服务器");
  if (u.state === "done") return h("span", { class: "badge ok" }, "已上传");
  const pct = u.size ? Math.floor(((u.offset || 0) / u.size) * 100) : 0;
  const text = u.state === "error" ? `${STATE.error}：${u.error || ""}` : pendingRecord && u.state === "waiting" ? "等待记录同步" : `${STATE[u.state] || u.state} ${pct}%`;
  return h("span", { class: `badge ${u.state === "error" ? "bad" : "wait"}`, "data-sha": u.sha256 }, text);
}

export async function thumb(sha, kind, recordUnsynced = false) {
  const u = await outbox.media(sha);
  const box = h("div", { class: "thumb", "data-sha": sha });
  if (u && u.blob) {
    const url = URL.createObjectURL(u.blob);
    box.append(kind === "voice" ? h("audio", { controls: true, src: url, preload: "metadata" }) : h("img", { src: url, alt: "照片" }));
  } else box.append(h("span", { class: "muted" }, kind === "voice" ? "语音（在服务器）" : "照片（在服务器）"));
  box.append(uploadBadge(u, recordUnsynced));
  return box;
}

/** state: {photos: [], voice_notes: [], location}; opts.fields picks which controls show. */
export function mediaWidget(state, opts = {}) {
  const photoField = opts.photoField || "photos";
  const want = opts.fields || [photoField, "voice_notes", "location"];
  const photosBox = h("div", { class: "thumbs", "data-list": photoField });
  const voiceBox = h("div", { class: "thumbs", "data-list": "voice_notes" });
  const locText = h("span", { class: "loc" }, fmtLoc(state.location));
  // Only the fields this record has (a disaster report has no voice notes: unknown fields are refused).
  if (want.includes(photoField)) state[photoField] = state[photoField] || [];
  if (want.includes("voice_notes")) state.voice_notes = state.voice_notes || [];

  const refresh = async () => {
    photosBox.replaceChildren(...(await Promise.all((state[photoField] || []).map((s) => thumb(s, "photo")))));
    voiceBox.replaceChildren(...(await Promise.all((state.voice_notes || []).map((s) => thumb(s, "voice")))));
    locText.textContent = fmtLoc(state.location);
  };

  async function addPhoto(blob, name) {
    const sha = await outbox.storeMedia(blob, "photo", name);
    if (!state[photoField].includes(sha)) state[photoField].push(sha);
    await refresh();
    if (opts.onChange) await opts.onChange();
  }

  let cam = null;
  const video = h("video", { class: "camera", playsinline: true, hidden: true });
  const snapBtn = h("button", { type: "button", class: "btn primary", hidden: true, "data-action": "snap", onclick: async () => {
    try { await addPhoto(await cam.snap(), `photo-${Date.now()}.jpg`); toast("已拍照，原图已保存"); } catch (e) { toast(e.message, "bad"); }
  } }, "拍摄");
  const closeBtn = h("button", { type: "button", class: "btn", hidden: true, onclick: () => stopCam() }, "关闭相机");
  function stopCam() { if (cam) cam.stop(); cam = null; video.hidden = snapBtn.hidden = closeBtn.hidden = true; }
  const camBtn = h("button", { type: "button", class: "btn", "data-action": "camera", onclick: async () => {
    try { cam = await capture.camera(video); video.hidden = snapBtn.hidden = closeBtn.hidden = false; } catch (e) { toast(`无法打开相机：${e.message}`, "bad"); }
  } }, "📷 拍照");
  const fileInput = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, hidden: true,
    onchange: async () => { for (const f of fileInput.files) await addPhoto(f, f.name); fileInput.value = ""; } });
  const fileBtn = h("button", { type: "button", class: "btn", onclick: () => fileInput.click() }, "🖼 选照片");

  let rec = null;
  const recBtn = h("button", { type: "button", class: "btn", "data-action": "record", onclick: async () => {
    try {
      if (!rec) { rec = await capture.record(); recBtn.textContent = "⏹ 停止录音"; recBtn.classList.add("danger"); return; }
      const { blob, duration } = await rec.stop();
      rec = null; recBtn.textContent = "🎤 录音"; recBtn.classList.remove("danger");
      const sha = await outbox.storeMedia(blob, "voice", `voice-${Date.now()}.webm`, { duration });
      if (!state.voice_notes.includes(sha)) state.voice_notes.push(sha);
      await refresh();
      toast(`已录音 ${duration.toFixed(1)} 秒`);
    } catch (e) { rec = null; toast(`无法录音：${e.message}`, "bad"); }
  } }, "🎤 录音");

  const locBtn = h("button", { type: "button", class: "btn", "data-action": "locate", onclick: async () => {
    locText.textContent = "定位中…";
    try {
      // The schemas take {lat, lon, accuracy}; the fix time goes with the record's own time field.
      const { at, ...loc } = await capture.locate();
      state.location = loc;
      state.__fix_at = at;
    } catch (e) { toast(e.message, "bad"); }
    locText.textContent = fmtLoc(state.location);
  } }, "📍 定位");

  refresh();
  const el = h("div", { class: "media" },
    want.includes(photoField) ? [h("div", { class: "row" }, camBtn, fileBtn, fileInput), video, h("div", { class: "row" }, snapBtn, closeBtn), photosBox] : null,
    want.includes("voice_notes") ? [h("div", { class: "row" }, recBtn), voiceBox] : null,
    want.includes("location") ? h("div", { class: "row" }, locBtn, locText) : null);
  el.cleanup = stopCam;
  el.locate = () => locBtn.click();
  return el;
}
