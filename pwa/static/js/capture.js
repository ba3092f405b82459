// Capture on the phone: camera photos (the full-resolution original is what is kept and
// uploaded as evidence), GPS with accuracy and time, voice notes with MediaRecorder.

/** A fix: {lat, lon, accuracy, at} or throws with a message a person can act on. */
export function locate({ timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) return reject(new Error("此设备不支持定位"));
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy,
        at: new Date(p.timestamp).toISOString() }),
      (e) => reject(new Error(e.code === 1 ? "未获得定位权限，请在浏览器设置中允许定位" : "暂时无法定位，请到开阔处重试")),
      { enableHighAccuracy: true, timeout, maximumAge: 10000 });
  });
}

export function watch(onFix, onError) {
  if (!navigator.geolocation) { onError && onError(new Error("此设备不支持定位")); return () => {}; }
  const id = navigator.geolocation.watchPosition(
    (p) => onFix({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy,
      at: new Date(p.timestamp).toISOString() }),
    (e) => onError && onError(e), { enableHighAccuracy: true, maximumAge: 5000 });
  return () => navigator.geolocation.clearWatch(id);
}

/** Open the rear camera into `video`; returns {snap(): Promise<Blob>, stop()}. */
export async function camera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 4096 }, height: { ideal: 3072 } }, audio: false });
  video.srcObject = stream;
  video.muted = true;
  await video.play();
  return {
    async snap() {
      const w = video.videoWidth, h = video.videoHeight;
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h; // the sensor's full frame, not the preview size
      canvas.getContext("2d").drawImage(video, 0, 0, w, h);
      return new Promise((res) => canvas.toBlob(res, "image/jpeg", 0.92));
    },
    stop() { stream.getTracks().forEach((t) => t.stop()); video.srcObject = null; },
  };
}

/** Start recording the microphone; returns {stop(): Promise<{blob, duration}>}. */
export async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const type = ["audio/webm;codecs=opus", "audio/webm", "audio/mp4"].find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
  const rec = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const parts = [];
  rec.ondataavailable = (e) => e.data && e.data.size && parts.push(e.data);
  const started = Date.now();
  rec.start(250);
  return {
    stop: () => new Promise((resolve) => {
      rec.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        resolve({ blob: new Blob(parts, { type: (rec.mimeType || "audio/webm").split(";")[0] }), duration: (Date.now() - started) / 1000 });
      };
      rec.stop();
    }),
  };
}

/** A fix as the record schemas take it: {lat, lon, accuracy} (the time goes in the record's own time field). */
export const place = (fix) => (fix ? { lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy } : null);
