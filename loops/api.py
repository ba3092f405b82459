"""HTTP for the loops: the review queue and actions, the audit chain check, the dashboard.

Thin: parse with marshmallow, call ``loops.review`` / ``loops.audit`` / ``loops.stats``.
"""
from flask import Blueprint, g, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from server.api.pagination import page_args
from server.auth.decorators import require_auth
from server.clock import utcnow
from server.errors import BadRequest, Forbidden, Invalid, NotFound
from server.http import json_body

from . import audit, review, stats
from .entities import GRADES, HANDLINGS, RISK_LEVELS

bp = Blueprint("loops", __name__, url_prefix="/api/v1")
SUPERVISORS = ("supervisor", "admin")


class _Csv(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        return [v.strip() for v in str(value).split(",") if v.strip()]


class QueueArgs(Schema):
    class Meta:
        unknown = EXCLUDE
    type = _Csv(load_default=None)
    status = _Csv(load_default=None)
    overdue = fields.Boolean(load_default=None)
    risk_level = _Csv(load_default=None)
    enterprise_id = fields.String(load_default=None)
    jurisdiction = fields.String(load_default=None, validate=validate.Regexp(r"^\d{12}$", error="应为 12 位行政区划代码"))
    date_from = fields.DateTime(load_default=None)
    date_to = fields.DateTime(load_default=None)
    sort = fields.String(load_default="-created_at")


def _naive(dt):
    return (dt - dt.utcoffset()).replace(tzinfo=None) if dt is not None and dt.tzinfo else dt


def _args(schema):
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as e:
        raise Invalid("查询参数有误，请按 errors 逐项修改。", errors=e.normalized_messages()) from None


@bp.get("/review/queue")
@require_auth(*SUPERVISORS)
def queue():
    a = _args(QueueArgs())
    now = utcnow()
    stmt = review.queue_statement(
        g.user, types=a["type"], statuses=a["status"], overdue=a["overdue"], levels=a["risk_level"],
        enterprise_id=a["enterprise_id"], jurisdiction=a["jurisdiction"], date_from=_naive(a["date_from"]),
        date_to=_naive(a["date_to"]), sort=a["sort"], now=now)
    page_no, per_page = page_args(default_per_page=20, max_per_page=200)
    return review.page(stmt, page_no, per_page, lambda r: review.summary(r, now))


@bp.get("/review/items/<entity>/<record_id>")
@require_auth()
def item(entity, record_id):
    return review.detail(g.user, entity, record_id)


class ActionBody(Schema):
    class Meta:
        unknown = EXCLUDE
    comment = fields.String(allow_none=True, validate=validate.Length(max=2000))
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))
    # assign / reassign (处置单)
    unit = fields.String(allow_none=True, validate=validate.Length(1, 200))
    person_id = fields.Integer(allow_none=True)
    deadline = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))
    handling = fields.String(allow_none=True, validate=validate.OneOf(HANDLINGS))
    # verify
    risk_level = fields.String(allow_none=True, validate=validate.OneOf(RISK_LEVELS))
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    # reinspect
    passed = fields.Boolean(allow_none=True)
    # legal-review
    result = fields.String(allow_none=True, validate=validate.OneOf(("通过", "退回"), error="法制审核结论应为 通过 或 退回"))
    opinion = fields.String(allow_none=True, validate=validate.Length(max=5000))


@bp.post("/review/items/<entity>/<record_id>/<action>")
@require_auth()
def action(entity, record_id, action):
    body = json_body() if request.content_length else {}
    try:
        body = ActionBody().load(body)
    except ValidationError as e:
        raise Invalid("请求中的字段有误，请按 errors 逐项修改。", errors=e.normalized_messages()) from None
    if action not in review.ACTIONS:
        raise BadRequest(f"没有这个操作：{action}，可选：{'、'.join(review.ACTIONS)}。")
    device_id = g.device.device_id if getattr(g, "device", None) is not None else None
    rec = review.act(g.user, device_id, entity, record_id, action, body)
    return review.detail(g.user, entity, rec.id)


def _may_read_audit(entity, record_id):
    """A case's chain is readable by whoever may see the case; chains of things that are not
    synced records (documents of a case are appended to the case's chain) by supervisors."""
    if entity in review.CASES:
        review.get_case(g.user, entity, record_id)
        return
    from sync import engine, scope
    rec = engine.get_record(entity, record_id)
    if rec is not None:
        if not scope.can_see(g.user, rec):
            raise NotFound("没有这条记录，或不在您的可见范围内。")
    elif g.user.role not in SUPERVISORS:
        raise Forbidden("只有审核人员可以查看该审计链。")


@bp.get("/audit/<entity>/<record_id>/verify")
@require_auth()
def verify(entity, record_id):
    _may_read_audit(entity, record_id)
    return audit.verify(entity, record_id)


@bp.get("/audit/<entity>/<record_id>")
@require_auth()
def history(entity, record_id):
    _may_read_audit(entity, record_id)
    return {"entries": [e.to_dict() for e in audit.entries(entity, record_id)]}


@bp.get("/stats/dashboard")
@require_auth(*SUPERVISORS)
def dashboard():
    return stats.dashboard(g.user)
