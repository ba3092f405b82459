// One way to edit any record: the entity's fields, the capture widget, local validation,
// save to the outbox. In "fix" mode (#/fix/<id>) the server's rejection is shown above the
// fields and saving resends the corrected record.
import { mount, h, toast, errorList } from "../ui.js";
import * as outbox from "../outbox.js";
import { mediaWidget } from "./media.js";

/**
 * spec: {entity, title, fields(state) -> nodes, collect(form, state) -> data,
 *        validate(data) -> {field: [msg]} | null, media: {fields, photoField} | null, after(rec)}
 */
export async function recordForm(root, spec, recordId, { fix = false } = {}) {
  const rec = recordId ? await outbox.get(recordId) : null;
  const state = JSON.parse(JSON.stringify(rec ? rec.data : spec.defaults ? spec.defaults() : {}));
  let rejected = null;
  if (fix && rec) {
    const ops = (await outbox.status()).rejected.filter((o) => o.record_id === recordId);
    rejected = ops.length ? ops[ops.length - 1] : null;
  }
  const errBox = h("div", { class: "errors", role: "alert" });
  const widget = spec.media === null ? null : mediaWidget(state, spec.media || {});
  const form = h("form", { class: "card record-form", "data-entity": spec.entity, novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const data = { ...state, ...spec.collect(form, state) };
    for (const k of Object.keys(data)) if (data[k] === "" || data[k] === undefined || k.startsWith("__")) delete data[k];
    const errors = spec.validate ? spec.validate(data) : null;
    if (errors && Object.keys(errors).length) {
      errBox.replaceChildren(h("p", {}, "请先改正以下问题："), errorList(errors));
      errBox.scrollIntoView({ block: "center" });
      return;
    }
    let saved;
    if (fix) {
      await outbox.fixAndResend(recordId, data);
      saved = await outbox.get(recordId);
      toast("已修改，将重新发送");
    } else {
      saved = await outbox.save(spec.entity, recordId, data);
      toast(navigator.onLine ? "已保存，正在同步" : "已保存在本机，联网后自动同步");
    }
    outbox.sync("save");
    if (spec.after) spec.after(saved); else location.hash = `#/${spec.entity}/${saved.id}`;
  } },
  h("h2", {}, fix ? `修改后重发：${spec.title}` : spec.title),
  rejected ? h("div", { class: "rejected-box" }, h("p", {}, "服务器拒收的原因："), errorList(rejected.errors)) : null,
  spec.fields(state, rec),
  widget,
  errBox,
  h("div", { class: "row" }, h("button", { class: "btn primary", type: "submit", "data-action": "save" }, fix ? "重新发送" : "保存"),
    h("a", { class: "btn", href: "#/" }, "取消")));
  mount(root, form);
  if (widget && !rec && (spec.media || {}).autoLocate !== false) widget.locate();
  return () => widget && widget.cleanup();
}

export const val = (form, name) => {
  const el = form.elements[name];
  return el ? el.value.trim() : undefined;
};
export const num = (form, name, integer = true) => {
  const v = val(form, name);
  if (v === undefined || v === "") return null;
  return integer ? Number.parseInt(v, 10) : Number.parseFloat(v);
};
