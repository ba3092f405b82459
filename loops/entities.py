"""The synced entities of the two closed loops: ``hazard`` (隐患) and ``inspection`` (执法检查).

CONTRACT (HELPERS.md, other modules build against these names):

hazard data fields: title, description, category, hazard_code, enterprise_id,
location{lat,lon,accuracy,address}, photos[], after_photos[], reporter_id, device_time,
risk_level (红/橙/黄/蓝), grade (一般/重大), handling (即查即改/限期整改), status, assignee_id,
work_order{unit, person_id, deadline}, source (snapshot/patrol/inspection/supervisor),
source_id, review{action, comment, by, at}, reinspection{passed, comment, by, at},
rectification{note, by, at}, escalations[{level, at, to_jurisdiction, to_user_ids, by, reason}],
overdue, verified_at, closed_at, detections[] and suggested_findings[] (vision),
jurisdiction_code.

inspection data fields: title, enterprise_id, inspector_ids[2], planned_at, started_at,
finished_at, location, template (checklist code from legal/data/checklists), items[{code,
title, category, result 合格/不合格/不涉及, evidence[], note}], findings[{id, description,
evidence[], clauses[], item_code, hazard_code}], major (重大决定), status, review{action,
comment, by, at}, legal_review{result 通过/退回, opinion, by, at}, assignee_id, escalations[],
submitted_at, approved_at, closed_at, jurisdiction_code.

Blob references are sha256 hex strings (the media subsystem owns the bytes).
"""
from marshmallow import Schema, ValidationError, fields, validate, validates

from server.models.jurisdiction import valid_code
from sync.entities import LocationSchema

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="应为照片的 sha256（64 位小写十六进制）")
RISK_LEVELS = ("红", "橙", "黄", "蓝")
GRADES = ("一般", "重大")
HANDLINGS = ("即查即改", "限期整改")
SOURCES = ("snapshot", "patrol", "inspection", "supervisor")
ITEM_RESULTS = ("合格", "不合格", "不涉及")

HAZARD_STATUSES = ("reported", "verified", "assigned", "rectifying", "rectified", "reinspected",
                   "closed", "rejected")
INSPECTION_STATUSES = ("draft", "submitted", "under_review", "approved", "returned", "documents_issued",
                       "closed")

STATUS_NAMES = {
    "reported": "已上报", "verified": "已核实", "assigned": "已派单", "rectifying": "整改中",
    "rectified": "已整改", "reinspected": "已复查", "closed": "已销号", "rejected": "不予核实",
    "draft": "草稿", "submitted": "已提交", "under_review": "审核中", "approved": "审核通过",
    "returned": "已退回", "documents_issued": "文书已送达",
}
STATUS_NAMES_INSPECTION = {**STATUS_NAMES, "closed": "已结案"}


def _blobs():
    return fields.List(fields.String(validate=SHA256), allow_none=True)


class WorkOrderSchema(Schema):
    """处置单: the responsible unit and person and the deadline."""
    unit = fields.String(required=True, validate=validate.Length(1, 200, error="责任单位应为 1 到 200 个字"))
    person_id = fields.Integer(required=True)
    deadline = fields.DateTime(required=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class EscalationSchema(Schema):
    level = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    to_jurisdiction = fields.String(allow_none=True)
    to_user_ids = fields.List(fields.Integer(), load_default=list)
    by = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class _Case(Schema):
    title = fields.String(required=True, validate=validate.Length(1, 200, error="标题应为 1 到 200 个字"))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000, error="描述最多 5000 字"))
    enterprise_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    location = fields.Nested(LocationSchema, allow_none=True)
    jurisdiction_code = fields.String(allow_none=True)
    status = fields.String(allow_none=True, validate=validate.Length(max=40))
    assignee_id = fields.Integer(allow_none=True)
    review = fields.Dict(allow_none=True)
    escalations = fields.List(fields.Nested(EscalationSchema), allow_none=True)
    closed_at = fields.DateTime(allow_none=True)

    def get_attribute(self, obj, attr, default):
        # A field named like a dict method ("items") must not dump the method when absent.
        if isinstance(obj, dict):
            return obj.get(attr, default)
        return super().get_attribute(obj, attr, default)

    @validates("jurisdiction_code")
    def _code(self, value, **kwargs):
        if value is not None and not valid_code(value):
            raise ValidationError("行政区划代码应为 12 位数字")


class HazardSchema(_Case):
    """隐患."""
    category = fields.String(allow_none=True, validate=validate.Length(max=60))
    hazard_code = fields.String(allow_none=True, validate=validate.Length(max=60))
    photos = _blobs()
    after_photos = _blobs()
    voice_notes = _blobs()
    reporter_id = fields.Integer(allow_none=True)
    device_time = fields.DateTime(allow_none=True)
    risk_level = fields.String(allow_none=True, validate=validate.OneOf(RISK_LEVELS, error="风险等级应为 红/橙/黄/蓝"))
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES, error="隐患等级应为 一般 或 重大"))
    handling = fields.String(allow_none=True, validate=validate.OneOf(HANDLINGS, error="处置方式应为 即查即改 或 限期整改"))
    work_order = fields.Nested(WorkOrderSchema, allow_none=True)
    source = fields.String(allow_none=True, validate=validate.OneOf(SOURCES, error="来源应为 snapshot/patrol/inspection/supervisor"))
    source_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    reinspection = fields.Dict(allow_none=True)
    rectification = fields.Dict(allow_none=True)
    overdue = fields.Boolean(allow_none=True)
    verified_at = fields.DateTime(allow_none=True)
    detections = fields.List(fields.Dict(), allow_none=True)
    suggested_findings = fields.List(fields.Dict(), allow_none=True)
    annotated_image = fields.String(allow_none=True, validate=SHA256)


class ItemSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 60))
    title = fields.String(allow_none=True, validate=validate.Length(max=500))
    category = fields.String(allow_none=True, validate=validate.Length(max=60))
    result = fields.String(allow_none=True, validate=validate.OneOf(ITEM_RESULTS, error="检查结果应为 合格/不合格/不涉及"))
    evidence = _blobs()
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class FindingSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(1, 36))
    description = fields.String(required=True, validate=validate.Length(1, 2000, error="违法事实应为 1 到 2000 个字"))
    evidence = _blobs()
    clauses = fields.List(fields.Raw(), allow_none=True)
    item_code = fields.String(allow_none=True, validate=validate.Length(max=60))
    hazard_code = fields.String(allow_none=True, validate=validate.Length(max=60))
    hazard_id = fields.String(allow_none=True, validate=validate.Length(max=36))


class InspectionSchema(_Case):
    """执法检查 (互联网+执法)."""
    inspector_ids = fields.List(fields.Integer(), allow_none=True)
    planned_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    template = fields.String(allow_none=True, validate=validate.Length(max=60))
    items = fields.List(fields.Nested(ItemSchema), allow_none=True)
    findings = fields.List(fields.Nested(FindingSchema), allow_none=True)
    photos = _blobs()
    major = fields.Boolean(allow_none=True)
    legal_review = fields.Dict(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)


def promote_hazard(data):
    wo = data.get("work_order") or {}
    return {"jurisdiction_code": data.get("jurisdiction_code"), "status": data.get("status"),
            "assignee_id": data.get("assignee_id"), "enterprise_id": data.get("enterprise_id"),
            "level": data.get("risk_level"), "deadline": wo.get("deadline"),
            "occurred_at": data.get("device_time"), "title": data.get("title")}


def promote_inspection(data):
    return {"jurisdiction_code": data.get("jurisdiction_code"), "status": data.get("status"),
            "assignee_id": data.get("assignee_id"), "enterprise_id": data.get("enterprise_id"),
            "level": "重大" if data.get("major") else None, "deadline": None,
            "occurred_at": data.get("started_at") or data.get("planned_at"), "title": data.get("title")}


HAZARD_WORKFLOW = frozenset({"status", "assignee_id", "work_order", "review", "reinspection", "rectification",
                             "escalations", "overdue", "reporter_id", "verified_at", "closed_at"})
INSPECTION_WORKFLOW = frozenset({"status", "assignee_id", "review", "legal_review", "escalations",
                                 "submitted_at", "approved_at", "closed_at"})


def register():
    from sync import registry

    from . import workflow
    registry.register(registry.EntityType(
        name="hazard", schema=HazardSchema, promote=promote_hazard, workflow_fields=HAZARD_WORKFLOW,
        check=workflow.check_hazard))
    registry.register(registry.EntityType(
        name="inspection", schema=InspectionSchema, promote=promote_inspection,
        workflow_fields=INSPECTION_WORKFLOW, check=workflow.check_inspection,
        create_roles=frozenset({"inspector", "supervisor", "admin"})))
