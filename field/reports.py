"""现场回传 field reports: "人人皆单兵", every rescuer sends the scene back to the command.

A synced entity: the phone keeps it in its outbox while offline and the command's screens
get it on their next pull (seconds after it reaches the server). Besides the usual
jurisdiction scope, the members of the sender's own team (organisation) see it too.
"""
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from server.models import User
from sync import registry
from sync.models import SyncRecord

from .common import LocationSchema, blob_list, check_location, jurisdiction_field

ENTITY = "field_report"
REPORT_TYPES = ("现场情况", "险情", "灾情", "人员伤亡", "救援进展", "物资需求", "道路通信", "其他")
URGENCIES = ("一般", "紧急", "特急")


class FieldReportSchema(Schema):
    """现场回传."""
    report_type = fields.String(required=True, validate=validate.OneOf(
        REPORT_TYPES, error="回传类型应为：" + "、".join(REPORT_TYPES)), metadata={"zh": "类型"})
    title = fields.String(allow_none=True, validate=validate.Length(max=200))
    text = fields.String(allow_none=True, validate=validate.Length(max=5000, error="文字最多 5000 字"),
                         metadata={"zh": "文字说明"})
    photos = blob_list("照片")
    voice_notes = blob_list("语音", maximum=20)
    location = fields.Nested(LocationSchema, allow_none=True, metadata={"zh": "位置"})
    urgency = fields.String(load_default="一般", validate=validate.OneOf(
        URGENCIES, error="紧急程度应为 一般、紧急 或 特急"), metadata={"zh": "紧急程度"})
    event_id = fields.String(allow_none=True, validate=validate.Length(max=36), metadata={"zh": "所属事件"})
    occurred_at = fields.DateTime(allow_none=True, metadata={"zh": "现场时间（设备时间）"})
    jurisdiction_code = jurisdiction_field()
    status = fields.String(allow_none=True, validate=validate.Length(max=40))
    review = fields.Dict(allow_none=True)


def promote(d):
    text = (d.get("text") or "").strip()
    return {"jurisdiction_code": d.get("jurisdiction_code"), "event_id": d.get("event_id"),
            "occurred_at": d.get("occurred_at"), "level": d.get("urgency"), "status": d.get("status"),
            "title": d.get("title") or (f"{d.get('report_type')}：{text[:60]}" if text else d.get("report_type"))}


def check(ctx):
    if ctx.op != "upsert":
        return None
    d, errors = ctx.new, {}
    if not (d.get("text") or "").strip() and not d.get("photos") and not d.get("voice_notes"):
        errors["text"] = ["现场回传至少需要文字、照片或语音之一"]
    check_location(d.get("location"), errors)
    if d.get("urgency") == "特急" and not d.get("location"):
        errors.setdefault("location", []).append("特急回传必须带位置，方便指挥部派人")
    if errors:
        raise registry.Rejected(errors, 422)
    return None


def visible(user):
    """Team members see each other's reports (the jurisdiction rule covers the command)."""
    if user.organisation_id is None:
        return None
    return SyncRecord.owner_id.in_(select(User.id).where(User.organisation_id == user.organisation_id))


def register():
    registry.register(registry.EntityType(
        name=ENTITY, schema=FieldReportSchema, promote=promote, check=check, visible=visible,
        workflow_fields=frozenset({"status", "review"})))
