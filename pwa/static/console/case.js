// Case detail: evidence with detection boxes, voice, GPS, history and audit-chain check,
// conflicts with restore, suggested clauses, review actions, the case's documents.
import * as api from './api.js';
import { collectEvidence, detectionLabel, detectionVerdict, photoFigure, voiceNote } from './evidence.js';
import { createMap, leaflet } from './mapbase.js';
import { ENTITY_NAMES, busy, fmtTime, h, riskBadge, riskColour, showError, statusBadge, statusName, toast } from './ui.js';

// Keys are shortcuts except while typing into a field (a checkbox is not typing).
const TYPING = 'input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]';

const KIND_NAMES = {
  inspection_record: '现场检查记录', rectification_order: '责令限期整改指令书', recheck_opinion: '整改复查意见书',
  onsite_measures: '现场处理措施决定书', penalty_notice: '行政处罚告知书', penalty_decision: '行政处罚决定书',
};
export { KIND_NAMES };

const REVIEWABLE = ['hazard', 'inspection'];
const ACTION_WORDS = {
  create: '上报', reported: '上报', submitted: '提交', under_review: '受理审核', approved: '审核通过', returned: '退回',
  verified: '核实', rejected: '不予核实', assigned: '派单', rectifying: '整改中', rectified: '整改完成', reinspected: '复查',
  closed: '销号/结案', escalate: '升级督办', document_issue: '文书签发', update: '修改', edit: '修改内容',
  assign: '派单/改派', legal_review: '法制审核', review: '审核意见', delete: '删除', draft: '起草文书',
  sign: '签批文书', issue: '签发文书',
};
/** A clause reference as text: a citation string, or {citation} / {law, article}. */
const citation = (r) => (typeof r === 'string' ? r : r.citation || `${r.law || ''}第${r.article || ''}条`);

/** An audit entry's action in words: "status:under_review->returned" reads 退回. */
function actionWord(a) {
  const m = /^status:(.*)->(.*)$/.exec(a || '');
  if (m) return ACTION_WORDS[m[2]] || `${statusName(m[1])} → ${statusName(m[2])}`;
  return ACTION_WORDS[a] || a;
}

export async function render(root, entity, id) {
  let c;
  let minimap = null;
  let showBoxes = true;

  async function load() {
    const [rec, loops] = await Promise.all([api.record(entity, id),
      REVIEWABLE.includes(entity) ? api.reviewItem(entity, id).catch(() => null) : null]);
    c = rec;
    c.loops = loops; // history, audit check and available actions from the review module
    if (minimap) { minimap.remove(); minimap = null; }
    root.replaceChildren(layout());
    root.dataset.version = String(c.version);
    root.dataset.status = c.status || '';
  }

  function layout() {
    const d = c.data || {};
    const left = h('div', {},
      h('div', { class: 'card', id: 'case-head' },
        h('p', { class: 'hint' }, h('a', { href: '#/queue' }, '← 返回队列 (u)'), ` · ${ENTITY_NAMES[c.entity] || c.entity} · 版本 ${c.version}`),
        h('h2', { id: 'case-title' }, c.title || '（无标题）', ' ', riskBadge(c.level), ' ', statusBadge(c.status)),
        h('dl', { class: 'kv' },
          h('dt', {}, '企业'), h('dd', {}, c.enterprise_name || '—'),
          h('dt', {}, '辖区'), h('dd', {}, c.jurisdiction_name || c.jurisdiction_code || '—'),
          h('dt', {}, '上报人'), h('dd', {}, c.owner_name || '—'),
          h('dt', {}, '最后更新'), h('dd', {}, `${c.updater_name || '—'} · 设备 ${c.updated_by_device || '—'}`),
          h('dt', {}, '描述'), h('dd', {}, d.description || '—'),
          d.category ? [h('dt', {}, '类别'), h('dd', {}, d.category)] : null,
          d.hazard_code ? [h('dt', {}, '隐患代码'), h('dd', {}, d.hazard_code)] : null,
          d.grade ? [h('dt', {}, '隐患等级'), h('dd', {}, d.grade)] : null,
          d.handling ? [h('dt', {}, '治理方式'), h('dd', {}, d.handling)] : null,
          h('dt', {}, '现场时间'), h('dd', {}, fmtTime(d.device_time || d.occurred_at || c.occurred_at), h('span', { class: 'hint' }, '（设备时钟）')),
          h('dt', {}, '接收时间'), h('dd', {}, fmtTime(c.created_at)),
          h('dt', {}, '期限'), h('dd', { class: c.overdue ? 'bad' : '' }, c.deadline ? fmtTime(c.deadline) : '—', c.overdue ? '（已逾期）' : ''),
          d.work_order ? [h('dt', {}, '处置单'), h('dd', { id: 'work-order' }, `${d.work_order.unit || ''} · 责任人 ${(c.loops && c.loops.users[d.work_order.person_id]) || d.work_order.person_id} · 期限 ${fmtTime(d.work_order.deadline)}`)] : null,
          d.review ? [h('dt', {}, '审核意见'), h('dd', { id: 'review-comment' }, `${statusName(d.review.action)}：${d.review.comment || '—'}`)] : null),
      ),
      evidenceCard(d),
      d.items ? checklistCard(d) : null,
      d.findings && d.findings.length ? findingsCard(d) : null,
    );
    const right = h('div', {},
      REVIEWABLE.includes(c.entity) ? actionsCard() : null,
      gpsCard(d),
      detectionsCard(d),
      clausesCard(d),
      documentsCard(),
      conflictsCard(),
      historyCard(),
    );
    return h('div', { class: 'case', id: 'case' }, left, right);
  }

  function evidenceCard(d) {
    const { photos, voice } = collectEvidence(d);
    const detections = d.detections || [];
    const byPhoto = (sha) => detections.filter((x) => (x.photo || photos[0]?.sha256) === sha);
    const toggle = h('label', { style: 'flex-direction:row;align-items:center' },
      h('input', { type: 'checkbox', id: 'toggle-boxes', checked: showBoxes, onchange: (e) => {
        showBoxes = e.target.checked;
        root.querySelectorAll('svg.boxes').forEach((s) => { s.style.display = showBoxes ? '' : 'none'; });
      } }), '显示识别框 (b)');
    return h('div', { class: 'card' },
      h('h3', {}, `证据（照片 ${photos.length}，语音 ${voice.length}）`), detections.length ? toggle : null,
      h('div', { class: 'photos' }, photos.length ? photos.map((p) => photoFigure(p, byPhoto(p.sha256), () => showBoxes))
        : h('p', { class: 'hint' }, '没有照片')),
      voice.length ? h('div', {}, h('h3', {}, '语音'), voice.map(voiceNote)) : null);
  }

  function checklistCard(d) {
    return h('div', { class: 'card' }, h('h3', {}, '检查表'),
      h('table', {}, h('tbody', {}, d.items.map((it) => h('tr', {},
        h('td', {}, it.code || ''), h('td', { class: 'title' }, it.title || ''),
        h('td', { class: it.result === '不合格' ? 'bad' : '' }, it.result || '—'), h('td', { class: 'title' }, it.note || ''))))));
  }

  function findingsCard(d) {
    return h('div', { class: 'card' }, h('h3', {}, '发现的问题'),
      h('ol', {}, d.findings.map((f) => h('li', {}, f.description || f.text || '',
        (f.clauses || []).length ? h('div', { class: 'hint' }, (f.clauses || []).map((x) => x.citation || x.law || JSON.stringify(x)).join('；')) : null))));
  }

  function gpsCard(d) {
    const loc = d.location;
    const el = h('div', { class: 'minimap', id: 'case-map' });
    const card = h('div', { class: 'card' }, h('h3', {}, '位置'),
      loc ? h('p', { class: 'hint' }, `${loc.lat.toFixed(6)}, ${loc.lon.toFixed(6)}${loc.accuracy != null ? ` ±${Math.round(loc.accuracy)} 米` : ''}`) : h('p', { class: 'hint' }, '没有位置信息'),
      loc ? el : null);
    if (loc) {
      requestAnimationFrame(async () => {
        try {
          minimap = await createMap(el, { center: [loc.lat, loc.lon], zoom: 15, zoomControl: false });
          const L = leaflet();
          L.circleMarker([loc.lat, loc.lon], { radius: 8, color: '#000', weight: 1, fillColor: riskColour(c.level), fillOpacity: 0.9 }).addTo(minimap);
          if (loc.accuracy) L.circle([loc.lat, loc.lon], { radius: loc.accuracy, weight: 1, fillOpacity: 0.1 }).addTo(minimap);
        } catch (e) { el.replaceChildren(h('p', { class: 'hint' }, e.message)); }
      });
    }
    return card;
  }

  function detectionsCard(d) {
    const detections = d.detections || [];
    const vision = d.vision || {};
    if (!detections.length && !vision.state) return null;
    const verdictWords = { confirmed: '已确认', dismissed: '已排除', suggested: '待确认' };
    const note = h('input', { id: 'detection-note', placeholder: '确认/排除说明（可选）' });
    return h('div', { class: 'card', id: 'detections' }, h('h3', {}, `智能识别（${detections.length}）`),
      vision.state && vision.state !== 'done' ? h('p', { class: 'hint' }, { pending: '识别进行中…', failed: `识别失败：${(vision.reasons || []).join('；')}` }[vision.state] || vision.state) : null,
      detections.length ? note : null,
      h('ul', { class: 'detections' }, detections.map((x) => h('li', { dataset: { detection: x.id, verdict: detectionVerdict(x) } },
        `${detectionLabel(x)} `, x.confidence != null ? `${Math.round(x.confidence * 100)}% ` : '',
        h('span', { class: 'badge' }, verdictWords[detectionVerdict(x)] || detectionVerdict(x)), ' ',
        h('button', { type: 'button', class: 'confirm-detection', disabled: detectionVerdict(x) === 'confirmed',
          onclick: (e) => act(e.target, () => api.reviewDetection(x.id, 'confirmed', note.value), '已确认识别结果') }, '确认'), ' ',
        h('button', { type: 'button', class: 'dismiss-detection', disabled: detectionVerdict(x) === 'dismissed',
          onclick: (e) => act(e.target, () => api.reviewDetection(x.id, 'dismissed', note.value), '已排除识别结果（保留为训练数据）') }, '排除')))));
  }

  function clausesCard(d) {
    const list = h('div', { id: 'clauses' }, h('p', { class: 'hint' }, '匹配中…'));
    const card = h('div', { class: 'card' }, h('h3', {}, '建议法条'), list);
    (async () => {
      const blocks = [];
      for (const f of d.suggested_findings || []) {
        blocks.push(h('div', { class: 'suggested-finding' }, h('strong', {}, `${f.name || f.hazard_code || ''}（图像识别${f.confirmed ? '，已确认' : ''}）`),
          h('div', { class: 'hint' }, f.description || ''),
          h('ul', {}, [...(f.violated || []).map((r) => ['违法依据', r]), ...(f.penalty || []).map((r) => ['处罚依据', r])].map(([role, r]) =>
            h('li', {}, `${role}：${citation(r)}`)))));
      }
      if (d.hazard_code) {
        const m = await api.clausesForHazard(d.hazard_code).catch(() => null);
        if (m) {
          blocks.push(h('div', {}, h('strong', {}, `${m.name || d.hazard_code}（隐患代码对应）`),
            h('ul', {}, [...(m.violated || []).map((r) => ['违法依据', r]), ...(m.penalty || []).map((r) => ['处罚依据', r])]
              .map(([role, r]) => h('li', {}, `${role}：${citation(r)}`)))));
        }
      }
      const text = [c.title, d.description].filter(Boolean).join('。');
      if (text) {
        const s = await api.suggestClauses(text, 5).catch(() => ({ items: [] }));
        if (s.items.length) {
          blocks.push(h('div', {}, h('strong', {}, '按描述检索'), h('ol', {}, s.items.map((it) => h('li', { class: 'clause' },
            it.citation || `${it.law || ''} ${it.article_no || ''}`, h('div', { class: 'hint' }, (it.passage || it.text || '').slice(0, 140)))))));
        }
      }
      list.replaceChildren(...(blocks.length ? blocks : [h('p', { class: 'hint' }, '没有建议的法条')]));
    })();
    return card;
  }

  function documentsCard() {
    const list = h('ul', { id: 'case-documents' }, h('li', { class: 'hint' }, '加载中…'));
    api.documentsFor(c.entity, c.id).then((body) => {
      list.replaceChildren(...(body.items.length ? body.items.map((doc) => h('li', {},
        h('a', { href: `#/doc/${doc.id}`, class: 'doc-link', dataset: { id: doc.id } }, KIND_NAMES[doc.kind] || doc.kind),
        ' ', statusBadge(doc.status), doc.number ? ` ${doc.number}` : '')) : [h('li', { class: 'hint' }, '尚无文书（由执法人员在现场起草）')]));
    }).catch((e) => list.replaceChildren(h('li', { class: 'hint' }, e.message)));
    return h('div', { class: 'card' }, h('h3', {}, '执法文书'), list);
  }

  function conflictsCard() {
    const open = (c.conflicts || []).filter((x) => !x.restored_at);
    if (!(c.conflicts || []).length) return null;
    return h('div', { class: 'card', id: 'conflicts' }, h('h3', {}, `同步冲突（未处理 ${open.length}）`),
      h('ul', {}, c.conflicts.map((x) => h('li', {},
        h('div', {}, `字段 ${x.field}：被覆盖的值 `, h('code', {}, JSON.stringify(x.overwritten)), ' → 保留 ', h('code', {}, JSON.stringify(x.kept))),
        h('div', { class: 'hint' }, `${x.rule} · 设备 ${x.device_id || '—'} · ${fmtTime(x.created_at)}`),
        x.restored_at ? h('div', { class: 'ok' }, `已恢复 ${fmtTime(x.restored_at)}`)
          : h('button', { type: 'button', class: 'restore', onclick: (e) => act(e.target, () => api.restoreConflict(x.id), '已恢复被覆盖的值') }, '恢复此值')))));
  }

  function historyCard() {
    const verify = h('div', { id: 'audit-verify' });
    const showVerify = (v) => {
      if (!v) { verify.className = 'hint'; verify.textContent = '审计链服务未安装'; return; }
      verify.className = v.ok ? 'ok' : 'bad';
      verify.textContent = v.ok ? `审计链完整，共 ${v.count} 条记录` : `审计链校验失败：第 ${v.broken_at} 条 ${v.reason || ''}`;
    };
    if (c.loops) showVerify(c.loops.audit);
    else verify.textContent = REVIEWABLE.includes(c.entity) ? '审计链服务未安装' : '该类记录不在审核链中';
    const recheck = REVIEWABLE.includes(c.entity) ? h('button', { type: 'button', id: 'audit-recheck', onclick: async (e) => {
      try { showVerify(await busy(e.target, api.auditVerify(c.entity, c.id))); toast('已重新校验审计链', 'ok'); } catch (err) { showError(err); }
    } }, '重新校验') : null;
    const names = (c.loops && c.loops.users) || {};
    const entries = (c.loops && c.loops.history) || [];
    const list = h('ul', { class: 'timeline', id: 'history' }, entries.length
      ? entries.map((e) => h('li', {}, h('strong', {}, actionWord(e.action)),
        ` · ${names[e.actor_id] || (e.actor_id ? `用户 ${e.actor_id}` : '系统')} · ${fmtTime(e.at)}`,
        e.device_id ? h('span', { class: 'hint' }, ` · 设备 ${e.device_id}`) : null,
        e.payload && (e.payload.comment || (e.payload.review && e.payload.review.comment))
          ? h('div', {}, e.payload.comment || e.payload.review.comment) : null,
        h('div', { class: 'hint', title: e.hash }, `#${e.seq} ${String(e.hash || '').slice(0, 12)}…`)))
      : [h('li', {}, `接收 ${fmtTime(c.created_at)}`), h('li', {}, `最近更新 ${fmtTime(c.updated_at)}（版本 ${c.version}）`)]);
    return h('div', { class: 'card' }, h('h3', {}, '处理过程与审计链'), verify, recheck, list);
  }

  function actionsCard() {
    const available = new Set((c.loops && c.loops.actions) || []);
    if (!c.loops) return h('div', { class: 'card', id: 'actions' }, h('h3', {}, '审核'), h('p', { class: 'hint' }, '审核服务未安装。'));
    const d = c.data || {};
    const comment = h('textarea', { id: 'review-text', placeholder: '审核意见（退回、复查未通过时必填）' });
    const text = () => comment.value.trim();
    const need = (msg) => { if (!text()) { toast(msg, 'error'); comment.focus(); return false; } return true; };
    const btn = (action, label, opts, handler) => (available.has(action)
      ? h('button', { type: 'button', id: `act-${action}`, ...opts, onclick: (e) => handler(e.target) }, label) : null);
    const run = (button, action, body, message) => act(button, () => api.reviewAction(c.entity, c.id, action, body), message);
    const buttons = [
      btn('approve', '通过 (a)', { class: 'primary' }, (b) => run(b, 'approve', { comment: text() || null }, '已审核通过')),
      btn('return', '退回 (r)', { class: 'danger' }, (b) => need('退回须写明意见') && run(b, 'return', { comment: text() }, '已退回，意见将同步到现场设备')),
      btn('close', '销号/结案', {}, (b) => run(b, 'close', { comment: text() || null }, '已销号')),
      btn('escalate', '升级督办', {}, (b) => run(b, 'escalate', { reason: text() || null }, '已升级督办')),
    ];
    const blocks = [h('div', { class: 'actions' }, comment, buttons)];
    if (available.has('verify')) {
      const level = h('select', { id: 'verify-level' }, ['', '红', '橙', '黄', '蓝'].map((v) => h('option', { value: v, selected: v === d.risk_level }, v || '风险等级')));
      const grade = h('select', { id: 'verify-grade' }, ['', '一般', '重大'].map((v) => h('option', { value: v, selected: v === d.grade }, v || '隐患等级')));
      const handling = h('select', { id: 'verify-handling' }, ['', '即查即改', '限期整改'].map((v) => h('option', { value: v, selected: v === d.handling }, v || '治理方式')));
      blocks.push(h('h3', {}, '核实'), h('div', { class: 'actions' }, level, grade, handling,
        h('button', { type: 'button', id: 'act-verify', onclick: (e) => run(e.target, 'verify',
          { comment: text() || null, risk_level: level.value || null, grade: grade.value || null, handling: handling.value || null }, '已核实') }, '核实')));
    }
    if (available.has('reinspect')) {
      blocks.push(h('h3', {}, '复查'), h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', id: 'act-reinspect-pass', onclick: (e) => run(e.target, 'reinspect', { passed: true, comment: text() || null }, '复查通过') }, '复查通过'),
        h('button', { type: 'button', class: 'danger', id: 'act-reinspect-fail', onclick: (e) => need('复查未通过须写明意见') && run(e.target, 'reinspect', { passed: false, comment: text() }, '复查未通过，已退回整改') }, '复查未通过')));
    }
    if (available.has('legal-review')) {
      blocks.push(h('h3', {}, '法制审核'), h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'act-legal-pass', onclick: (e) => run(e.target, 'legal-review', { result: '通过', opinion: text() || null }, '法制审核通过') }, '法制审核通过'),
        h('button', { type: 'button', id: 'act-legal-return', onclick: (e) => need('法制审核退回须写明意见') && run(e.target, 'legal-review', { result: '退回', opinion: text() }, '法制审核退回') }, '法制审核退回')));
    }
    const assign = available.has('assign') ? 'assign' : available.has('reassign') ? 'reassign' : null;
    if (assign) {
      const wo = d.work_order || {};
      const unit = c.entity === 'hazard' ? h('input', { id: 'wo-unit', placeholder: '责任单位', value: wo.unit || '' }) : null;
      const person = h('input', { id: 'wo-person', type: 'number', min: 1, list: 'wo-people', placeholder: c.entity === 'hazard' ? '责任人（选择或输入用户编号）' : '执法人员（选择或输入用户编号）', value: wo.person_id || '' });
      // The people of this jurisdiction to choose from (GET /api/v1/users); typing an id still works.
      const people = h('datalist', { id: 'wo-people' });
      api.people(c.entity === 'hazard' ? 'inspector,grid_member,info_officer,rescuer' : 'inspector').then((items) => {
        for (const u of items) people.append(h('option', { value: String(u.id) }, `${u.display_name}（${u.role_name}，${u.jurisdiction_name || ''}）`));
      }).catch(() => {});
      const deadline = h('input', { id: 'wo-deadline', type: 'date', value: (wo.deadline || '').slice(0, 10) });
      const handling = h('select', { id: 'wo-handling' }, ['', '即查即改', '限期整改'].map((v) => h('option', { value: v, selected: v === d.handling }, v || '治理方式')));
      const known = Object.entries((c.loops && c.loops.users) || {}).map(([uid, name]) => `${uid}=${name}`).join('，');
      blocks.push(h('h3', {}, c.entity === 'hazard' ? (assign === 'assign' ? '派发处置单' : '改派处置单') : '指派执法人员'),
        h('div', { class: 'actions' }, unit, person, people, c.entity === 'hazard' ? [h('label', {}, '整改期限', deadline), handling] : null,
          known ? h('p', { class: 'hint' }, `相关人员：${known}`) : null,
          h('button', { type: 'button', id: 'act-assign', onclick: (e) => {
            const body = { person_id: person.value ? Number(person.value) : null, comment: text() || null };
            if (c.entity === 'hazard') {
              if (!unit.value.trim() || !deadline.value || !person.value) { toast('处置单须写明责任单位、责任人和整改期限', 'error'); return; }
              // The deadline is the end of that day in China Standard Time (23:59:59 +08:00), sent as UTC.
              Object.assign(body, { unit: unit.value.trim(), deadline: `${deadline.value}T15:59:59Z`, handling: handling.value || null });
            }
            run(e.target, assign, body, assign === 'assign' ? '已派发处置单' : '已改派');
          } }, assign === 'assign' ? '派发' : '改派')));
    }
    if (!available.size) blocks.push(h('p', { class: 'hint', id: 'no-actions' }, `当前状态「${statusName(c.status)}」下没有您可执行的审核操作。`));
    return h('div', { class: 'card', id: 'actions' }, h('h3', {}, '审核'), blocks);
  }

  async function act(button, fn, message) {
    try {
      await busy(button, fn());
      toast(message, 'ok');
      await load();
    } catch (e) {
      showError(e);
      if (e.status === 409) await load();
    }
  }

  const onKey = (ev) => {
    if (ev.target.closest(TYPING) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'u' || ev.key === 'Escape') location.hash = '#/queue';
    else if (ev.key === 'a') root.querySelector('#approve')?.click();
    else if (ev.key === 'r') { root.querySelector('#review-text')?.focus(); ev.preventDefault(); }
    else if (ev.key === 'b') root.querySelector('#toggle-boxes')?.click();
  };
  document.addEventListener('keydown', onKey);
  await load();
  return () => { document.removeEventListener('keydown', onKey); if (minimap) minimap.remove(); };
}
