// 审核队列: filters, sort, pagination, facet counts; j/k move, Enter opens, [ ] page, / search.
import * as api from './api.js';
import { ENTITY_NAMES, STATUS_NAMES, fmtTime, h, riskBadge, showError, statusBadge } from './ui.js';

// Keys are shortcuts except while typing into a field (a checkbox is not typing).
const TYPING = 'input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]';

const STATE_KEY = 'danbing.console.queue';
const DEFAULTS = { type: '', status: 'waiting', overdue: false, level: '', enterprise_id: '', jurisdiction: '',
  date_from: '', date_to: '', q: '', sort: 'updated', page: 1, per_page: 50, cursor: 0 };

function loadState() {
  try { return { ...DEFAULTS, ...JSON.parse(sessionStorage.getItem(STATE_KEY) || '{}') }; } catch { return { ...DEFAULTS }; }
}
const saveState = (s) => sessionStorage.setItem(STATE_KEY, JSON.stringify(s));

let lookups = null;
async function loadLookups() {
  if (!lookups) {
    const [j, e] = await Promise.all([api.jurisdictions().catch(() => ({ items: [] })), api.enterprises().catch(() => ({ items: [] }))]);
    lookups = { jurisdictions: j.items, enterprises: e.items };
  }
  return lookups;
}

function select(name, value, options, label) {
  return h('label', {}, label, h('select', { name },
    options.map(([v, text]) => h('option', { value: v, selected: String(v) === String(value) }, text))));
}

export async function render(root) {
  const state = loadState();
  const { jurisdictions, enterprises } = await loadLookups();
  const placeName = Object.fromEntries(jurisdictions.map((j) => [j.code, j.name]));
  const form = h('form', { class: 'toolbar', id: 'queue-filters' },
    select('type', state.type, [['', '全部类型'], ...Object.entries(ENTITY_NAMES)], '类型'),
    select('status', state.status, [['waiting', '待处理'], ['', '全部状态'], ...['reported', 'verified', 'assigned', 'rectifying',
      'rectified', 'reinspected', 'closed', 'rejected', 'submitted', 'under_review', 'returned', 'approved',
      'documents_issued'].map((s) => [s, STATUS_NAMES[s]])], '状态'),
    select('level', state.level, [['', '全部等级'], ['红', '红'], ['橙', '橙'], ['黄', '黄'], ['蓝', '蓝']], '风险等级'),
    select('enterprise_id', state.enterprise_id, [['', '全部企业'], ...enterprises.map((e) => [e.id, e.name])], '企业'),
    select('jurisdiction', state.jurisdiction, [['', '全部辖区'], ...jurisdictions.map((j) => [j.code,
      `${'　'.repeat(['province', 'city', 'county', 'township', 'village'].indexOf(j.level))}${j.name}`])], '辖区'),
    h('label', {}, '起', h('input', { type: 'date', name: 'date_from', value: state.date_from })),
    h('label', {}, '止', h('input', { type: 'date', name: 'date_to', value: state.date_to })),
    h('label', {}, '标题', h('input', { type: 'search', name: 'q', value: state.q, placeholder: '按 / 搜索' })),
    h('label', { style: 'flex-direction:row;align-items:center' },
      h('input', { type: 'checkbox', name: 'overdue', checked: state.overdue }), '仅逾期'),
    select('sort', state.sort, [['updated', '最近更新'], ['-updated', '最早更新'], ['created', '最新上报'],
      ['deadline', '期限最近'], ['risk', '风险最高'], ['title', '标题']], '排序'),
    h('button', { type: 'button', id: 'queue-reset' }, '清除筛选'),
  );
  const counts = h('div', { class: 'counts', id: 'queue-counts' });
  const table = h('table', { id: 'queue-table' });
  const pager = h('div', { class: 'pager' });
  root.append(form, counts, table, pager,
    h('p', { class: 'hint' }, '键盘：j/k 上下移动，Enter 打开，[ / ] 翻页，/ 搜索，o 仅逾期。'));

  let items = [];
  let total = 0;
  let loadSeq = 0;

  function readForm() {
    const fd = new FormData(form);
    for (const k of ['type', 'status', 'level', 'enterprise_id', 'jurisdiction', 'date_from', 'date_to', 'q', 'sort']) state[k] = fd.get(k) || '';
    state.overdue = form.overdue.checked;
  }

  function moveCursor(i) {
    state.cursor = Math.max(0, Math.min(items.length - 1, i));
    saveState(state);
    table.querySelectorAll('tr.row').forEach((tr, idx) => tr.classList.toggle('cursor', idx === state.cursor));
    const tr = table.querySelectorAll('tr.row')[state.cursor];
    if (tr) tr.scrollIntoView({ block: 'nearest' });
  }

  const open = (it) => { location.hash = `#/case/${it.entity}/${it.id}`; };

  function drawCounts(c) {
    const chips = [];
    chips.push(h('span', { class: 'chip' }, `共 ${c.total} 条`));
    for (const [t, n] of Object.entries(c.type || {})) {
      chips.push(h('button', { type: 'button', class: `chip${state.type === t ? ' on' : ''}`, dataset: { type: t },
        onclick: () => { form.type.value = state.type === t ? '' : t; apply(); } }, `${ENTITY_NAMES[t] || t} ${n}`));
    }
    for (const [s, n] of Object.entries(c.status || {})) {
      chips.push(h('button', { type: 'button', class: `chip${state.status === s ? ' on' : ''}`,
        onclick: () => { form.status.value = state.status === s ? 'waiting' : s; apply(); } }, `${STATUS_NAMES[s] || s || '无状态'} ${n}`));
    }
    chips.push(h('button', { type: 'button', class: `chip${state.overdue ? ' on' : ''}`, id: 'chip-overdue',
      onclick: () => { form.overdue.checked = !state.overdue; apply(); } }, `逾期 ${c.overdue}`));
    counts.replaceChildren(...chips);
  }

  function drawTable() {
    const head = h('tr', {}, ['类型', '标题', '风险', '状态', '企业', '辖区', '期限', '上报时间', '更新时间'].map((t) => h('th', {}, t)));
    const rows = items.map((it, i) => h('tr', {
      class: `row${it.overdue ? ' overdue' : ''}${i === state.cursor ? ' cursor' : ''}`,
      dataset: { id: it.id, entity: it.entity }, onclick: () => { moveCursor(i); open(it); },
    },
    h('td', {}, ENTITY_NAMES[it.entity] || it.entity),
    h('td', { class: 'title' }, it.title || '（无标题）', it.review_comment ? h('div', { class: 'hint' }, `意见：${it.review_comment}`) : null),
    h('td', {}, riskBadge(it.level)),
    h('td', {}, statusBadge(it.status)),
    h('td', {}, it.enterprise_name || '—'),
    h('td', { title: it.jurisdiction_code || '' }, placeName[it.jurisdiction_code] || it.jurisdiction_code || '—'),
    h('td', { class: 'deadline' }, it.deadline ? fmtTime(it.deadline) : '—', it.overdue ? ' 逾期' : ''),
    h('td', {}, fmtTime(it.created_at)),
    h('td', {}, fmtTime(it.updated_at))));
    table.replaceChildren(h('thead', {}, head), h('tbody', {}, rows.length ? rows
      : h('tr', {}, h('td', { colspan: 9, class: 'empty' }, '没有符合条件的记录'))));
    const pages = Math.max(1, Math.ceil(total / state.per_page));
    pager.replaceChildren(
      h('button', { type: 'button', id: 'prev-page', disabled: state.page <= 1, onclick: () => goPage(state.page - 1) }, '上一页'),
      h('span', { id: 'page-info' }, `第 ${state.page} / ${pages} 页`),
      h('button', { type: 'button', id: 'next-page', disabled: state.page >= pages, onclick: () => goPage(state.page + 1) }, '下一页'),
      select('per_page', state.per_page, [[20, '20/页'], [50, '50/页'], [100, '100/页'], [200, '200/页']], ''),
    );
    pager.querySelector('select').addEventListener('change', (e) => { state.per_page = Number(e.target.value); state.page = 1; load(); });
  }

  async function load() {
    const seq = ++loadSeq;
    saveState(state);
    const t0 = performance.now();
    try {
      const { cursor, ...query } = state;
      const body = await api.queue(query);
      if (seq !== loadSeq) return;
      items = body.items;
      total = body.total;
      if (state.cursor >= items.length) state.cursor = Math.max(0, items.length - 1);
      drawCounts(body.counts);
      drawTable();
      root.dataset.renderMs = String(Math.round(performance.now() - t0));
      root.dataset.loaded = String(seq);
    } catch (e) { showError(e); }
  }

  function goPage(p) { state.page = p; state.cursor = 0; load(); }
  function apply() { readForm(); state.page = 1; state.cursor = 0; load(); }

  form.addEventListener('change', apply);
  let typing;
  form.q.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(apply, 300); });
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  form.querySelector('#queue-reset').addEventListener('click', () => { Object.assign(state, DEFAULTS); saveState(state); root.replaceChildren(); render(root); });

  const onKey = (ev) => {
    if (ev.target.closest(TYPING) || ev.ctrlKey || ev.metaKey || ev.altKey) {
      if (ev.key === 'Escape') ev.target.blur();
      return;
    }
    const pages = Math.max(1, Math.ceil(total / state.per_page));
    if (ev.key === 'j' || ev.key === 'ArrowDown') { moveCursor(state.cursor + 1); ev.preventDefault(); }
    else if (ev.key === 'k' || ev.key === 'ArrowUp') { moveCursor(state.cursor - 1); ev.preventDefault(); }
    else if (ev.key === 'Enter' && items[state.cursor]) open(items[state.cursor]);
    else if (ev.key === ']' && state.page < pages) goPage(state.page + 1);
    else if (ev.key === '[' && state.page > 1) goPage(state.page - 1);
    else if (ev.key === '/') { form.q.focus(); ev.preventDefault(); }
    else if (ev.key === 'o') { form.overdue.checked = !form.overdue.checked; apply(); }
  };
  document.addEventListener('keydown', onKey);
  await load();
  return () => document.removeEventListener('keydown', onKey);
}
