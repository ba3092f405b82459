// Entity forms: 隐患随手拍, 灾情报告 (初报/续报/核报), 现场回传. Field names follow the
// domain modules (loops/entities.py, field/disasters.py); validation mirrors theirs so a
// phone offline for days finds mistakes before the server does.
import { h, field, select } from "../ui.js";
import * as outbox from "../outbox.js";
import { recordForm, val, num } from "./form.js";

// ---------------------------------------------------------------- 隐患随手拍
const RISK = ["红", "橙", "黄", "蓝"];
export const hazardSpec = {
  entity: "hazard",
  title: "隐患随手拍",
  defaults: () => ({ risk_level: "黄", grade: "一般", source: "snapshot" }),
  fields: (s) => [
    field("标题", h("input", { name: "title", value: s.title || "", maxLength: 200, required: true, placeholder: "例：配电箱未上锁" })),
    field("描述", h("textarea", { name: "description", rows: 3 }, s.description || "")),
    field("类别", select("category", ["", "用电安全", "消防安全", "危险化学品", "特种设备", "有限空间", "粉尘涉爆", "建筑施工", "其他"], s.category || "")),
    field("风险等级", select("risk_level", RISK, s.risk_level)),
    field("隐患等级", select("grade", ["一般", "重大"], s.grade)),
  ],
  collect: (f) => ({ title: val(f, "title"), description: val(f, "description"), category: val(f, "category") || null,
    risk_level: val(f, "risk_level"), grade: val(f, "grade"), device_time: new Date().toISOString() }),
  validate: (d) => {
    const e = {};
    if (!d.title) e.title = ["请填写标题"];
    else if (d.title.length > 200) e.title = ["标题最多 200 个字"];
    if (d.description && d.description.length > 5000) e.description = ["描述最多 5000 字"];
    return e;
  },
  media: { fields: ["photos", "voice_notes", "location"] },
};

// ---------------------------------------------------------------- 灾情报告
const TYPES = ["暴雨洪涝", "滑坡", "泥石流", "崩塌", "地震", "森林草原火灾", "干旱", "台风", "风雹", "低温冷冻", "雪灾", "其他"];
export const INDICATORS = [
  ["affected_population", "受灾人口", "人", true], ["deaths", "死亡人口", "人", true], ["missing", "失踪人口", "人", true],
  ["injured", "受伤人口", "人", true], ["relocated", "紧急转移安置人口", "人", true], ["relief_needed", "需紧急生活救助人口", "人", true],
  ["collapsed_households", "倒塌房屋户数", "户", true], ["collapsed_rooms", "倒塌房屋间数", "间", true],
  ["severely_damaged_rooms", "严重损坏房屋间数", "间", true], ["generally_damaged_rooms", "一般损坏房屋间数", "间", true],
  ["crop_affected_ha", "农作物受灾面积", "公顷", false], ["crop_failed_ha", "农作物绝收面积", "公顷", false],
  ["direct_loss_wan_yuan", "直接经济损失", "万元", false],
];
const NAME = Object.fromEntries(INDICATORS.map(([f, n]) => [f, n]));

/** field/disasters.py figure_errors + check, in the browser. */
export function disasterErrors(d) {
  const e = {};
  const add = (f, m) => (e[f] = e[f] || []).push(m);
  if (!["初报", "续报", "核报"].includes(d.stage)) add("stage", "报告阶段应为 初报、续报 或 核报");
  if (!(d.disaster_types || []).length) add("disaster_types", "请选择 1 到 5 个灾种");
  if ((d.disaster_types || []).length > 5) add("disaster_types", "请选择 1 到 5 个灾种");
  if (!d.occurred_at) add("occurred_at", "请填写灾害发生时间");
  else if (new Date(d.occurred_at) > new Date(Date.now() + 600000)) add("occurred_at", "灾害发生时间晚于当前时间，请检查手机时间或所填日期");
  if (d.learned_at && d.occurred_at && new Date(d.learned_at) < new Date(d.occurred_at)) add("learned_at", "获知灾情时间不能早于灾害发生时间");
  if ((d.disaster_types || []).includes("其他") && !d.other_type) add("other_type", "选择了“其他”灾种，请说明是什么灾害");
  for (const [f, n, , integer] of INDICATORS) {
    const v = d[f];
    if (v == null) continue;
    if (Number.isNaN(v) || v < 0) add(f, `${n}不能为负数`);
    if (integer && !Number.isInteger(v)) add(f, `${n}应为整数`);
  }
  const affected = d.affected_population;
  if (affected != null) {
    for (const f of ["deaths", "missing", "injured", "relocated", "relief_needed"]) {
      if (d[f] != null && d[f] > affected) add(f, `${NAME[f]}（${d[f]}）不能大于受灾人口（${affected}）`);
    }
    if (d.deaths != null && d.missing != null && d.deaths + d.missing > affected) add("missing", `死亡与失踪人口之和（${d.deaths + d.missing}）不能大于受灾人口（${affected}）`);
  }
  const hh = d.collapsed_households, rooms = d.collapsed_rooms;
  if (hh != null && rooms != null && rooms < hh) add("collapsed_rooms", `倒塌房屋间数（${rooms}）不能少于户数（${hh}）：每户至少倒塌 1 间`);
  if (hh && rooms == null) add("collapsed_rooms", "填写了倒塌房屋户数，请同时填写间数");
  if (d.crop_failed_ha > 0 && (d.crop_affected_ha == null || d.crop_failed_ha > d.crop_affected_ha)) add("crop_failed_ha", `绝收面积（${d.crop_failed_ha} 公顷）不能大于农作物受灾面积（${d.crop_affected_ha || 0} 公顷）`);
  if (d.affected_population === 0 && (d.collapsed_households || d.relocated)) add("affected_population", "有倒塌房屋或转移安置人口时，受灾人口不能为 0");
  if (d.location && Math.abs(d.location.lat) < 1e-6 && Math.abs(d.location.lon) < 1e-6) add("location", "坐标为 (0, 0)，说明手机尚未定位成功");
  if (d.emergency_response && (d.photos || []).length < 3) add("photos", "已启动应急响应的灾情报告至少需要 3 张现场照片");
  if (d.stage === "核报") {
    const blank = INDICATORS.filter(([f]) => d[f] == null).map(([, n]) => n);
    if (blank.length) add("stage", `核报须填写全部核心指标（没有的填 0）：${blank.join("、")}`);
  }
  return e;
}

const localInput = (iso) => {
  const d = iso ? new Date(iso) : new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};
const isoFromLocal = (v) => (v ? new Date(v).toISOString() : null);

export function disasterSpec(user, stage, previous) {
  return {
    entity: "disaster_report",
    title: `灾情${stage || "报告"}`,
    defaults: () => {
      const base = previous ? { ...previous.data } : {};
      for (const k of ["review", "status", "reported_at", "photos"]) delete base[k];
      return { ...base, stage, event_id: previous ? previous.data.event_id || previous.id : null,
        jurisdiction_code: user.jurisdiction_code, reporter_name: user.display_name, photos: [] };
    },
    fields: (s) => [
      field("报告阶段", select("stage", ["初报", "续报", "核报"], s.stage || stage)),
      h("fieldset", { class: "field" }, h("legend", {}, "灾种（可多选）"),
        TYPES.map((t) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "disaster_types", value: t, checked: (s.disaster_types || []).includes(t) }), t))),
      field("其他灾种说明", h("input", { name: "other_type", value: s.other_type || "" })),
      field("灾害发生时间", h("input", { type: "datetime-local", name: "occurred_at", value: localInput(s.occurred_at) })),
      field("获知灾情时间", h("input", { type: "datetime-local", name: "learned_at", value: localInput(s.learned_at) })),
      field("灾情描述", h("textarea", { name: "description", rows: 3 }, s.description || "")),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "emergency_response", checked: !!s.emergency_response }), "已启动应急响应（需至少 3 张照片）"),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "developing", checked: s.developing !== false }), "灾情仍在发展"),
      h("fieldset", { class: "figures" }, h("legend", {}, "核心指标（没有的填 0；初报可只填已知的）"),
        INDICATORS.map(([f, n, unit, integer]) => field(`${n}（${unit}）`,
          h("input", { name: f, type: "number", min: "0", step: integer ? "1" : "0.01", inputMode: integer ? "numeric" : "decimal", value: s[f] ?? "" })))),
      field("填报人", h("input", { name: "reporter_name", value: s.reporter_name || "" })),
      field("联系电话", h("input", { name: "reporter_phone", type: "tel", value: s.reporter_phone || "" })),
    ],
    collect: (f) => {
      const d = { stage: val(f, "stage"), other_type: val(f, "other_type") || null, description: val(f, "description") || null,
        occurred_at: isoFromLocal(val(f, "occurred_at")), learned_at: isoFromLocal(val(f, "learned_at")),
        reported_at: new Date().toISOString(), emergency_response: f.elements.emergency_response.checked,
        developing: f.elements.developing.checked, reporter_name: val(f, "reporter_name") || null,
        reporter_phone: val(f, "reporter_phone") || null,
        disaster_types: [...f.querySelectorAll("input[name=disaster_types]:checked")].map((x) => x.value) };
      for (const [k, , , integer] of INDICATORS) d[k] = num(f, k, integer);
      d.title = `${d.disaster_types.join("、")}${d.stage}`;
      return d;
    },
    validate: disasterErrors,
    media: { fields: ["photos", "location"] },
  };
}

// ---------------------------------------------------------------- 现场回传 (field/reports.py)
const REPORT_TYPES = ["现场情况", "险情", "灾情", "人员伤亡", "救援进展", "物资需求", "道路通信", "其他"];
export const fieldReportSpec = {
  entity: "field_report",
  title: "现场回传",
  defaults: () => ({ report_type: "现场情况", urgency: "一般" }),
  fields: (s) => [
    field("类型", select("report_type", REPORT_TYPES, s.report_type)),
    field("紧急程度", select("urgency", ["一般", "紧急", "特急"], s.urgency)),
    field("标题", h("input", { name: "title", value: s.title || "", placeholder: "例：东关村河堤渗水" })),
    field("现场情况", h("textarea", { name: "text", rows: 4 }, s.text || "")),
  ],
  collect: (f) => ({ report_type: val(f, "report_type"), urgency: val(f, "urgency"), title: val(f, "title") || null,
    text: val(f, "text") || null, occurred_at: new Date().toISOString() }),
  validate: (d) => {
    const e = {};
    if (!d.text && !(d.photos || []).length && !(d.voice_notes || []).length) e.text = ["请至少填写文字、拍一张照片或录一段语音"];
    if (d.urgency === "特急" && !d.location) e.location = ["特急回传需要位置，请先定位"];
    if (d.text && d.text.length > 5000) e.text = ["文字最多 5000 字"];
    return e;
  },
  media: { fields: ["photos", "voice_notes", "location"] },
};

export async function disasterNew(root, parts, query, ctx) {
  const stage = query.get("stage") || "初报";
  const prevId = query.get("after");
  const previous = prevId ? await outbox.get(prevId) : null;
  // A 初报 names its event by its own id (field/CONTRACT.md), so 续报 made offline before it
  // reaches the server can already point at it, even in the same push batch.
  const id = crypto.randomUUID();
  const spec = disasterSpec(ctx.user, stage, previous);
  const defaults = spec.defaults;
  spec.defaults = () => ({ ...defaults(), event_id: previous ? previous.data.event_id || previous.id : id });
  return recordForm(root, spec, id);
}
