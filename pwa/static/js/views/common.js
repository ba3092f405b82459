// Screens everyone has: login, home (my items, changes since last sync), the sync panel,
// a record's detail.
import { mount, h, toast, fmtTime, fmtBytes, fmtLoc, errorList, confirmBox, ROLES, ENTITY_NAMES, STATUS_NAMES, LEVEL_CLASS } from "../ui.js";
import * as outbox from "../outbox.js";
import * as session from "../session.js";
import { thumb } from "./media.js";
import { INDICATORS } from "./entities.js";

export async function login(root, _p, _q, ctx) {
  if (session.current()) { location.hash = "#/"; return; }
  const notice = session.loginNotice();
  const err = h("p", { class: "errors", role: "alert" }, notice ? notice.message : "");
  const submit = h("button", { class: "btn primary", type: "submit" }, "登录");
  const offlineHint = h("p", { class: "muted offline-hint" }, "当前离线：曾在本机联网登录过的账号可以离线登录，联网后自动验证。");
  const onNet = () => { offlineHint.hidden = navigator.onLine; };
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    const fd = new FormData(form);
    submit.disabled = true;
    submit.textContent = "登录中…";
    try {
      await session.login(fd.get("username"), fd.get("password"));
      location.hash = "#/";
      await ctx.afterLogin();
    } catch (ex) {
      err.textContent = ex.message;
    } finally {
      submit.disabled = false;
      submit.textContent = "登录";
    }
  } },
  h("h2", {}, "登录"),
  h("label", { class: "field" }, h("span", {}, "用户名"), h("input", { name: "username", autocomplete: "username", required: true, value: notice ? notice.username || "" : "" })),
  h("label", { class: "field" }, h("span", {}, "密码"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  submit, err, offlineHint,
  h("p", { class: "muted" }, "同一部手机可多人轮流使用：每人的数据分开保存，退出登录不会删除未发送的数据，也不会给下一位用户看到。"));
  onNet();
  window.addEventListener("online", onNet);
  window.addEventListener("offline", onNet);
  mount(root, form);
  return () => { window.removeEventListener("online", onNet); window.removeEventListener("offline", onNet); };
}

const TITLE = (r) => (r.data && (r.data.title || (r.data.disaster_types || []).join("、") + (r.data.stage || ""))) || ENTITY_NAMES[r.entity];

export function recordRow(r) {
  const level = r.data.risk_level || r.data.level;
  return h("a", { class: "item", href: `#/${r.entity}/${r.id}`, "data-id": r.id, "data-entity": r.entity },
    level ? h("span", { class: `dot ${LEVEL_CLASS[level] || ""}` }) : null,
    h("span", { class: "t" }, TITLE(r)),
    h("span", { class: "muted" }, `${ENTITY_NAMES[r.entity] || r.entity} · ${STATUS_NAMES[r.data.status] || r.data.status || r.data.stage || ""}`),
    r.pending ? h("span", { class: "badge wait" }, "待同步") : h("span", { class: "badge ok" }, "已同步"));
}

export async function home(root, _p, _q, ctx) {
  const user = ctx.user;
  const s = await outbox.status();
  const mine = (await outbox.all()).filter((r) => !r.deleted && r.entity !== "warning" && r.entity !== "patrol_point" &&
    (r.pending || r.data.reporter_id === user.id || r.data.assignee_id === user.id || r.owner === user.id ||
     (r.data.inspector_ids || []).includes(user.id) || r.mine))
    .sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || ""));
  const warnings = (await outbox.list("warning")).filter((w) => !w.data.valid_until || new Date(w.data.valid_until) > new Date());
  mount(root, 
    h("section", { class: "card" }, h("h2", {}, `你好，${user.display_name || user.username}`),
      h("p", { class: "muted" }, `${ROLES[user.role] || user.role} · 上次同步 ${fmtTime(s.lastSync)}`),
      h("div", { class: "row" }, h("a", { class: "btn", href: "#/sync" }, "同步状态"),
        h("button", { class: "btn", type: "button", onclick: ctx.logout }, "退出登录"))),
    warnings.length ? h("section", { class: "card" }, h("h3", {}, "预警"),
      warnings.map((w) => h("a", { class: `item warn ${w.data.level}`, href: `#/warning/${w.id}` }, h("span", { class: `dot ${w.data.level}` }), w.data.title))) : null,
    h("section", { class: "card", id: "changes" }, h("h3", {}, "上次同步后的变化"),
      s.changes.length ? [s.changes.slice(0, 20).map((c) => h("a", { class: "item", href: `#/${c.entity}/${c.id}` },
        h("span", { class: "t" }, c.title || ENTITY_NAMES[c.entity]), h("span", { class: "muted" }, `${ENTITY_NAMES[c.entity] || c.entity} · ${c.what} ${STATUS_NAMES[c.status] || c.status || ""}`))),
      h("button", { class: "btn small", type: "button", onclick: async () => { await outbox.clearChanges(); ctx.rerender(); } }, "已阅")] : h("p", { class: "muted" }, "没有新的变化")),
    h("section", { class: "card", id: "mine" }, h("h3", {}, "我的记录"),
      mine.length ? mine.map(recordRow) : h("p", { class: "muted" }, "还没有记录")));
}

export async function syncPanel(root, _p, _q, ctx) {
  const draw = async () => {
    const s = await outbox.status();
    const { storageInfo } = await import("../app.js");
    const st = await storageInfo();
    root.replaceChildren(
      h("section", { class: "card", id: "sync-summary" }, h("h2", {}, "同步状态"),
        h("dl", { class: "kv" },
          h("dt", {}, "网络"), h("dd", {}, s.online ? "在线" : "离线"),
          h("dt", {}, "待发送操作"), h("dd", { id: "ops-waiting" }, String(s.pending.length)),
          h("dt", {}, "待上传附件"), h("dd", { id: "uploads-waiting" }, String(s.uploads.length)),
          h("dt", {}, "待发送位置"), h("dd", {}, String(s.positions)),
          h("dt", {}, "上次成功同步"), h("dd", { id: "last-sync" }, fmtTime(s.lastSync)),
          h("dt", {}, "存储"), h("dd", { id: "quota" }, `已用 ${fmtBytes(st.usage)} / 配额 ${fmtBytes(st.quota)}${st.persisted ? "（已持久保存）" : "（未持久保存）"}`)),
        s.lastError ? h("p", { class: "errors" }, s.lastError) : null,
        s.nextAttempt ? h("p", { class: "muted" }, `下次自动同步：${fmtTime(new Date(s.nextAttempt).toISOString())}`) : null,
        h("div", { class: "row" },
          h("button", { class: "btn primary", type: "button", id: "sync-button", onclick: async () => { await outbox.sync("button"); draw(); } }, s.syncing ? "同步中…" : "立即同步"),
          h("button", { class: "btn", type: "button", id: "export", onclick: async () => {
            const blob = await outbox.exportUnsent();
            const a = h("a", { href: URL.createObjectURL(blob), download: `单兵-未发送-${ctx.user.username}-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "")}.json` });
            document.body.append(a); a.click(); a.remove();
          } }, "导出未发送数据"))),
      h("section", { class: "card", id: "uploads" }, h("h3", {}, "附件上传"),
        s.uploads.length ? s.uploads.map((u) => h("div", { class: "upload", "data-sha": u.sha256 },
          h("span", {}, `${u.kind === "voice" ? "语音" : "照片"} ${fmtBytes(u.size)}`),
          h("progress", { max: u.size || 1, value: (u.progress && u.progress.sent) || u.offset || 0 }),
          h("span", { class: u.state === "error" ? "errors" : "muted" }, u.state === "error" ? `失败：${u.error}` : u.state === "uploading" ? "上传中（可断点续传）" : "等待中"))) : h("p", { class: "muted" }, "没有待上传的附件")),
      h("section", { class: "card", id: "rejected" }, h("h3", {}, "被服务器拒收"),
        s.rejected.length ? s.rejected.map((o) => h("div", { class: "reject", "data-record": o.record_id },
          h("p", {}, h("b", {}, `${ENTITY_NAMES[o.entity] || o.entity}：${(o.data && o.data.title) || o.record_id.slice(0, 8)}`), ` · ${fmtTime(o.rejected_at)}`),
          errorList(o.errors),
          h("div", { class: "row" },
            h("a", { class: "btn", href: `#/fix/${o.record_id}` }, "修改后重发"),
            h("button", { class: "btn danger", type: "button", onclick: async () => {
              if (await confirmBox("放弃这条修改？未发送的内容将被删除，无法恢复。", "放弃")) { await outbox.discard(o.record_id); draw(); }
            } }, "放弃")))) : h("p", { class: "muted" }, "没有")),
      h("section", { class: "card", id: "conflicts" }, h("h3", {}, "冲突"),
        s.conflicts.length ? s.conflicts.map((c) => h("div", { class: "conflict", "data-record": c.record_id },
          h("p", {}, h("b", {}, `${ENTITY_NAMES[c.entity] || c.entity} ${c.record_id.slice(0, 8)}`), ` · ${fmtTime(c.at)}`),
          errorList(c.errors),
          h("div", { class: "versions" },
            h("div", { class: "mine" }, h("h4", {}, "我的版本"), diffTable(c.mine, c.mine)),
            h("div", { class: "server" }, h("h4", {}, "服务器版本"), c.server ? diffTable(c.server, c.mine) : h("p", { class: "muted" }, "同步后显示")),
            c.server_now && c.server && JSON.stringify(c.server_now) !== JSON.stringify(c.server) ? h("div", { class: "now" }, h("h4", {}, "服务器现在保存的"), diffTable(c.server_now, c.mine)) : null),
          h("div", { class: "row" },
            h("button", { class: "btn", type: "button", onclick: async () => { await outbox.resolveConflict(c.key, false); draw(); } }, "以服务器为准"),
            h("button", { class: "btn", type: "button", onclick: async () => { await outbox.resolveConflict(c.key, true); draw(); } }, "用我的版本再发")))) : h("p", { class: "muted" }, "没有")),
      h("section", { class: "card" }, h("h3", {}, "等待发送"),
        s.pending.length ? h("ul", {}, s.pending.slice(0, 50).map((o) => h("li", {}, `${ENTITY_NAMES[o.entity] || o.entity} ${(o.data && o.data.title) || ""} · ${fmtTime(o.created_at)}`))) : h("p", { class: "muted" }, "全部已发送")));
  };
  const onStatus = () => draw();
  outbox.events.addEventListener("synced", onStatus);
  await draw();
  return () => outbox.events.removeEventListener("synced", onStatus);
}

function show(v) {
  if (v == null) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function diffTable(doc, keys) {
  return h("table", {}, Object.keys(keys || doc || {}).map((k) => h("tr", {}, h("th", {}, k), h("td", {}, show((doc || {})[k])))));
}

export async function detail(root, parts, _q, ctx, entity) {
  const r = await outbox.get(parts[0]);
  if (!r) { mount(root, h("p", { class: "muted" }, "本机没有这条记录（可能尚未同步）。"), h("button", { class: "btn", onclick: () => outbox.sync("detail").then(ctx.rerender) }, "立即同步")); return; }
  const d = r.data;
  const media = [...(d.photos || []), ...(d.after_photos || [])];
  mount(root, h("section", { class: "card", "data-id": r.id },
    h("h2", {}, TITLE(r)),
    h("p", { class: "muted" }, `${ENTITY_NAMES[r.entity]} · ${STATUS_NAMES[d.status] || d.status || d.stage || ""} · 版本 ${r.version ?? "未同步"}`),
    r.pending ? h("p", { class: "badge wait" }, "待同步") : null,
    d.description ? h("p", {}, d.description) : null,
    d.text ? h("p", {}, d.text) : null,
    d.location ? h("p", {}, `位置：${fmtLoc(d.location)}`) : null,
    h("div", { class: "thumbs" }, await Promise.all(media.map((s) => thumb(s, "photo", r.version == null)))),
    h("div", { class: "thumbs" }, await Promise.all((d.voice_notes || []).map((s) => thumb(s, "voice", r.version == null)))),
    r.entity === "disaster_report" ? h("dl", { class: "kv figures-view" }, INDICATORS.filter(([f]) => d[f] != null)
      .map(([f, n, unit]) => [h("dt", {}, n), h("dd", {}, `${d[f]} ${unit}`)])) : null,
    r.entity === "disaster_report" && d.stage !== "核报" ? h("div", { class: "row" },
      h("a", { class: "btn small", href: `#/disaster?stage=续报&after=${r.id}` }, "续报"),
      h("a", { class: "btn small", href: `#/disaster?stage=核报&after=${r.id}` }, "核报")) : null,
    r.entity === "patrol" ? h("p", {}, `轨迹 ${(d.track || []).length} 点 · 打卡 ${(d.checkins || []).length} 次${d.distance_m != null ? ` · 里程 ${Math.round(d.distance_m)} 米` : ""}`) : null,
    r.entity === "field_report" ? h("p", {}, `${d.report_type || ""} · ${d.urgency || ""}`) : null,
    r.entity === "document" ? h("dl", { class: "kv" }, h("dt", {}, "文号"), h("dd", {}, d.number || "—"),
      h("dt", {}, "当事人"), h("dd", {}, d.party_name || "—"), h("dt", {}, "签发"), h("dd", {}, fmtTime(d.issued_at)),
      h("dt", {}, "期限"), h("dd", {}, d.deadline ? fmtTime(d.deadline) : "—"),
      h("dt", {}, "文件指纹"), h("dd", { class: "mono" }, (d.pdf_sha256 || "").slice(0, 16))) : null,
    (d.detections || []).length ? h("div", {}, h("h3", {}, "系统识别"), d.detections.map((x) => h("p", {}, `${x.label || x.class || x.name} ${x.confidence != null ? (x.confidence * 100).toFixed(0) + "%" : ""}`))) : null,
    (d.suggested_findings || []).length ? h("div", {}, h("h3", {}, "建议违法事实与条款"), d.suggested_findings.map((f) => h("p", {}, `${f.description || f.title || ""} ${(f.clauses || []).map((c) => c.citation || c.title || c).join("；")}`))) : null,
    d.review && d.review.comment ? h("p", {}, `审核意见：${d.review.comment}`) : null,
    h("div", { class: "row" }, entity && entity.editable !== false && r.entity !== "document" ? h("a", { class: "btn", href: `#/${r.entity}/${r.id}/edit` }, "编辑") : null)));
}
