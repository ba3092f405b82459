// The console shell: login, top navigation, hash routing, global keys.
// Each view module exports render(container, ...params) and may return a cleanup function.
import * as api from './api.js';
import { $, $$, h, showError } from './ui.js';

// Keys are shortcuts except while typing into a field (a checkbox is not typing).
const TYPING = 'input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]';

const ROUTES = {
  queue: () => import('./queue.js'),
  case: () => import('./case.js'),
  doc: () => import('./documents.js'),
  map: () => import('./map.js'),
  disasters: () => import('./disasters.js'),
  dashboard: () => import('./dashboard.js'),
};
const SUPERVISOR_ROLES = ['supervisor', 'admin'];

let cleanup = null;
let renderSeq = 0;

function parseHash() {
  const parts = (location.hash || '#/queue').replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [name, ...params] = parts;
  return { name: ROUTES[name] ? name : 'queue', params };
}

async function route() {
  if (!api.isLoggedIn()) return showLogin();
  const { name, params } = parseHash();
  const seq = ++renderSeq;
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } cleanup = null; }
  $$('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === name
    || (name === 'case' && a.dataset.view === 'queue') || (name === 'doc' && a.dataset.view === 'queue')));
  const view = $('#view');
  view.className = 'view';
  view.replaceChildren(h('div', { class: 'empty' }, '加载中…'));
  try {
    const mod = await ROUTES[name]();
    if (seq !== renderSeq) return;
    const container = h('div', { class: 'view-body', style: 'height:100%' });
    view.replaceChildren(container);
    cleanup = (await mod.render(container, ...params)) || null;
  } catch (e) {
    if (seq !== renderSeq) return;
    view.replaceChildren(h('div', { class: 'empty' }, `无法显示：${e.message}`));
    showError(e);
  }
}

function showLogin() {
  $('#nav').hidden = true;
  $('#who').replaceChildren();
  $('#view').replaceChildren();
  $('#login').hidden = false;
  $('#login input[name=username]').focus();
}

function showShell(user) {
  $('#login').hidden = true;
  $('#nav').hidden = false;
  $('#who').replaceChildren(
    h('span', { id: 'who-name' }, `${user.display_name} · ${user.jurisdiction_name || ''}`),
    h('button', { type: 'button', id: 'logout', onclick: async () => { await api.logout(); showLogin(); } }, '退出'),
  );
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const button = f.querySelector('button');
  button.disabled = true;
  try {
    const user = await api.login(f.username.value.trim(), f.password.value);
    if (!SUPERVISOR_ROLES.includes(user.role) && user.role !== 'inspector') {
      await api.logout();
      throw new Error('审核指挥台供审核人员使用；请用手机端。');
    }
    f.reset();
    showShell(user);
    route();
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
});

api.setLoggedOutHandler(() => { showError(new Error('登录已失效，请重新登录。')); showLogin(); });

// Global keys: 1–4 switch views (never while typing in a field).
document.addEventListener('keydown', (ev) => {
  if (ev.target.closest(TYPING) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const views = { 1: 'queue', 2: 'map', 3: 'disasters', 4: 'dashboard' };
  if (views[ev.key] && api.isLoggedIn()) location.hash = `#/${views[ev.key]}`;
});

window.addEventListener('hashchange', route);

if (api.isLoggedIn()) {
  showShell(api.currentUser());
  route();
} else {
  showLogin();
}
