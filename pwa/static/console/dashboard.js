// 统计: open/overdue hazards by level and unit, inspections by result, reports by stage, time
// to close. Hazard and inspection figures come from the review module (/api/v1/stats/dashboard);
// item results and disaster reports by stage from the console's own counts.
import * as api from './api.js';
import { STAGE_NAMES, fmtTime, h, statusName } from './ui.js';

function bars(title, obj, id, label = (k) => k) {
  const entries = Object.entries(obj || {}).filter(([, v]) => typeof v === 'number');
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return h('div', { class: 'card', id }, h('h3', {}, title),
    entries.length ? entries.map(([k, v]) => h('div', { class: 'bar' }, h('span', { style: 'width:140px' }, label(k) || '（未填）'),
      h('span', { class: 'fill', style: `width:${Math.round(200 * v / max)}px` }), h('span', {}, String(v))))
      : h('p', { class: 'hint' }, '暂无数据'));
}

const hours = (v) => (v == null ? '—' : `${Number(v).toFixed(1)} 小时`);

export async function render(root) {
  const { stats, own } = await api.dashboard();
  const cards = [];
  if (stats) {
    const hz = stats.hazards || {};
    cards.push(h('div', { class: 'card', id: 'dash-totals' }, h('h3', {}, '隐患闭环'),
      h('dl', { class: 'kv' }, h('dt', {}, '未关闭'), h('dd', { id: 'dash-open-total' }, String(hz.open_total ?? 0)),
        h('dt', {}, '逾期'), h('dd', { class: hz.overdue_total ? 'bad' : '', id: 'dash-overdue-total' }, String(hz.overdue_total ?? 0)),
        h('dt', {}, '已销号'), h('dd', {}, String(hz.closed_total ?? 0)),
        h('dt', {}, '平均闭环用时'), h('dd', { id: 'dash-ttc' }, hours(hz.avg_hours_to_close)),
        h('dt', {}, '检查平均结案用时'), h('dd', {}, hours((stats.inspections || {}).avg_hours_to_close)))));
    cards.push(bars('未关闭隐患（按风险等级）', hz.open_by_level, 'dash-open'));
    cards.push(bars('逾期隐患（按风险等级）', hz.overdue_by_level, 'dash-overdue'));
    cards.push(bars('未关闭隐患（按责任单位）', hz.open_by_unit, 'dash-unit'));
    cards.push(bars('逾期隐患（按责任单位）', hz.overdue_by_unit, 'dash-unit-overdue'));
    cards.push(bars('隐患（按状态）', hz.by_status, 'dash-hstatus', statusName));
  } else {
    cards.push(h('div', { class: 'card' }, h('p', { class: 'hint' }, '隐患统计服务未安装。')));
  }
  cards.push(bars('检查项结果', own.inspection_items_by_result, 'dash-items'));
  cards.push(bars('执法检查（按状态）', own.inspections_by_status, 'dash-istatus', statusName));
  cards.push(bars('灾情报告（按阶段）', own.disaster_reports_by_stage, 'dash-stages', (k) => STAGE_NAMES[k] || k));
  cards.push(bars('现场报告（按状态）', own.field_reports_by_status, 'dash-field', statusName));
  if (stats && stats.inspections && stats.inspections.per_inspector) {
    cards.push(h('div', { class: 'card' }, h('h3', {}, '执法人员'), h('table', {},
      h('thead', {}, h('tr', {}, ['人员', '检查', '问题', '合格', '不合格'].map((t) => h('th', {}, t)))),
      h('tbody', {}, stats.inspections.per_inspector.map((p) => h('tr', {}, h('td', {}, p.name || p.user_id),
        h('td', {}, p.inspections), h('td', {}, p.findings), h('td', {}, p.items['合格'] || 0), h('td', {}, p.items['不合格'] || 0)))))));
  }
  root.append(h('p', { class: 'hint' }, stats ? `截至 ${fmtTime(stats.as_of)}` : ''), h('div', { class: 'grid2', id: 'dashboard' }, cards));
  return null;
}
