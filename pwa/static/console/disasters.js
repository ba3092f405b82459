// 灾情: each event's current figures summed up the jurisdiction tree, the chain of reports
// (初报 → 续报 → 核报) of each village, and which first reports came late.
import * as api from './api.js';
import { FIGURE_NAMES, STAGE_NAMES, fmtTime, h } from './ui.js';

const MAIN_FIGURES = ['affected', 'dead', 'missing', 'relocated', 'houses_collapsed', 'houses_damaged', 'direct_loss_10k_yuan'];
const LEVEL_INDENT = { province: 0, city: 1, county: 2, township: 3, village: 4 };

const num = (v) => (v ? Number(v).toLocaleString('zh-CN', { maximumFractionDigits: 2 }) : '0');

export async function render(root) {
  const body = await api.disasters();
  if (!body.items.length) {
    root.append(h('div', { class: 'empty' }, '暂无灾情报告'));
    return null;
  }
  for (const ev of body.items) {
    root.append(h('div', { class: 'card disaster-event', dataset: { eventId: ev.event_id }, style: 'margin-bottom:16px' },
      h('h2', {}, ev.title || '灾害事件', h('span', { class: 'hint' }, ` 首报接收 ${fmtTime(ev.first_at)}`),
        ev.late_villages ? h('span', { class: 'late' }, ` · ${ev.late_villages} 个村初报超时`) : ''),
      h('h3', {}, '逐级汇总（各村取最新一报）'),
      h('table', { class: 'tree' }, h('thead', {}, h('tr', {}, h('th', {}, '区划'), MAIN_FIGURES.map((f) => h('th', {}, FIGURE_NAMES[f])))),
        h('tbody', {}, ev.tree.map((n) => h('tr', { dataset: { code: n.code } },
          h('td', { style: `padding-left:${8 + 16 * (LEVEL_INDENT[n.level] || 0)}px` }, n.name),
          MAIN_FIGURES.map((f) => h('td', {}, num(n.figures[f]))))))),
      h('h3', {}, '各村报送链'),
      h('table', {}, h('thead', {}, h('tr', {}, ['村', '阶段', '发生时间', '接收时间', '及时性', '照片', ...MAIN_FIGURES.map((f) => FIGURE_NAMES[f])].map((t) => h('th', {}, t)))),
        h('tbody', {}, ev.villages.flatMap((v) => v.reports.map((r, i) => h('tr', { class: r.late ? 'late-row' : '' },
          h('td', {}, i === 0 ? v.name : ''), h('td', {}, STAGE_NAMES[r.stage] || r.stage),
          h('td', {}, fmtTime(r.occurred_at)), h('td', {}, fmtTime(r.received_at)),
          h('td', { class: r.late ? 'late' : '' }, r.late === null ? '—' : r.late ? '超过1小时' : '及时'),
          h('td', {}, r.photos), MAIN_FIGURES.map((f) => h('td', {}, num(r.figures[f]))))))))));
  }
  return null;
}
