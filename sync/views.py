"""/api/v1/sync: push, pull, and the supervisors' view of conflict records.

Thin: validate the envelope, call the engine, serialise. The engine knows nothing of HTTP.
"""
from flask import Blueprint, current_app, g, request

from server.api.pagination import paginate
from server.auth.decorators import require_auth
from server.errors import BadRequest, Forbidden, TooLarge
from server.http import json_body

from . import engine, protocol

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")


@bp.post("/push")
@require_auth()
def push():
    limit = current_app.config["SYNC_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"推送请求体超过上限 {limit} 字节，请分批推送（照片等附件走媒体上传）。", limit=limit)
    device_id, ops = protocol.parse_push(json_body(), current_app.config["SYNC_MAX_OPS"])
    if device_id != g.device.device_id:
        raise Forbidden("device_id 与登录设备不一致：请用本设备的登录令牌推送本设备的操作。")
    return {"results": engine.push(g.user, device_id, ops)}


@bp.get("/pull")
@require_auth()
def pull():
    cursor = protocol.decode_cursor(request.args.get("cursor"))
    maximum = current_app.config["SYNC_PULL_MAX"]
    try:
        limit = int(request.args.get("limit", min(500, maximum)))
    except ValueError:
        raise BadRequest("limit 必须是整数。") from None
    if not 1 <= limit <= maximum:
        raise BadRequest(f"limit 应在 1 到 {maximum} 之间。")
    page = engine.pull(g.user, cursor, limit)
    page["cursor"] = protocol.encode_cursor(page["cursor"])
    return page


@bp.get("/conflicts")
@require_auth(*engine.RESTORE_ROLES)
def conflicts():
    stmt = engine.list_conflicts(g.user, include_restored=request.args.get("all") == "1",
                                 record_id=request.args.get("record_id"))
    return paginate(stmt, lambda c: c.to_dict())


@bp.post("/conflicts/<int:conflict_id>/restore")
@require_auth(*engine.RESTORE_ROLES)
def restore(conflict_id):
    rec = engine.restore_conflict(g.user, conflict_id)
    return {"entity": rec.entity, "id": rec.id, "version": rec.version, "deleted": rec.deleted, "data": rec.data}
