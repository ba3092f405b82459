"""预警 warnings: issued by a supervisor to everyone in a jurisdiction.

A warning is a synced entity, so a phone that was offline when it was issued still gets
it on its next pull (push is only the nudge). Unlike other records, a warning is seen
*below* its jurisdiction: a county warning reaches every village of the county.
"""
import uuid
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from server.clock import utcnow
from server.extensions import db
from server.models.jurisdiction import PREFIX_LEN, covers, scope_prefix, valid_code
from sync import engine, registry
from sync.models import SyncRecord

from . import delivery

LEVELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
ISSUER_ROLES = frozenset({"supervisor", "admin"})
# Red and orange warnings must wake the phone now.
SEVERITY = {"red": "high", "orange": "high", "yellow": "normal", "blue": "normal"}


class WarningSchema(Schema):
    level = fields.String(required=True, validate=validate.OneOf(list(LEVELS), error="预警级别应为 red/orange/yellow/blue"))
    title = fields.String(required=True, validate=validate.Length(1, 80, error="标题应为 1 到 80 个字"))
    text = fields.String(required=True, validate=validate.Length(1, 2000, error="正文应为 1 到 2000 个字"))
    category = fields.String(load_default="综合", validate=validate.Length(max=30))
    jurisdiction_code = fields.String(required=True, validate=validate.Predicate(
        "isdigit", error="行政区划代码应为 12 位数字"))
    valid_from = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(required=True)
    issued_by = fields.String(allow_none=True, validate=validate.Length(max=100))

    @validates_schema
    def _dates(self, data, **kwargs):
        if not valid_code(data.get("jurisdiction_code", "")):
            raise ValidationError("行政区划代码应为 12 位数字", "jurisdiction_code")
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            raise ValidationError("结束时间应晚于开始时间", "valid_until")


def promote(data):
    return {"jurisdiction_code": data.get("jurisdiction_code"), "level": data.get("level"),
            "title": data.get("title"), "status": "issued"}


def check(ctx: registry.WriteContext):
    if ctx.user is not None and ctx.user.role not in ISSUER_ROLES:
        raise registry.Rejected({"role": ["只有审核/指挥人员可以发布或修改预警"]}, 403)
    if ctx.new and ctx.user is not None and not covers(ctx.user.jurisdiction_code, ctx.new.get("jurisdiction_code")):
        raise registry.Rejected({"jurisdiction_code": ["不能向辖区以外发布预警"]}, 403)
    return None


def ancestor_codes(code):
    """The code and every jurisdiction above it: the areas whose warnings reach ``code``."""
    return [code[:n].ljust(12, "0") for n in PREFIX_LEN.values() if code[:n].ljust(12, "0") != "0" * 12]


def visible(user):
    return SyncRecord.jurisdiction_code.in_(ancestor_codes(user.jurisdiction_code))


def register():
    registry.register(registry.EntityType(
        name="warning", schema=WarningSchema, promote=promote, check=check, visible=visible,
        create_roles=ISSUER_ROLES, workflow_fields=frozenset()))


def issue(user, data):
    """Record the warning (synced) and push it to every subscribed device in the area."""
    data = {**data, "issued_by": user.display_name}
    warning_id = str(uuid.uuid4())
    rec = engine.server_write(user, "warning", warning_id, data, create=True)
    code = rec.data["jurisdiction_code"]
    msg = delivery.message("warning", f"【{LEVELS[data['level']]}预警】{data['title']}", data["text"],
                           f"/#/warnings/{warning_id}", severity=SEVERITY[data["level"]], level=data["level"],
                           tag=f"warning-{warning_id}")
    devices = delivery.notify_jurisdiction(scope_prefix(code), msg)
    return rec, devices


def active_for(user, now=None):
    """Warnings that reach ``user`` and are still valid."""
    now = now or utcnow()
    rows = db.session.scalars(select(SyncRecord).where(
        SyncRecord.entity == "warning", SyncRecord.deleted.is_(False), visible(user)
    ).order_by(SyncRecord.created_at.desc())).all()
    return [r for r in rows if _valid_until(r) > now]


def _valid_until(rec):
    """``valid_until`` as naive UTC (documents keep ISO strings, perhaps with an offset)."""
    dt = datetime.fromisoformat(str(rec.data["valid_until"]).replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def to_dict(rec):
    return {"id": rec.id, "version": rec.version, **rec.data}
