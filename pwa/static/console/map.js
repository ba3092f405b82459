// 一张图: hazards by risk colour, inspections, field reports, disaster reports, patrol tracks,
// enterprises, and live team positions (polled, moved in place without a reload).
// Point layers are clustered (leaflet.markercluster) so thousands stay responsive; markers
// are canvas circle markers (preferCanvas), not DOM nodes.
import * as api from './api.js';
import { consoleConfig, createMap, leaflet } from './mapbase.js';
import { ENTITY_NAMES, RISK_COLOURS, fmtTime, h, riskColour, showError, statusName } from './ui.js';

const LAYERS = [
  { key: 'hazard', name: '隐患', colour: null, on: true },
  { key: 'inspection', name: '执法检查', colour: '#1f5fae', on: true },
  { key: 'field_report', name: '现场报告', colour: '#00897b', on: true },
  { key: 'disaster_report', name: '灾情报告', colour: '#6d4c41', on: true },
  { key: 'patrol', name: '巡查轨迹', colour: '#7cb342', on: false },
  { key: 'enterprise', name: '企业', colour: null, on: false },
];
const POSITIONS = { key: 'positions', name: '队员位置', colour: '#6a1b9a' };

/** Normalise one entry of /api/v1/positions/latest (field module) to {id, name, lat, lon, at}. */
export function normalisePosition(p) {
  const loc = p.location || p.position || p;
  const lat = Number(loc.lat ?? loc.latitude);
  const lon = Number(loc.lon ?? loc.lng ?? loc.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  return { id: String(p.user_id ?? p.id ?? p.device_id), name: p.display_name || p.name || p.username || `队员 ${p.user_id ?? ''}`,
    lat, lon, accuracy: loc.accuracy ?? p.accuracy, at: p.device_time || p.recorded_at || p.at || p.received_at,
    role: p.role, team: p.team || p.organisation };
}

export async function render(root) {
  const L = leaflet();
  const cfg = await consoleConfig();
  root.parentElement.className = 'view full';
  const mapEl = h('div', { id: 'map' });
  const status = h('p', { class: 'hint', id: 'map-status' });
  const team = h('ul', { class: 'team', id: 'team-list' });
  const toggles = h('div', { id: 'layer-toggles' });
  const panel = h('aside', { class: 'map-panel' },
    h('h3', {}, '图层'), toggles, status,
    h('h3', {}, '风险等级'), h('div', { class: 'legend' }, ['red', 'orange', 'yellow', 'blue'].map((k) => h('div', {},
      h('span', { style: `background:${RISK_COLOURS[k]}` }), { red: '红 重大风险', orange: '橙 较大风险', yellow: '黄 一般风险', blue: '蓝 低风险' }[k]))),
    h('h3', {}, '队员（点击看轨迹）'), team);
  root.append(h('div', { class: 'mapwrap' }, mapEl, panel));
  // A county or city command view: zoom 6 (a province) is as far out as anyone needs, and each
  // zoom level markercluster need not build saves time on every load (it builds one grid per level).
  const map = await createMap(mapEl, { minZoom: 6 });
  const timings = {};
  const groups = {};
  let trackLayer = null;

  // One popup for the whole layer, filled on click: 10,000 bound popups cost more than the
  // markers themselves. Points are [id, lat, lon, level, status, overdue, name?].
  async function openPopup(def, marker) {
    const [id, , , level, st, overdue, name] = marker.point;
    const head = `${ENTITY_NAMES[def.key] || def.name}${level ? ` · 风险 ${escapeHtml(level)}` : ''}`
      + `${st ? ` · ${escapeHtml(statusName(st))}` : ''}${overdue ? ' · <b style="color:#b3261e">逾期</b>' : ''}`;
    const popup = L.popup().setLatLng(marker.getLatLng()).setContent(`${name ? `<strong>${escapeHtml(name)}</strong><br>` : ''}${head}`).openOn(map);
    if (def.key === 'enterprise') return;
    try {
      const rec = await api.record(def.key, id);
      popup.setContent(`<strong>${escapeHtml(rec.title || '（无标题）')}</strong><br>${head}<br>`
        + `${escapeHtml(rec.enterprise_name || rec.jurisdiction_name || '')}<br><a href="#/case/${def.key}/${id}">打开</a>`);
    } catch (e) { popup.setContent(`${head}<br>${escapeHtml(e.message)}`); }
  }

  async function loadLayer(def) {
    const t0 = performance.now();
    const body = await api.mapLayer(def.key);
    const tFetched = performance.now();
    const key = def.key.replace('_', '');
    const cluster = L.markerClusterGroup({ chunkedLoading: true, disableClusteringAtZoom: 16, showCoverageOnHover: false,
      maxClusterRadius: 60,
      // Clustering runs in chunks so the page stays responsive; record when the last one is in.
      chunkProgress: (done, total) => { if (done === total) mapEl.dataset[`${key}DoneMs`] = String(Math.round(performance.now() - t0)); } });
    const markers = new Array(body.points.length);
    for (let i = 0; i < body.points.length; i += 1) {
      const p = body.points[i];
      const m = L.circleMarker([p[1], p[2]], { radius: 7, weight: 1, color: '#222',
        fillColor: def.colour || riskColour(p[3]), fillOpacity: 0.9 });
      m.point = p;
      markers[i] = m;
    }
    cluster.on('click', (e) => openPopup(def, e.layer));
    cluster.addLayers(markers);
    const group = L.layerGroup([cluster]);
    for (const [, points] of (body.tracks || []).map((t) => [t[0], t[1]])) {
      if (points.length > 1) L.polyline(points.map((x) => [x[0], x[1]]), { color: def.colour, weight: 3 }).addTo(group);
    }
    groups[def.key] = group;
    if (def.on) group.addTo(map);
    timings[def.key] = { count: body.points.length, fetch_ms: Math.round(tFetched - t0), render_ms: Math.round(performance.now() - tFetched) };
    mapEl.dataset[`${key}Count`] = String(body.points.length);
    mapEl.dataset[`${key}Ms`] = String(Math.round(performance.now() - t0));
    drawToggles();
  }

  function drawToggles() {
    toggles.replaceChildren(...[...LAYERS, POSITIONS].map((def) => h('label', {},
      h('input', { type: 'checkbox', dataset: { layer: def.key }, checked: groups[def.key] ? map.hasLayer(groups[def.key]) : def.on,
        onchange: (e) => { const g = groups[def.key]; if (!g) return; if (e.target.checked) g.addTo(map); else map.removeLayer(g); } }),
      h('span', { style: `display:inline-block;width:10px;height:10px;border-radius:50%;background:${def.colour || RISK_COLOURS.red}` }),
      `${def.name}${timings[def.key] ? `（${timings[def.key].count}）` : ''}`)));
  }

  // ---- live team positions -----------------------------------------------------------
  const positions = L.layerGroup().addTo(map);
  groups.positions = positions;
  const markers = new Map();
  let pollTimer = null;
  let stopped = false;

  async function pollPositions() {
    try {
      const body = await api.positionsLatest();
      if (stopped) return;
      if (body === null) { status.textContent = '定位服务未安装，暂无队员位置。'; return; }
      const list = (body.items || body.positions || body || []).map(normalisePosition).filter(Boolean);
      const seen = new Set();
      for (const p of list) {
        seen.add(p.id);
        let m = markers.get(p.id);
        if (m) {
          m.setLatLng([p.lat, p.lon]);
        } else {
          m = L.circleMarker([p.lat, p.lon], { radius: 6, weight: 2, color: '#fff', fillColor: POSITIONS.colour, fillOpacity: 1 });
          m.on('click', () => showTrack(p.id, p.name));
          markers.set(p.id, m);
          positions.addLayer(m);
        }
        m.bindTooltip(`${p.name} · ${fmtTime(p.at)}`);
      }
      for (const [id, m] of markers) if (!seen.has(id)) { positions.removeLayer(m); markers.delete(id); }
      list.sort((a, b) => String(b.at || '').localeCompare(String(a.at || '')));
      team.replaceChildren(...list.slice(0, 300).map((p) => h('li', { dataset: { userId: p.id, lat: p.lat, lon: p.lon },
        onclick: () => { map.setView([p.lat, p.lon], Math.max(map.getZoom(), 15)); showTrack(p.id, p.name); } },
      h('strong', {}, p.name), ` ${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`, h('div', { class: 'hint' }, fmtTime(p.at)))),
      list.length > 300 ? h('li', { class: 'hint' }, `另有 ${list.length - 300} 人，请在地图上查看`) : '');
      mapEl.dataset.positions = String(list.length);
      mapEl.dataset.positionsPolled = String(Date.now());
      timings.positions = { count: list.length };
      status.textContent = `队员位置 ${list.length} 人，每 ${Math.round(cfg.positions_poll_ms / 1000)} 秒刷新`;
    } catch (e) {
      status.textContent = `队员位置刷新失败：${e.message}`;
    } finally {
      if (!stopped) pollTimer = setTimeout(pollPositions, cfg.positions_poll_ms);
    }
  }

  async function showTrack(userId, name) {
    try {
      const body = await api.positionsTrack({ user_id: userId });
      if (trackLayer) map.removeLayer(trackLayer);
      const pts = (body ? body.items || body.points || body.track || [] : []).map(normalisePosition).filter(Boolean);
      if (pts.length < 2) { status.textContent = `${name}：暂无轨迹`; return; }
      trackLayer = L.polyline(pts.map((p) => [p.lat, p.lon]), { color: POSITIONS.colour, weight: 3, dashArray: '6 4' }).addTo(map);
      status.textContent = `${name}：轨迹 ${pts.length} 点`;
    } catch (e) { showError(e); }
  }

  drawToggles();
  const t0 = performance.now();
  const load = (def) => loadLayer(def).catch((e) => { status.textContent = `${def.name}：${e.message}`; });
  // Hazards first (the biggest layer, what a supervisor looks for), then the rest and the team.
  await load(LAYERS[0]);
  pollPositions();
  await Promise.all(LAYERS.slice(1).map(load));
  mapEl.dataset.layersMs = String(Math.round(performance.now() - t0));
  mapEl.dataset.ready = '1';
  window.__consoleMapTimings = timings;
  return () => { stopped = true; clearTimeout(pollTimer); map.remove(); };
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
