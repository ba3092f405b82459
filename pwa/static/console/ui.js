// DOM helpers and the words the console shows. No fetching here.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'html') el.innerHTML = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function toast(message, kind = 'info') {
  const box = $('#toasts');
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** Show an ApiError (or any error) as a toast, with the server's field messages. */
export function showError(e) {
  const lines = e && e.fieldMessages ? e.fieldMessages : [];
  toast([e && e.message ? e.message : String(e), ...lines].join('\n'), 'error');
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso.endsWith('Z') || iso.includes('+') ? iso : `${iso}Z`);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export const ENTITY_NAMES = {
  hazard: '隐患', inspection: '执法检查', disaster_report: '灾情报告', field_report: '现场报告', patrol: '巡查',
};

export const STATUS_NAMES = {
  draft: '草稿', submitted: '待审核', pending: '待审核', pending_review: '待审核', reported: '已上报',
  returned: '已退回', approved: '已通过', verified: '已核实', assigned: '已派单', rectifying: '整改中',
  rectified: '已整改', rechecked: '已复查', closed: '已销号', escalated: '已上报上级', dismissed: '已排除',
  in_progress: '进行中', finished: '已完成', under_legal_review: '法制审核中', signed: '已签批', issued: '已签发',
  overdue: '已逾期', open: '未关闭', rejected: '不予核实', reinspected: '已复查', under_review: '审核中',
  documents_issued: '文书已送达', waiting: '待处理',
};

export const statusName = (s) => (s ? STATUS_NAMES[s] || s : '—');

// 红橙黄蓝 four risk levels; both words and codes are in use.
const RISK = {
  红: 'red', red: 'red', 重大: 'red', major: 'red',
  橙: 'orange', orange: 'orange',
  黄: 'yellow', yellow: 'yellow', 一般: 'yellow', general: 'yellow',
  蓝: 'blue', blue: 'blue',
};
export const RISK_COLOURS = { red: '#d7191c', orange: '#f28e2b', yellow: '#e6c229', blue: '#2b83ba', none: '#777' };
export const RISK_NAMES = { red: '红', orange: '橙', yellow: '黄', blue: '蓝' };
export const riskKey = (level) => RISK[level] || 'none';
export const riskColour = (level) => RISK_COLOURS[riskKey(level)];

export function riskBadge(level) {
  if (!level) return h('span', { class: 'badge' }, '—');
  const k = riskKey(level);
  return h('span', { class: `badge risk-${k}`, title: `风险等级 ${level}` }, RISK_NAMES[k] || level);
}

export function statusBadge(status) {
  return h('span', { class: `badge status status-${status || 'none'}` }, statusName(status));
}

export const STAGE_NAMES = { initial: '初报', update: '续报', verified: '核报', 初报: '初报', 续报: '续报', 核报: '核报' };

// The core indicators of a disaster report (field/CONTRACT.md).
export const FIGURE_NAMES = {
  affected_population: '受灾人口', deaths: '死亡', missing: '失踪', injured: '受伤', relocated: '紧急转移安置',
  relief_needed: '需紧急生活救助', collapsed_households: '倒塌房屋(户)', collapsed_rooms: '倒塌房屋(间)',
  severely_damaged_rooms: '严重损坏(间)', generally_damaged_rooms: '一般损坏(间)', crop_affected_ha: '农作物受灾(公顷)',
  crop_failed_ha: '绝收(公顷)', direct_loss_wan_yuan: '直接经济损失(万元)',
};

export function busy(button, promise) {
  button.disabled = true;
  return promise.finally(() => { button.disabled = false; });
}
