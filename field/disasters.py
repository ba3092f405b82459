"""灾情报告 disaster reports, after the national 自然灾害情况统计调查制度.

A *report* is one synced record filed for one place (a village, or a township reporting
as the statistical unit). An *event* (one disaster) gathers the reports of every place it
hit; ``event_id`` is the id of the event's first 初报 (a phone starting a new event uses its
own record id, so that it can file 续报 offline before it ever reaches the server). Each
place has its own chain 初报 → 续报 (daily while the disaster develops) → 核报 (verified,
once stable).

Figures of an event are always each place's *latest* report, summed up the jurisdiction
tree; a place that reported for itself and is also covered by a report of a unit above it
(a township filing its own totals) counts once: the higher unit's own report supersedes the
places under it (see ``aggregate``).
"""
from datetime import timedelta

from marshmallow import Schema, fields, validate

from server.models.jurisdiction import level_of
from sync import registry

from .common import LocationSchema, blob_list, check_location, jurisdiction_field, parse_dt

ENTITY = "disaster_report"

DISASTER_TYPES = ("暴雨洪涝", "滑坡", "泥石流", "崩塌", "地震", "森林草原火灾", "干旱", "台风", "风雹",
                  "低温冷冻", "雪灾", "其他")
INITIAL, UPDATE, FINAL = "初报", "续报", "核报"
STAGES = (INITIAL, UPDATE, FINAL)
STAGE_RANK = {INITIAL: 0, UPDATE: 1, FINAL: 2}
CREATE_ROLES = frozenset({"info_officer", "grid_member", "supervisor", "admin"})

# The core indicators: (field, Chinese name, unit, integer?).
INDICATORS = (
    ("affected_population", "受灾人口", "人", True),
    ("deaths", "死亡人口", "人", True),
    ("missing", "失踪人口", "人", True),
    ("injured", "受伤人口", "人", True),
    ("relocated", "紧急转移安置人口", "人", True),
    ("relief_needed", "需紧急生活救助人口", "人", True),
    ("collapsed_households", "倒塌房屋户数", "户", True),
    ("collapsed_rooms", "倒塌房屋间数", "间", True),
    ("severely_damaged_rooms", "严重损坏房屋间数", "间", True),
    ("generally_damaged_rooms", "一般损坏房屋间数", "间", True),
    ("crop_affected_ha", "农作物受灾面积", "公顷", False),
    ("crop_failed_ha", "农作物绝收面积", "公顷", False),
    ("direct_loss_wan_yuan", "直接经济损失", "万元", False),
)
INDICATOR_NAMES = {f: name for f, name, _, _ in INDICATORS}
# Sub-populations that cannot exceed the affected population (受灾人口 counts them all).
WITHIN_AFFECTED = ("deaths", "missing", "injured", "relocated", "relief_needed")


def _indicator(name, chinese, unit, integer):
    cls = fields.Integer if integer else fields.Float
    kwargs = {} if not integer else {"strict": True}
    return cls(allow_none=True, load_default=None, metadata={"zh": chinese, "unit": unit},
               validate=validate.Range(min=0, error=f"{chinese}不能为负数"), **kwargs)


class DisasterReportSchema(Schema):
    """灾情报告. Field names in English; ``metadata["zh"]`` carries the statistical term."""
    event_id = fields.String(allow_none=True, validate=validate.Length(1, 36),
                             metadata={"zh": "灾害事件（首份初报的编号）"})
    stage = fields.String(required=True, validate=validate.OneOf(STAGES, error="报告阶段应为 初报、续报 或 核报"),
                          metadata={"zh": "报告阶段"})
    disaster_types = fields.List(fields.String(validate=validate.OneOf(
        DISASTER_TYPES, error="灾种应为：" + "、".join(DISASTER_TYPES))), required=True,
        validate=validate.Length(min=1, max=5, error="请选择 1 到 5 个灾种"), metadata={"zh": "灾种"})
    other_type = fields.String(allow_none=True, validate=validate.Length(max=50), metadata={"zh": "其他灾种说明"})
    occurred_at = fields.DateTime(required=True, metadata={"zh": "灾害发生时间"})
    learned_at = fields.DateTime(allow_none=True, metadata={"zh": "获知灾情时间（报送时限由此起算）"})
    reported_at = fields.DateTime(allow_none=True, metadata={"zh": "填报时间（设备时间）"})
    stats_until = fields.DateTime(allow_none=True, metadata={"zh": "统计截止时间（续报为前一日 24 时）"})
    jurisdiction_code = jurisdiction_field(required=True)
    location = fields.Nested(LocationSchema, allow_none=True, metadata={"zh": "坐标"})
    title = fields.String(allow_none=True, validate=validate.Length(max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000, error="灾情描述最多 5000 字"),
                                metadata={"zh": "灾情描述"})
    photos = blob_list("照片")
    emergency_response = fields.Boolean(allow_none=True, load_default=None, metadata={"zh": "是否已启动应急响应"})
    developing = fields.Boolean(allow_none=True, load_default=None, metadata={"zh": "灾情是否仍在发展"})
    reporter_name = fields.String(allow_none=True, validate=validate.Length(max=50), metadata={"zh": "填报人"})
    reporter_phone = fields.String(allow_none=True, validate=validate.Length(max=30), metadata={"zh": "联系电话"})
    status = fields.String(allow_none=True, validate=validate.Length(max=40))
    review = fields.Dict(allow_none=True)

    locals().update({f: _indicator(f, zh, unit, integer) for f, zh, unit, integer in INDICATORS})


def promote(data):
    types = "、".join(data.get("disaster_types") or [])
    return {"jurisdiction_code": data.get("jurisdiction_code"), "event_id": data.get("event_id"),
            "occurred_at": data.get("occurred_at"), "status": data.get("stage"),
            "title": data.get("title") or f"{types}{data.get('stage') or ''}"}


# --------------------------------------------------------------------------- validation

def figure_errors(d):
    """Cross-field mistakes in one report's figures: {field: [message]}."""
    errors = {}

    def add(f, msg):
        errors.setdefault(f, []).append(msg)

    affected = d.get("affected_population")
    if affected is not None:
        for f in WITHIN_AFFECTED:
            if d.get(f) is not None and d[f] > affected:
                add(f, f"{INDICATOR_NAMES[f]}（{d[f]}）不能大于受灾人口（{affected}）")
        dm = (d.get("deaths") or 0) + (d.get("missing") or 0)
        if d.get("deaths") is not None and d.get("missing") is not None and dm > affected:
            add("missing", f"死亡与失踪人口之和（{dm}）不能大于受灾人口（{affected}）")
    households, rooms = d.get("collapsed_households"), d.get("collapsed_rooms")
    if households is not None and rooms is not None and rooms < households:
        add("collapsed_rooms", f"倒塌房屋间数（{rooms}）不能少于户数（{households}）：每户至少倒塌 1 间")
    if households and rooms is None:
        add("collapsed_rooms", "填写了倒塌房屋户数，请同时填写间数")
    cf, ca = d.get("crop_failed_ha"), d.get("crop_affected_ha")
    if cf is not None and cf > 0 and (ca is None or cf > ca):
        add("crop_failed_ha", f"绝收面积（{cf} 公顷）不能大于农作物受灾面积（{ca or 0} 公顷）")
    if (d.get("affected_population") == 0 and any(d.get(f) for f in ("collapsed_households", "relocated"))):
        add("affected_population", "有倒塌房屋或转移安置人口时，受灾人口不能为 0")
    return errors


def check(ctx: registry.WriteContext):
    """Workflow rules of a report; runs on every create and edit (ctx.new is the merged document)."""
    from .chain import chain_errors, event_reports
    if ctx.op != "upsert":
        old = ctx.old or {}
        if old.get("stage") == INITIAL and old.get("event_id"):
            later = [s for c, s in event_reports(old["event_id"]) if c == old.get("jurisdiction_code") and s != INITIAL]
            if later:
                raise registry.Rejected({"stage": ["本地这次灾害已有续报或核报，不能只删除初报；如初报有误请修改初报"]}, 409)
        return None
    d, old = ctx.new, ctx.old
    errors = figure_errors(d)
    check_location(d.get("location"), errors)
    code = d.get("jurisdiction_code")
    if code and level_of(code) not in ("village", "township"):
        errors.setdefault("jurisdiction_code", []).append("灾情报告应填到村（社区）或乡镇，县及以上请按乡镇分别填报")
    occurred, learned = parse_dt(d.get("occurred_at")), parse_dt(d.get("learned_at"))
    if occurred is not None and occurred > ctx.now + _SKEW:
        errors.setdefault("occurred_at", []).append("灾害发生时间晚于当前时间，请检查手机时间或所填日期")
    if learned is not None and occurred is not None and learned < occurred:
        errors.setdefault("learned_at", []).append("获知灾情时间不能早于灾害发生时间")
    if "其他" in (d.get("disaster_types") or []) and not d.get("other_type"):
        errors.setdefault("other_type", []).append("选择了“其他”灾种，请说明是什么灾害")
    if d.get("emergency_response") and len(d.get("photos") or []) < 3:
        errors.setdefault("photos", []).append("已启动应急响应的灾情报告至少需要 3 张现场照片")
    if d.get("stage") == FINAL:
        blank = [INDICATOR_NAMES[f] for f, *_ in INDICATORS if d.get(f) is None]
        if blank:
            errors.setdefault("stage", []).append("核报须填写全部核心指标（没有的填 0）：" + "、".join(blank))
    if old is not None:
        for f, name in (("stage", "报告阶段"), ("event_id", "所属灾害事件"), ("jurisdiction_code", "报告地点")):
            if old.get(f) is not None and d.get(f) != old.get(f):
                errors.setdefault(f, []).append(f"{name}提交后不能修改；灾情有变化请另报续报，报错了请删除后重报")
    if errors:
        raise registry.Rejected(errors, 422)
    if old is None:
        chain_errors(ctx)  # raises Rejected (409) for a broken 初报/续报/核报 chain
    return None


_SKEW = timedelta(minutes=10)  # a phone's clock a few minutes ahead is not a mistake


def register():
    registry.register(registry.EntityType(
        name=ENTITY, schema=DisasterReportSchema, promote=promote, check=check,
        workflow_fields=frozenset({"status", "review"}), create_roles=CREATE_ROLES))
