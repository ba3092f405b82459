// The route table: one place lists every screen (Redash habit: every route in one table).
import * as common from "./common.js";
import * as roles from "./roles.js";
import { recordForm } from "./form.js";
import { hazardSpec, fieldReportSpec, disasterSpec, disasterNew } from "./entities.js";
import * as outbox from "../outbox.js";
import { h } from "../ui.js";

async function specFor(rec, user) {
  if (rec.entity === "hazard") return hazardSpec;
  if (rec.entity === "field_report") return fieldReportSpec;
  if (rec.entity === "disaster_report") return disasterSpec(user, rec.data.stage, null);
  return jsonSpec(rec.entity);
}

// Records without a form of their own (an inspection, a patrol) are fixed as their document.
function jsonSpec(entity) {
  let bad = null;
  return {
    entity, title: "修改记录内容", media: null,
    fields: (s) => h("textarea", { name: "json", rows: 16, class: "mono" }, JSON.stringify(s, null, 2)),
    collect: (f) => { try { bad = null; return JSON.parse(f.elements.json.value); } catch (e) { bad = e.message; return {}; } },
    validate: () => (bad ? { json: [`格式有误：${bad}`] } : {}),
  };
}

// #/<entity>/new, #/<entity>/<id>, #/<entity>/<id>/edit
function entityRoute(entity, spec, screen) {
  return async (root, parts, query, ctx) => {
    if (parts[0] === "new") {
      const s = typeof spec === "function" ? spec(ctx, query) : spec;
      const from = {};
      for (const k of ["source", "source_id", "enterprise_id"]) if (query.get(k)) from[k] = query.get(k);
      return recordForm(root, { ...s, defaults: () => ({ ...(s.defaults ? s.defaults() : {}), ...from }) }, null);
    }
    if (parts[1] === "edit") {
      const rec = await outbox.get(parts[0]);
      return recordForm(root, await specFor(rec, ctx.user), parts[0]);
    }
    if (screen) return screen(root, parts, query, ctx);
    return common.detail(root, parts, query, ctx, { editable: true });
  };
}

// Screens redrawn after every sync (app.js): they only show data, drawn from IndexedDB.
const live = (fn) => Object.assign(async (...a) => fn(...a), { live: true });

export const routes = {
  "": live(common.home),
  login: common.login,
  sync: common.syncPanel,
  hazard: entityRoute("hazard", hazardSpec),
  field_report: entityRoute("field_report", fieldReportSpec),
  disaster_report: entityRoute("disaster_report", null),
  disaster: disasterNew,
  inspections: live(roles.inspections),
  inspection: roles.inspection,
  patrol: live(async (root, parts, q, ctx) => (parts[0] ? common.detail(root, parts, q, ctx, { editable: false }) : roles.patrol(root, parts, q, ctx))),
  rescue: live(roles.rescue),
  // Issued 执法文书 arrive read-only through the sync (legal/synced.py).
  document: live((root, parts, q, ctx) => common.detail(root, parts, q, ctx, { editable: false })),
  warning: live(roles.warning),
  warnings: live(roles.warning), // push payloads say /#/warnings/<id> (push/warnings.py)
  fix: async (root, parts, _q, ctx) => {
    const rec = await outbox.get(parts[0]);
    if (!rec) { location.hash = "#/sync"; return; }
    return recordForm(root, await specFor(rec, ctx.user), parts[0], { fix: true });
  },
  "*": live(common.home),
};

const ROLE_TABS = {
  inspector: [["#/inspections", "今日检查"], ["#/hazard/new", "随手拍"]],
  grid_member: [["#/patrol", "巡查"], ["#/hazard/new", "随手拍"]],
  info_officer: [["#/disaster?stage=初报", "初报"], ["#/disaster_list", "续报/核报"]],
  rescuer: [["#/rescue", "救援"], ["#/field_report/new", "回传"]],
  supervisor: [["#/hazard/new", "随手拍"]],
  admin: [],
};

export function tabsFor(role) {
  return [["#/", "首页"], ...(ROLE_TABS[role] || []), ["#/sync", "同步"]];
}

// 续报/核报 start from a report already made: the list of my reports' events.
routes.disaster_list = async (root, _p, _q, ctx) => {
  const { h, mount } = await import("../ui.js");
  const reports = await outbox.list("disaster_report");
  const latest = new Map();
  for (const r of reports) {
    const ev = r.data.event_id || r.id;
    if (!latest.has(ev)) latest.set(ev, r);
  }
  mount(root, h("section", { class: "card" }, h("h2", {}, "灾情事件"),
    h("a", { class: "btn primary", href: "#/disaster?stage=初报" }, "新的初报"),
    [...latest.values()].map((r) => h("div", { class: "item" }, h("span", { class: "t" }, r.data.title || "灾情"),
      h("span", { class: "muted" }, r.data.stage),
      r.data.stage !== "核报" ? [h("a", { class: "btn small", href: `#/disaster?stage=续报&after=${r.id}` }, "续报"),
        h("a", { class: "btn small", href: `#/disaster?stage=核报&after=${r.id}` }, "核报")] : null))));
};
