// 统计: open/overdue hazards by level and unit, inspections by result, reports by stage,
// time to close. Figures from /api/v1/stats/dashboard (hazard/inspection module), with the
// console's own counts as a fallback when that module is not installed.
import * as api from './api.js';
import { FIGURE_NAMES, STAGE_NAMES, h, statusName } from './ui.js';

function bars(title, obj, label = (k) => k, id) {
  const entries = Object.entries(obj || {}).filter(([, v]) => typeof v === 'number');
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return h('div', { class: 'card', id }, h('h3', {}, title),
    entries.length ? entries.map(([k, v]) => h('div', { class: 'bar' }, h('span', { style: 'width:120px' }, label(k) || '（未填）'),
      h('span', { class: 'fill', style: `width:${Math.round(200 * v / max)}px` }), h('span', {}, String(v))))
      : h('p', { class: 'hint' }, '暂无数据'));
}

function flatten(obj) {
  // {"红": {"open": 3, "overdue": 1}} -> {"红 open": 3, ...}; plain numbers stay.
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) out[`${k} · ${statusName(k2)}`] = v2;
    else out[k] = v;
  }
  return out;
}

export async function render(root) {
  const s = await api.dashboard();
  const cards = [];
  const seen = new Set();
  const pick = (...keys) => { for (const k of keys) if (s[k] !== undefined) { seen.add(k); return s[k]; } return undefined; };
  cards.push(bars('未关闭隐患（按风险等级）', flatten(pick('hazards_open_by_level', 'open_by_level')), undefined, 'dash-open'));
  cards.push(bars('逾期隐患（按风险等级）', flatten(pick('hazards_overdue_by_level', 'overdue_by_level')), undefined, 'dash-overdue'));
  const byUnit = pick('hazards_by_unit', 'open_by_unit', 'by_unit');
  if (byUnit) cards.push(bars('隐患（按责任单位）', flatten(byUnit)));
  cards.push(bars('执法检查（按结果/状态）', flatten(pick('inspections_by_result', 'inspections_by_status')), statusName));
  cards.push(bars('灾情报告（按阶段）', flatten(pick('disaster_reports_by_stage', 'reports_by_stage')), (k) => STAGE_NAMES[k] || k));
  const ttc = pick('time_to_close', 'time_to_close_hours', 'mean_time_to_close_hours');
  if (ttc !== undefined) cards.push(h('div', { class: 'card' }, h('h3', {}, '隐患闭环用时'),
    typeof ttc === 'object' ? h('dl', { class: 'kv' }, Object.entries(ttc).map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'number' ? v.toFixed(1) : String(v))]))
      : h('p', {}, `${Number(ttc).toFixed(1)} 小时`)));
  for (const [k, v] of Object.entries(s)) {
    if (seen.has(k) || k === 'source' || !v || typeof v !== 'object') continue;
    cards.push(bars(FIGURE_NAMES[k] || k, flatten(v)));
  }
  root.append(h('p', { class: 'hint' }, s.source === 'console' ? '统计模块未安装，以下为审核台按现有记录计算的概况。' : ''),
    h('div', { class: 'grid2', id: 'dashboard' }, cards));
  return null;
}
