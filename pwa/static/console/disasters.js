// 灾情: each event's current figures up the jurisdiction tree (county → township → village),
// the chain of reports of each place (初报 → 续报 → 核报), and lateness against the reporting
// deadlines. Aggregation and deadlines are the field module's (/api/v1/disasters/...).
import * as api from './api.js';
import { FIGURE_NAMES, STAGE_NAMES, busy, fmtTime, h, showError, toast } from './ui.js';

const MAIN = ['affected_population', 'deaths', 'missing', 'relocated', 'relief_needed', 'collapsed_rooms',
  'severely_damaged_rooms', 'crop_affected_ha', 'direct_loss_wan_yuan'];
const lateBy = (s) => (s >= 86400 ? `${Math.floor(s / 86400)} 天 ${Math.floor((s % 86400) / 3600)} 小时`
  : s >= 3600 ? `${Math.floor(s / 3600)} 小时 ${Math.round((s % 3600) / 60)} 分钟` : `${Math.round(s / 60)} 分钟`);
const num = (v) => (v == null ? '—' : Number(v).toLocaleString('zh-CN', { maximumFractionDigits: 2 }));
const figureCells = (f) => MAIN.map((k) => h('td', {}, num((f || {})[k])));
const figureHead = (first) => h('tr', {}, [first, ...MAIN.map((k) => FIGURE_NAMES[k])].map((t) => h('th', {}, t)));

export async function render(root, selected) {
  const body = await api.disasterEvents();
  if (body === null) { root.append(h('div', { class: 'empty' }, '灾情模块未安装。')); return null; }
  if (!body.items.length) { root.append(h('div', { class: 'empty' }, '暂无灾情报告')); return null; }
  const list = h('table', { id: 'event-list' }, h('thead', {}, h('tr', {}, ['事件', '发生时间', '阶段', '报送地点', '死亡/失踪', '受灾人口', '及时性'].map((t) => h('th', {}, t)))),
    h('tbody', {}, body.items.map((ev) => h('tr', { class: 'row', dataset: { eventId: ev.event_id }, onclick: () => { location.hash = `#/disasters/${ev.event_id}`; } },
      h('td', {}, (ev.disaster_types || []).join('、') || '灾害事件', ev.direct_report_required ? h('span', { class: 'late' }, ' 须直报') : ''),
      h('td', {}, fmtTime(ev.occurred_at)), h('td', {}, STAGE_NAMES[ev.stage] || ev.stage || '—'), h('td', {}, ev.places_reporting),
      h('td', {}, `${num(ev.totals.deaths)} / ${num(ev.totals.missing)}`), h('td', {}, num(ev.totals.affected_population)),
      h('td', { class: ev.late ? 'late' : 'ok' }, ev.late ? '有超时' : '及时')))));
  root.append(h('div', { class: 'card' }, h('h2', {}, '灾害事件'), list));
  const eventId = selected || body.items[0].event_id;
  const detail = h('div', { id: 'event-detail' }, h('p', { class: 'hint' }, '加载中…'));
  root.append(detail);
  const [summary, chain] = await Promise.all([api.disasterSummary(eventId, 'township'), api.disasterChain(eventId)]);
  detail.replaceChildren(...renderEvent(summary, chain));
  return null;
}

function renderEvent(s, chain) {
  const rows = [];
  const county = {};
  for (const t of s.units) {
    const c = t.code.slice(0, 6);
    (county[c] = county[c] || []).push(t);
  }
  rows.push(h('tr', { class: 'total', dataset: { code: 'total' } }, h('td', {}, h('strong', {}, '合计')), figureCells(s.totals)));
  for (const t of s.units) {
    rows.push(h('tr', { dataset: { code: t.code } }, h('td', { style: 'padding-left:24px' }, t.name || t.code,
      h('span', { class: 'hint' }, ` ${STAGE_NAMES[t.stage] || t.stage || ''}${t.source === 'township_report' ? ' · 乡镇整报' : ' · 各村合计'}`)), figureCells(t.figures)));
    for (const v of t.villages || []) {
      rows.push(h('tr', { dataset: { code: v.code }, class: v.superseded ? 'hint' : '' },
        h('td', { style: 'padding-left:48px' }, v.name || v.code, h('span', { class: 'hint' }, ` ${STAGE_NAMES[v.stage] || v.stage || ''}${v.superseded ? ' · 已由乡镇整报' : ''}`)),
        figureCells(v.figures)));
    }
  }
  const late = s.lateness || { townships: [], counties: [] };
  // The county passes each stage on (上报): the 初报 once, a 续报 each day while a place still
  // develops (due 09:00), the 核报 once every place is stable (due 2 working days later).
  const stageBtn = (stage, cls, label, done) => h('button', { type: 'button', class: cls, onclick: async (e) => {
    try { await busy(e.target, api.disasterForward(s.event_id, undefined, stage)); toast(done, 'ok'); location.reload(); } catch (err) { showError(err); }
  } }, label);
  const forwardBtn = (c) => (c.forwarded_at ? `已转报 ${fmtTime(c.forwarded_at)}` : stageBtn(undefined, 'forward', '转报上级', '已向上级转报'));
  const followupOpen = (c) => !c.stable && !c.final_forwarded_at;
  const followupCell = (c) => {
    if (c.final_forwarded_at) return '已核报';
    if (c.stable) return '已稳定，应报核报';
    const parts = [c.followups_missed.length ? `缺报 ${c.followups_missed.length} 次` : '按时'];
    if (c.followup_forwarded_today) parts.push(` · 今日已报 ${fmtTime(c.followup_last_forwarded_at)}`);
    else if (c.forwarded_at) parts.push(' ', stageBtn('续报', 'forward-followup', '报送续报', '已报送今日续报'));
    return parts;
  };
  const finalCell = (c) => {
    if (c.final_forwarded_at) return [`已核报 ${fmtTime(c.final_forwarded_at)}`, c.final_late ? ' 超时' : ''];
    if (!c.stable) return '灾情发展中';
    return [c.forwarded_at ? stageBtn('核报', 'forward-final', '报送核报', '已报送核报') : '', c.final_late ? ' 超时' : ''];
  };
  return [
    h('div', { class: 'card', style: 'margin-top:16px' },
      h('h2', {}, `${(s.disaster_types || []).join('、')} · ${STAGE_NAMES[s.stage] || s.stage || ''}`,
        h('span', { class: 'hint' }, ` 发生 ${fmtTime(s.occurred_at)} · 首报接收 ${fmtTime(s.first_received_at)} · ${s.reports} 份报告`)),
      s.direct_report_required ? h('p', { class: 'late' }, '死亡失踪 10 人以上：须同时直报省级和应急管理部。') : null,
      h('h3', {}, '逐级汇总（各地取最新一报，乡镇整报优先）'),
      h('table', { id: 'event-tree' }, h('thead', {}, figureHead('区划')), h('tbody', {}, rows))),
    h('div', { class: 'card', style: 'margin-top:16px', id: 'lateness' }, h('h3', {}, '报送时限'),
      h('table', {}, h('thead', {}, h('tr', {}, ['乡镇', '首报接收', '首报时限', '首报', '续报', '下次续报'].map((t) => h('th', {}, t)))),
        h('tbody', {}, late.townships.map((t) => h('tr', {},
          h('td', {}, t.name || t.code), h('td', {}, fmtTime(t.first_report_received_at)), h('td', {}, fmtTime(t.first_report_due_at)),
          h('td', { class: t.first_report_late ? 'late' : 'ok' }, t.first_report_late ? `超时 ${lateBy(t.first_report_late_by_s)}` : '及时'),
          h('td', { class: t.followup_late ? 'late' : '' }, t.stable ? '已核报' : t.followups_missed.length ? `缺报 ${t.followups_missed.length} 次` : '按时'),
          h('td', {}, t.stable ? '—' : fmtTime(t.followup_next_due_at)))))),
      h('table', { style: 'margin-top:8px', id: 'county-deadlines' }, h('thead', {}, h('tr', {}, ['县', '转报时限', '转报', '县级续报（每日 9 时）', '下次续报', '核报时限', '核报'].map((t) => h('th', {}, t)))),
        h('tbody', {}, late.counties.map((c) => h('tr', { dataset: { county: c.code } }, h('td', {}, c.name || c.code), h('td', {}, fmtTime(c.forward_due_at)),
          h('td', { class: c.forward_late ? 'late' : 'ok' }, forwardBtn(c), c.forward_late ? ' 超时' : ''),
          h('td', { class: c.followup_late ? 'late' : followupOpen(c) ? '' : 'ok' }, followupCell(c)),
          h('td', {}, followupOpen(c) ? fmtTime(c.followup_next_due_at) : '—'),
          h('td', {}, c.final_due_at ? fmtTime(c.final_due_at) : '稳定后 2 个工作日'),
          h('td', { class: c.final_late ? 'late' : c.final_forwarded_at ? 'ok' : '' }, finalCell(c))))))),
    h('div', { class: 'card', style: 'margin-top:16px', id: 'chains' }, h('h3', {}, '各地报送链'),
      h('table', {}, h('thead', {}, h('tr', {}, ['地点', '阶段', '发生', '接收', '报告人', '照片', ...MAIN.map((k) => FIGURE_NAMES[k])].map((t) => h('th', {}, t)))),
        h('tbody', {}, chain.places.flatMap((p) => p.reports.map((r, i) => h('tr', { dataset: { place: p.code } },
          h('td', {}, i === 0 ? p.name : ''), h('td', {}, STAGE_NAMES[r.stage] || r.stage),
          h('td', {}, fmtTime(r.occurred_at)), h('td', {}, fmtTime(r.received_at)), h('td', {}, r.reporter_name || '—'),
          h('td', {}, r.photos), figureCells(r.figures))))))),
  ];
}
