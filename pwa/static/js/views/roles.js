// Role screens: 执法人员 inspections, 网格员 patrols, 救援队员 location sharing and team.
import { mount, h, toast, fmtTime, fmtLoc, STATUS_NAMES, LEVEL_CLASS, field, select } from "../ui.js";
import * as outbox from "../outbox.js";
import * as capture from "../capture.js";
import { mediaWidget } from "./media.js";
import { recordRow } from "./common.js";

const today = (iso) => iso && new Date(iso).toDateString() === new Date().toDateString();

// ---------------------------------------------------------------- 执法人员
export async function inspections(root, _p, _q, ctx) {
  const all = (await outbox.list("inspection")).filter((r) => (r.data.inspector_ids || []).includes(ctx.user.id) || r.mine || r.data.assignee_id === ctx.user.id);
  const due = all.filter((r) => today(r.data.planned_at) || today(r.data.started_at));
  const open = all.filter((r) => !due.includes(r) && !["approved", "closed", "documents_issued"].includes(r.data.status));
  mount(root, h("section", { class: "card" }, h("h2", {}, "今日检查"), due.length ? due.map(recordRow) : h("p", { class: "muted" }, "今天没有安排的检查")),
    h("section", { class: "card" }, h("h3", {}, "其他未完成"), open.length ? open.map(recordRow) : h("p", { class: "muted" }, "没有")));
}

export async function inspection(root, parts, _q, ctx) {
  const id = parts[0];
  const rec = await outbox.get(id);
  if (!rec) { mount(root, h("p", { class: "muted" }, "本机没有这次检查，请先同步。")); return; }
  const d = JSON.parse(JSON.stringify(rec.data));
  d.items = d.items || [];
  d.findings = d.findings || [];
  const editable = !d.status || ["draft", "returned"].includes(d.status);
  const save = async (extra = {}) => { Object.assign(d, extra); await outbox.save("inspection", id, d); outbox.sync("inspection"); };
  const widgets = [];
  const itemEl = (it, i) => {
    // The widget pushes into the array it is given, so items[i].evidence stays in step.
    // Every change is saved at once (local first): nothing is lost if the screen is redrawn.
    const w = mediaWidget({ photos: (it.evidence = it.evidence || []) }, { fields: ["photos"], onChange: () => save() });
    widgets.push(w);
    const res = h("div", { class: "row" }, ["合格", "不合格", "不涉及"].map((r) => h("label", { class: `check ${r === "不合格" ? "bad" : ""}` },
      h("input", { type: "radio", name: `r${i}`, value: r, checked: it.result === r, disabled: !editable, onchange: () => { it.result = r; save(); } }), r)));
    const note = h("input", { placeholder: "备注", value: it.note || "", disabled: !editable, onchange: () => { it.note = note.value; save(); } });
    const wrap = h("div", { class: "check-item", "data-code": it.code }, h("b", {}, `${it.code} ${it.title || ""}`), res, note, editable ? w : null);
    return wrap;
  };
  const suggestions = [...(d.suggested_findings || [])];
  for (const hz of await outbox.list("hazard")) if (hz.data.source === "inspection" && hz.data.source_id === id) suggestions.push(...(hz.data.suggested_findings || []));
  const documents = (await outbox.list("document")).filter((x) => x.data.case_id === id);
  const findingDesc = h("textarea", { rows: 2, placeholder: "违法事实" });
  const findingMedia = { photos: [] };
  const fw = mediaWidget(findingMedia, { fields: ["photos"] });
  widgets.push(fw);
  mount(root, h("section", { class: "card", "data-id": id },
    h("h2", {}, d.title || "执法检查"),
    h("p", { class: "muted" }, `计划 ${fmtTime(d.planned_at)} · ${STATUS_NAMES[d.status] || d.status || "草稿"}${rec.pending ? " · 待同步" : ""}`),
    editable && !d.started_at ? h("button", { class: "btn primary", type: "button", onclick: async () => {
      let loc = null; try { loc = await capture.locate(); } catch (e) { toast(e.message, "bad"); }
      await save({ started_at: new Date().toISOString(), location: capture.place(loc) || d.location || null }); ctx.rerender();
    } }, "开始检查（记录时间和位置）") : null),
  h("section", { class: "card" }, h("h3", {}, "检查项"), d.items.length ? d.items.map(itemEl) : h("p", { class: "muted" }, "没有检查项（模板未下发）")),
  h("section", { class: "card" }, h("h3", {}, "违法事实"),
    d.findings.map((f) => h("div", { class: "finding" }, h("p", {}, f.description),
      (f.clauses || []).length ? h("p", { class: "muted" }, "依据：" + f.clauses.map((c) => (typeof c === "string" ? c : c.citation || `${c.law_name || ""}${c.article_no || ""}`)).join("；")) : null)),
    editable ? [findingDesc, fw, h("button", { class: "btn", type: "button", onclick: async () => {
      if (!findingDesc.value.trim()) return toast("请填写违法事实", "bad");
      d.findings.push({ id: crypto.randomUUID(), description: findingDesc.value.trim(), evidence: [...findingMedia.photos], clauses: [] });
      await save(); ctx.rerender();
    } }, "添加违法事实")] : null),
  suggestions.length || (d.detections || []).length ? h("section", { class: "card", id: "suggestions" }, h("h3", {}, "系统建议（识别结果与法律条款）"),
    (d.detections || []).map((x) => h("p", {}, `识别：${x.label || x.class || ""} ${x.confidence != null ? Math.round(x.confidence * 100) + "%" : ""}`)),
    suggestions.map((s) => h("div", { class: "finding" }, h("p", {}, s.description || s.title || ""),
      h("p", { class: "muted" }, (s.clauses || []).map((c) => (typeof c === "string" ? c : c.citation || `${c.law_name || ""}${c.article_no || ""}`)).join("；")),
      editable ? h("button", { class: "btn small", type: "button", onclick: async () => {
        d.findings.push({ id: crypto.randomUUID(), description: s.description || s.title, evidence: s.evidence || [], clauses: s.clauses || [], hazard_code: s.hazard_code || null });
        await save(); ctx.rerender();
      } }, "采纳") : null))) : null,
  documents.length ? h("section", { class: "card" }, h("h3", {}, "已签发文书"), documents.map(recordRow)) : null,
  editable ? h("div", { class: "row" },
    h("button", { class: "btn", type: "button", "data-action": "save", onclick: async () => { await save(); toast("已保存"); } }, "保存"),
    h("button", { class: "btn primary", type: "button", onclick: async () => {
      const bad = d.items.filter((i) => i.result === "不合格" && !(i.evidence || []).length).map((i) => i.code);
      if (d.items.some((i) => !i.result)) return toast("还有检查项未填写结果", "bad");
      if (bad.length) return toast(`不合格项需要证据照片：${bad.join("、")}`, "bad");
      await save({ status: "submitted", finished_at: new Date().toISOString() }); toast("已提交，联网后送审"); ctx.rerender();
    } }, "完成并提交")) : null);
  return () => widgets.forEach((w) => w.cleanup && w.cleanup());
}

// ---------------------------------------------------------------- 网格员
let patrolWatch = null; // survives route changes: a patrol keeps tracking while other screens open

export async function patrol(root, _p, _q, ctx) {
  const mine = (await outbox.list("patrol")).filter((r) => r.mine || r.data.owner_id === ctx.user.id);
  const active = mine.find((r) => !r.data.ended_at);
  const points = (await outbox.list("patrol_point")).filter((p) => p.data.active !== false);
  const info = h("p", { class: "muted", id: "patrol-info" });
  const show = (rec) => { info.textContent = rec ? `进行中 · 开始 ${fmtTime(rec.data.started_at)} · 轨迹 ${(rec.data.track || []).length} 点 · 打卡 ${(rec.data.checkins || []).length} 次` : "未在巡查"; };
  show(active);
  let pending = [];
  const flush = async () => {
    const rec = await outbox.get(active.id);
    if (!rec || !pending.length) return;
    const track = [...(rec.data.track || []), ...pending];
    pending = [];
    await outbox.save("patrol", rec.id, { ...rec.data, track });
    show(await outbox.get(rec.id));
  };
  if (active && !patrolWatch) {
    const stop = capture.watch((f) => { pending.push([f.lat, f.lon, Math.round(Date.parse(f.at) / 1000), f.accuracy]); if (pending.length >= 5) flush(); });
    const t = setInterval(flush, 30000);
    patrolWatch = { stop: () => { stop(); clearInterval(t); flush(); } };
  }
  mount(root, h("section", { class: "card" }, h("h2", {}, "巡查"), info,
    active ? h("button", { class: "btn danger", type: "button", "data-action": "stop-patrol", onclick: async () => {
      if (patrolWatch) { patrolWatch.stop(); patrolWatch = null; }
      await flush();
      const rec = await outbox.get(active.id);
      await outbox.save("patrol", rec.id, { ...rec.data, ended_at: new Date().toISOString() });
      outbox.sync("patrol"); toast("巡查已结束"); ctx.rerender();
    } }, "结束巡查") : h("button", { class: "btn primary", type: "button", "data-action": "start-patrol", onclick: async () => {
      let loc = null; try { loc = await capture.locate(); } catch (e) { toast(e.message, "bad"); }
      await outbox.save("patrol", null, { started_at: new Date().toISOString(), level: "grid", jurisdiction_code: ctx.user.jurisdiction_code,
        title: `${ctx.user.display_name || ctx.user.username}的巡查`, track: loc ? [[loc.lat, loc.lon, Math.round(Date.now() / 1000), loc.accuracy]] : [], checkins: [] });
      ctx.rerender();
    } }, "开始巡查"),
    h("a", { class: "btn", href: active ? `#/hazard/new?source=patrol&source_id=${active.id}` : "#/hazard/new" }, "隐患随手拍")),
  active ? h("section", { class: "card" }, h("h3", {}, "点位打卡"), points.length ? points.map((p) => h("div", { class: "item" },
    h("span", { class: `dot ${LEVEL_CLASS[p.data.risk_level] || ""}` }), h("span", { class: "t" }, p.data.name),
    h("button", { class: "btn small", type: "button", "data-action": "checkin", "data-point": p.id, onclick: async () => {
      let loc = null; try { loc = await capture.locate(); } catch (e) { toast(e.message, "bad"); }
      const rec = await outbox.get(active.id);
      const checkins = [...(rec.data.checkins || []), { point_id: p.id, at: new Date().toISOString(), location: capture.place(loc), normal: true, observed_risk_level: p.data.risk_level }];
      await outbox.save("patrol", rec.id, { ...rec.data, checkins });
      toast(`已在「${p.data.name}」打卡`); ctx.rerender();
    } }, "打卡"))) : h("p", { class: "muted" }, "辖区内没有巡查点位")) : null,
  h("section", { class: "card" }, h("h3", {}, "我的巡查"), mine.slice(0, 10).map(recordRow)));
}

// ---------------------------------------------------------------- 救援队员
let sharing = null;

export async function rescue(root, _p, _q, ctx) {
  const status = await outbox.status();
  const teamBox = h("div", { id: "team" });
  const drawTeam = async () => {
    const team = await outbox.teamList();
    teamBox.replaceChildren(team && team.items.length ? h("ul", {}, team.items.map((m) => h("li", {},
      `${m.display_name || m.user_id} · ${fmtTime(m.device_time || m.received_at)}${m.age_s != null ? `（${Math.round(m.age_s / 60)} 分钟前）` : ""}`))) : h("p", { class: "muted" }, "暂无队员位置（联网同步后显示）"),
      team ? h("small", { class: "muted" }, `更新于 ${fmtTime(team.at)}`) : null);
  };
  drawTeam();
  const toggle = h("input", { type: "checkbox", id: "share-location", checked: !!sharing, onchange: () => {
    if (toggle.checked) {
      const stop = capture.watch((f) => outbox.bufferPosition({ device_time: f.at, lat: f.lat, lon: f.lon, accuracy: f.accuracy }),
        (e) => toast("定位失败：" + (e.message || e.code), "bad"));
      const t = setInterval(() => navigator.onLine && outbox.sync("positions"), 60000);
      sharing = { stop: () => { stop(); clearInterval(t); } };
      toast("已开始共享位置（离线时先存在本机）");
    } else if (sharing) { sharing.stop(); sharing = null; toast("已停止共享位置"); }
  } });
  mount(root, h("section", { class: "card" }, h("h2", {}, "救援"),
    h("label", { class: "check big" }, toggle, "向队伍和指挥部共享我的位置"),
    h("p", { class: "muted" }, `本机待发送位置 ${status.positions} 个`),
    h("a", { class: "btn primary", href: "#/field_report/new" }, "现场回传")),
  h("section", { class: "card" }, h("h3", {}, "队员位置"), teamBox),
  h("section", { class: "card" }, h("h3", {}, "我的回传"), (await outbox.list("field_report")).filter((r) => r.mine).slice(0, 20).map(recordRow)));
}

export async function warning(root, parts) {
  const w = await outbox.get(parts[0]);
  if (!w) { mount(root, h("p", { class: "muted" }, "本机还没有这条预警，同步后显示。")); return; }
  mount(root, h("section", { class: `card warning ${w.data.level}`, "data-id": w.id },
    h("h2", {}, w.data.title), h("p", {}, w.data.text),
    h("p", { class: "muted" }, `${w.data.issued_by || ""} · 有效至 ${fmtTime(w.data.valid_until)}`)));
}
