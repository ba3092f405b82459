"""Devices, users (for assignment), jurisdictions, organisations and enterprises."""
from flask import Blueprint, g, request
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ..auth import service
from ..auth.decorators import require_auth
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..http import load
from ..models import RISK_LEVELS, ROLES, Device, Enterprise, Jurisdiction, User
from ..models.jurisdiction import covers, scope_prefix
from .pagination import paginate

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


@bp.get("/devices")
@require_auth("admin", "supervisor")
def list_devices():
    prefix = scope_prefix(g.user.jurisdiction_code)
    stmt = (select(Device).join(User, Device.last_user_id == User.id)
            .where(User.jurisdiction_code.startswith(prefix)).order_by(Device.registered_at.desc()))
    return paginate(stmt, Device.to_dict)


@bp.post("/devices/<device_id>/revoke")
@require_auth("admin")
def revoke_device(device_id):
    return service.revoke_device(device_id, g.user).to_dict()


@bp.get("/users")
@require_auth("admin", "supervisor")
def list_users():
    """The people a supervisor may assign work to: active users in their jurisdiction (?role=a,b)."""
    stmt = (select(User).where(User.active.is_(True),
                               User.jurisdiction_code.startswith(scope_prefix(g.user.jurisdiction_code)))
            .order_by(User.role, User.display_name))
    roles = [r for r in request.args.get("role", "").split(",") if r]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise Invalid("未知的角色：" + "、".join(unknown), errors={"role": [f"可选：{', '.join(ROLES)}"]})
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    return paginate(stmt, User.to_dict, default_per_page=200)


@bp.get("/jurisdictions")
@require_auth()
def list_jurisdictions():
    prefix = scope_prefix(g.user.jurisdiction_code)
    rows = db.session.scalars(select(Jurisdiction).where(Jurisdiction.code.startswith(prefix))
                              .order_by(Jurisdiction.code)).all()
    return {"items": [j.to_dict() for j in rows if covers(g.user.jurisdiction_code, j.code)]}


class EnterpriseSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    credit_code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$", error="统一社会信用代码应为 18 位"))
    address = fields.String(required=True, validate=validate.Length(1, 300))
    legal_representative = fields.String(validate=validate.Length(max=50))
    contact_phone = fields.String(validate=validate.Length(max=30))
    lat = fields.Float(validate=validate.Range(-90, 90))
    lon = fields.Float(validate=validate.Range(-180, 180))
    industry = fields.String(required=True, validate=validate.Length(1, 50))
    risk_level = fields.String(load_default="blue", validate=validate.OneOf(RISK_LEVELS))
    jurisdiction_code = fields.String(required=True)


@bp.get("/enterprises")
@require_auth()
def list_enterprises():
    stmt = select(Enterprise).where(Enterprise.jurisdiction_code.startswith(scope_prefix(g.user.jurisdiction_code)))
    if request.args.get("risk_level"):
        stmt = stmt.where(Enterprise.risk_level == request.args["risk_level"])
    if request.args.get("q"):
        stmt = stmt.where(Enterprise.name.contains(request.args["q"]))
    return paginate(stmt.order_by(Enterprise.name), Enterprise.to_dict)


def _enterprise_in_scope(enterprise_id):
    e = db.session.get(Enterprise, enterprise_id)
    if e is None or not covers(g.user.jurisdiction_code, e.jurisdiction_code):
        raise NotFound("没有这个企业，或不在您的辖区内。")
    return e


@bp.get("/enterprises/<enterprise_id>")
@require_auth()
def get_enterprise(enterprise_id):
    return _enterprise_in_scope(enterprise_id).to_dict()


@bp.post("/enterprises")
@require_auth("admin", "supervisor")
def create_enterprise():
    body = load(EnterpriseSchema())
    if db.session.get(Jurisdiction, body["jurisdiction_code"]) is None:
        raise Invalid("行政区划代码不存在。", errors={"jurisdiction_code": ["未知的行政区划代码"]})
    if not covers(g.user.jurisdiction_code, body["jurisdiction_code"]):
        raise Forbidden("不能在您的辖区之外登记企业。")
    if db.session.scalar(select(Enterprise.id).where(Enterprise.credit_code == body["credit_code"])):
        raise Conflict("该统一社会信用代码的企业已登记。")
    e = Enterprise(**body)
    db.session.add(e)
    db.session.commit()
    return e.to_dict(), 201
