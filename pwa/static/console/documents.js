// One enforcement document: PDF preview, draft fields, 法制审核, 签批, 签发; issued = read-only.
import * as api from './api.js';
import { KIND_NAMES } from './case.js';
import { busy, fmtTime, h, showError, statusBadge, toast } from './ui.js';

const EDITABLE = [['place', '地点', 'input'], ['inspected_at', '检查时间', 'input'], ['facts', '违法事实', 'textarea'],
  ['measures', '整改要求/处理措施', 'textarea'], ['penalty', '处罚内容', 'textarea'], ['deadline', '期限', 'date'],
  ['recheck_result', '复查结论', 'textarea']];

export async function render(root, id) {
  let doc;
  let pdfUrl = null;

  async function load() {
    doc = await api.documentGet(id);
    root.dataset.status = doc.status;
    draw();
  }

  function draw() {
    const user = api.currentUser();
    const issued = doc.status === 'issued';
    const f = doc.fields || {};
    const canEdit = !issued && doc.status === 'draft' && user.role === 'inspector';
    const form = h('form', { id: 'doc-fields', class: 'actions' },
      EDITABLE.map(([key, label, kind]) => h('label', { style: 'width:100%' }, label,
        kind === 'textarea' ? h('textarea', { name: key, disabled: !canEdit }, f[key] || '')
          : h('input', { name: key, type: kind === 'date' ? 'date' : 'text', value: f[key] || '', disabled: !canEdit }))),
      canEdit ? h('button', { type: 'submit', class: 'primary' }, '保存草稿') : null);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const changes = { version: doc.version };
      for (const [key] of EDITABLE) {
        const v = form.elements[key].value;
        if ((f[key] || '') !== v) changes[key] = v || null;
      }
      await run(e.submitter, () => api.documentEdit(doc.id, changes), '草稿已保存');
    });
    const opinion = h('textarea', { id: 'legal-opinion', placeholder: '法制审核意见（退回时必填）' });
    const steps = [];
    if (!issued) {
      if (doc.status === 'draft' && doc.major) {
        steps.push(h('button', { type: 'button', id: 'submit-review', onclick: (e) => run(e.target, () => api.documentReview(doc.id, 'submit'), '已提交法制审核') }, '提交法制审核'));
      }
      if (doc.status === 'under_legal_review' && !doc.legal_reviewed_by) {
        steps.push(opinion,
          h('button', { type: 'button', class: 'primary', id: 'legal-approve', onclick: (e) => run(e.target, () => api.documentReview(doc.id, 'approve', opinion.value || null), '法制审核通过') }, '法制审核通过'),
          h('button', { type: 'button', class: 'danger', id: 'legal-return', onclick: (e) => {
            if (!opinion.value.trim()) { toast('退回须写明审核意见', 'error'); return; }
            run(e.target, () => api.documentReview(doc.id, 'return', opinion.value.trim()), '已退回执法人员修改');
          } }, '退回修改'));
      }
      const signable = doc.major ? doc.status === 'under_legal_review' && doc.legal_reviewed_by : doc.status === 'draft';
      steps.push(h('button', { type: 'button', class: 'primary', id: 'sign', disabled: !signable,
        title: doc.major && !doc.legal_reviewed_by ? '重大决定须先通过法制审核' : '',
        onclick: (e) => run(e.target, () => api.documentSign(doc.id), '已签批') }, '签批'));
      steps.push(h('button', { type: 'button', class: 'primary', id: 'issue', disabled: doc.status !== 'signed',
        onclick: (e) => run(e.target, () => api.documentIssue(doc.id), '已签发，文号已分配') }, '签发'));
    }
    const preview = h('iframe', { class: 'doc-preview', id: 'doc-preview', title: '文书预览' });
    const download = h('a', { id: 'doc-download', class: 'button', download: `${doc.number || doc.id}.pdf` }, '下载 PDF');
    root.replaceChildren(h('div', { class: 'case' },
      h('div', {},
        h('div', { class: 'card' },
          h('p', { class: 'hint' }, h('a', { href: `#/case/${doc.case_entity}/${doc.case_id}` }, '← 返回案件')),
          h('h2', { id: 'doc-title' }, KIND_NAMES[doc.kind] || doc.kind, ' ', statusBadge(doc.status), doc.number ? ` ${doc.number}` : ''),
          h('p', { class: 'hint' }, issued ? `已签发 ${fmtTime(doc.issued_at)} · 只读 · SHA-256 ${doc.pdf_sha256 || ''}` : '预览为草稿渲染，签发时分配文号'),
          preview, h('p', {}, download))),
      h('div', {},
        h('div', { class: 'card' }, h('h3', {}, '当事人'),
          h('dl', { class: 'kv' }, h('dt', {}, '名称'), h('dd', {}, f.party?.name || '—'), h('dt', {}, '地址'), h('dd', {}, f.party?.address || '—'),
            h('dt', {}, '法定代表人'), h('dd', {}, f.party?.legal_representative || '—'))),
        h('div', { class: 'card' }, h('h3', {}, '引用法条'),
          h('ul', { id: 'doc-citations' }, (doc.citations || []).map((c) => h('li', {}, c))),
          (doc.citation_problems || []).length ? h('div', { class: 'bad' }, doc.citation_problems.join('；')) : null),
        h('div', { class: 'card' }, h('h3', {}, issued ? '文书内容（已签发，只读）' : '草稿内容'), form,
          !canEdit && !issued ? h('p', { class: 'hint' }, '草稿由执法人员修改；审核人员可在法制审核中退回并写明意见。') : null),
        !issued ? h('div', { class: 'card' }, h('h3', {}, doc.major ? '法制审核 · 签批 · 签发' : '签批 · 签发'),
          doc.legal_review_opinion ? h('p', {}, `审核意见：${doc.legal_review_opinion}`) : null,
          h('div', { class: 'actions', id: 'doc-actions' }, steps)) : null)));
    api.documentPdfUrl(doc.id).then((url) => {
      if (pdfUrl) URL.revokeObjectURL(pdfUrl);
      pdfUrl = url;
      preview.src = url;
      download.href = url;
      root.dataset.pdfReady = '1';
    }).catch(showError);
  }

  async function run(button, fn, message) {
    try {
      await busy(button, fn());
      toast(message, 'ok');
      await load();
    } catch (e) { showError(e); }
  }

  await load();
  return () => { if (pdfUrl) URL.revokeObjectURL(pdfUrl); };
}
