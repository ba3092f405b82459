"""/api/v1/push: the VAPID public key, this device's subscription, my preferences."""
from flask import Blueprint, current_app, g
from marshmallow import Schema, fields, validate

from server.auth.decorators import require_auth
from server.errors import Invalid
from server.http import load

from . import subscriptions, vapid, warnings
from .models import KINDS

bp = Blueprint("push", __name__, url_prefix="/api/v1/push")

_B64URL = validate.Regexp(r"^[A-Za-z0-9_-]+=*$", error="须为 base64url 编码")


class KeysSchema(Schema):
    p256dh = fields.String(required=True, validate=[validate.Length(80, 100), _B64URL])
    auth = fields.String(required=True, validate=[validate.Length(16, 30), _B64URL])


class SubscriptionSchema(Schema):
    endpoint = fields.Url(required=True, schemes={"https", "http"}, require_tld=False,
                          validate=validate.Length(max=1000))
    expirationTime = fields.Raw(allow_none=True)
    keys = fields.Nested(KeysSchema, required=True)


@bp.get("/vapid-public-key")
def public_key():
    return {"public_key": vapid.application_server_key(vapid.get(current_app))}


@bp.post("/subscriptions")
@require_auth()
def subscribe():
    body = load(SubscriptionSchema())
    sub = subscriptions.subscribe(g.user, g.device, body["endpoint"], body["keys"]["p256dh"], body["keys"]["auth"])
    return {"id": sub.id, "device_id": g.device.device_id}, 201


@bp.delete("/subscriptions")
@require_auth()
def unsubscribe():
    return {"removed": subscriptions.unsubscribe(g.device)}


@bp.get("/preferences")
@require_auth()
def get_preferences():
    return {"preferences": subscriptions.preferences(g.user)}


class PreferencesSchema(Schema):
    enabled = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)


@bp.put("/preferences")
@require_auth()
def put_preferences():
    enabled = load(PreferencesSchema())["enabled"]
    unknown = sorted(set(enabled) - set(KINDS))
    if unknown:
        raise Invalid("未知的通知类型。", errors={k: [f"可选：{', '.join(KINDS)}"] for k in unknown})
    return {"preferences": subscriptions.set_preferences(g.user, enabled)}


@bp.post("/warnings")
@require_auth(*warnings.ISSUER_ROLES)
def issue_warning():
    body = load(warnings.WarningSchema())
    rec, devices = warnings.issue(g.user, body)
    return {"warning": warnings.to_dict(rec), "devices_notified": devices}, 201


@bp.get("/warnings")
@require_auth()
def active_warnings():
    return {"items": [warnings.to_dict(r) for r in warnings.active_for(g.user)]}
