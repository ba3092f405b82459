// DOM helpers shared by the views (views touch the DOM and call outbox; nothing else).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "html") el.innerHTML = v;
    else if (k in el && k !== "list" && k !== "form") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const ROLES = { inspector: "执法人员", grid_member: "网格员", info_officer: "灾害信息员", rescuer: "救援队员",
  supervisor: "审核/指挥", admin: "管理员" };
export const ENTITY_NAMES = { hazard: "隐患", inspection: "执法检查", patrol: "巡查", disaster_report: "灾情报告",
  field_report: "现场回传", warning: "预警", patrol_point: "巡查点位", document: "执法文书" };
export const STATUS_NAMES = { reported: "已上报", verified: "已核实", assigned: "已派单", rectifying: "整改中",
  rectified: "已整改", reinspected: "已复查", closed: "已销号", rejected: "不予核实", draft: "草稿", submitted: "已提交",
  under_review: "审核中", approved: "审核通过", returned: "已退回", documents_issued: "文书已送达",
  active: "进行中", finished: "已结束", issued: "已发布" };
export const LEVEL_CLASS = { 红: "red", 橙: "orange", 黄: "yellow", 蓝: "blue", red: "red", orange: "orange", yellow: "yellow", blue: "blue" };

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}月${d.getDate()}日 ${p(d.getHours())}:${p(d.getMinutes())}`;
}
export function fmtBytes(n) {
  if (n == null) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MB`;
  return `${(n / 1073741824).toFixed(2)} GB`;
}
export const fmtLoc = (l) => (l ? `${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}（±${Math.round(l.accuracy || 0)} 米）` : "未定位");

export function toast(msg, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "status" }, msg);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

/** A confirmation in the page (window.confirm blocks the app and reads poorly on phones). */
export function confirmBox(message, okText = "确定") {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: "confirm" },
      h("p", {}, message),
      h("div", { class: "row" },
        h("button", { class: "btn", onclick: () => { dlg.close(); dlg.remove(); resolve(false); } }, "取消"),
        h("button", { class: "btn danger", "data-ok": "1", onclick: () => { dlg.close(); dlg.remove(); resolve(true); } }, okText)));
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function errorList(errors) {
  if (!errors) return null;
  const items = [];
  const walk = (prefix, v) => {
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) items.push(`${prefix}：${v.join("；")}`);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else items.push(`${prefix}：${v}`);
  };
  walk("", errors);
  return h("ul", { class: "errors" }, items.map((t) => h("li", {}, t)));
}

export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", {}, hint) : null);
}

export function select(name, options, value) {
  return h("select", { name }, options.map((o) => {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: v === value }, t);
  }));
}

/** root.append without the nulls and falses that conditional parts leave. */
export function mount(root, ...children) {
  root.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
}
