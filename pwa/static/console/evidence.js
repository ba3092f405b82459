// Evidence photos with the detectors' boxes drawn over them (SVG, toggleable), voice notes.
import * as api from './api.js';
import { h } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const SHA = /^[0-9a-f]{64}$/;

/** Every blob a record refers to, grouped for display: [{sha256, caption}] per kind. */
export function collectEvidence(data) {
  const photos = [];
  const seen = new Set();
  const add = (sha, caption) => {
    if (typeof sha === 'object' && sha) sha = sha.sha256 || sha.id;
    if (typeof sha === 'string' && SHA.test(sha) && !seen.has(sha)) { seen.add(sha); photos.push({ sha256: sha, caption }); }
  };
  (data.photos || []).forEach((s) => add(s, '现场照片'));
  (data.after_photos || []).forEach((s) => add(s, '整改后照片'));
  (data.evidence || []).forEach((s) => add(s, '证据'));
  (data.items || []).forEach((it) => (it.evidence || []).forEach((s) => add(s, `检查项 ${it.code || ''} ${it.title || ''}`)));
  (data.findings || []).forEach((f) => (f.evidence || []).forEach((s) => add(s, `问题：${f.description || ''}`)));
  if (data.annotated_image) add(data.annotated_image, '识别标注图');
  const voice = [...(data.voice_notes || []), ...(data.voice || [])].filter((s) => typeof s === 'string' && SHA.test(s));
  return { photos, voice };
}

/** A detection's box as [x1, y1, x2, y2] and whether it is normalised (0–1) or in pixels. */
export function detectionBox(d) {
  let b = d.box || d.bbox || d.xyxy;
  if (b && !Array.isArray(b)) b = [b.x1 ?? b.left ?? b.x, b.y1 ?? b.top ?? b.y, b.x2 ?? b.right, b.y2 ?? b.bottom];
  if (!b && d.xywh) { const [x, y, w, hgt] = d.xywh; b = [x, y, x + w, y + hgt]; }
  if (!b || b.length < 4 || b.some((v) => typeof v !== 'number')) return null;
  return { box: b.slice(0, 4), normalised: b.every((v) => v >= 0 && v <= 1.0001) };
}

export const detectionPhoto = (d) => d.photo || d.sha256 || d.blob || d.image || d.source_sha256 || null;
export const detectionLabel = (d) => d.name || d.label || '识别目标';
/** suggested | confirmed | dismissed (vision's review of the box). */
export const detectionVerdict = (d) => d.review || d.status || 'suggested';

const VERDICT_COLOUR = { confirmed: '#d7191c', dismissed: '#9e9e9e' };

/** One photo with its detections; the SVG layer is shown while ``showBoxes()`` is true. */
export function photoFigure(item, detections, showBoxes) {
  const fig = h('figure', { class: 'photo', dataset: { sha256: item.sha256 } });
  const caption = h('figcaption', { class: 'hint' }, item.caption);
  fig.append(h('div', { class: 'missing' }, '照片加载中…'), caption);
  api.blobUrl(item.sha256, 'preview').catch(() => null).then(async (url) => {
    if (!url) url = await api.blobUrl(item.sha256).catch(() => null);
    if (!url) { fig.firstChild.textContent = '照片尚未上传（设备离线时待补传）'; return; }
    const img = h('img', { src: url, alt: item.caption });
    img.addEventListener('load', () => {
      const w = img.naturalWidth;
      const hgt = img.naturalHeight;
      const svg = document.createElementNS(SVG, 'svg');
      svg.setAttribute('class', 'boxes');
      svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
      svg.setAttribute('preserveAspectRatio', 'none');
      detections.forEach((d) => {
        const b = detectionBox(d);
        if (!b) return;
        // Boxes are in the original photo's pixels unless normalised; a preview variant is
        // scaled, so pixel boxes are mapped through the original size the detector recorded.
        const [ow, oh] = d.image_size || [w, hgt];
        const sx = b.normalised ? w : w / (ow || w);
        const sy = b.normalised ? hgt : hgt / (oh || hgt);
        const [x1, y1, x2, y2] = b.box;
        const colour = VERDICT_COLOUR[detectionVerdict(d)] || '#ffcc00';
        const r = document.createElementNS(SVG, 'rect');
        Object.entries({ x: x1 * sx, y: y1 * sy, width: (x2 - x1) * sx, height: (y2 - y1) * sy, fill: 'none',
          stroke: colour, 'stroke-width': Math.max(2, w / 250), class: 'detection-box' }).forEach(([k, v]) => r.setAttribute(k, v));
        r.dataset.detection = String(d.id);
        const t = document.createElementNS(SVG, 'text');
        Object.entries({ x: x1 * sx + 4, y: Math.max(14, y1 * sy - 4), fill: colour, 'font-size': Math.max(14, w / 40),
          'font-weight': 'bold' }).forEach(([k, v]) => t.setAttribute(k, v));
        t.textContent = `${detectionLabel(d)} ${d.confidence != null ? Math.round(d.confidence * 100) + '%' : ''}`;
        svg.append(r, t);
      });
      svg.style.display = showBoxes() ? '' : 'none';
      fig.append(svg);
    });
    fig.firstChild.replaceWith(img);
  });
  return fig;
}

export function voiceNote(sha) {
  const wrap = h('div', { class: 'voice', dataset: { sha256: sha } }, '语音加载中…');
  api.blobUrl(sha).then((url) => {
    wrap.replaceChildren(url ? h('audio', { controls: true, preload: 'metadata', src: url }) : '语音尚未上传');
  }).catch(() => wrap.replaceChildren('语音无法读取'));
  return wrap;
}
