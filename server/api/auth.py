"""/api/v1/auth: login, refresh, logout, me."""
from flask import Blueprint, current_app, g, request
from marshmallow import Schema, fields, validate

from ..auth import service
from ..auth.decorators import require_auth
from ..http import load

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(1, 80))
    password = fields.String(required=True, validate=validate.Length(1, 200))
    device_id = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9._:-]{8,64}$", error="device_id 须为 8–64 位字母、数字或 ._:-"))


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(1, 200))


def _settings():
    return service.Settings.from_config(current_app.config)


@bp.post("/login")
def login():
    body = load(LoginSchema())
    return service.login(body["username"], body["password"], body["device_id"], _settings(),
                         ip=request.remote_addr, user_agent=request.user_agent.string)


@bp.post("/refresh")
def refresh():
    return service.refresh(load(RefreshSchema())["refresh_token"], _settings())


@bp.post("/logout")
@require_auth()
def logout():
    service.logout(g.principal)
    return {"ok": True}


@bp.get("/me")
@require_auth()
def me():
    return {"user": g.user.to_dict(), "device_id": g.device.device_id}
