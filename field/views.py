"""/api/v1/positions, /api/v1/disasters, /api/v1/patrols: thin views over the domain functions.

| method | path | who |
| --- | --- | --- |
| POST | /api/v1/positions | any member (their own device's fixes) |
| GET | /api/v1/positions/latest | own team + command above |
| GET | /api/v1/positions/track | own team + command above |
| GET | /api/v1/disasters/events | supervisors, admins |
| GET | /api/v1/disasters/events/<event_id>/summary | anyone, within their jurisdiction |
| POST | /api/v1/disasters/events/<event_id>/forward | county supervisors ({note, stage: 初报/续报/核报}) |
| GET | /api/v1/patrols/points, /api/v1/patrols/plans | anyone, within their jurisdiction |
| GET | /api/v1/patrols/coverage | anyone, within their jurisdiction |
"""
from datetime import timedelta

from flask import Blueprint, Response, g, request
from sqlalchemy import select

from server.api.pagination import paginate
from server.auth.decorators import require_auth
from server.clock import utcnow
from server.errors import BadRequest, Forbidden
from server.http import json_body
from sync import scope
from sync.models import SyncRecord

from . import coverage as coverage_mod, events, positions
from .common import parse_dt
from .patrols import PLAN, POINT

bp = Blueprint("field", __name__, url_prefix="/api/v1")


def _time_arg(name, default):
    v = request.args.get(name)
    if v is None or v == "":
        return default
    dt = parse_dt(v)
    if dt is None:
        raise BadRequest(f"{name} 应为 ISO 8601 时间，如 2026-07-20T08:00:00Z。")
    return dt


def _int_arg(name, default=None):
    v = request.args.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise BadRequest(f"{name} 必须是整数。") from None


# --------------------------------------------------------------------------- positions

@bp.post("/positions")
@require_auth()
def post_positions():
    body = json_body()
    if body.get("device_id") not in (None, g.device.device_id):
        raise Forbidden("device_id 与登录设备不一致：请用本设备的登录令牌上传本设备的定位。")
    fixes = body.get("fixes")
    if not isinstance(fixes, list):
        raise BadRequest("fixes 应为定位点列表。")
    return positions.ingest(g.user, g.device.id, fixes)


@bp.get("/positions/latest")
@require_auth()
def latest_positions():
    body = positions.latest_json(g.user, organisation_id=_int_arg("organisation_id"), max_age_s=_int_arg("max_age_s"))
    return Response(body, mimetype="application/json")


@bp.get("/positions/track")
@require_auth()
def position_track():
    user_id = _int_arg("user_id")
    if user_id is None:
        raise BadRequest("请给出 user_id。")
    end = _time_arg("to", utcnow())
    start = _time_arg("from", end - timedelta(hours=24))
    if end <= start:
        raise BadRequest("to 应晚于 from。")
    if end - start > timedelta(days=31):
        raise BadRequest("一次最多查询 31 天的轨迹。")
    return positions.track(g.user, user_id, start, end)


# --------------------------------------------------------------------------- disasters

@bp.get("/disasters/events")
@require_auth(*events.COMMAND_ROLES)
def disaster_events():
    return {"items": events.list_events(g.user, late_only=request.args.get("late") == "1")}


@bp.get("/disasters/events/<event_id>/summary")
@require_auth()
def disaster_summary(event_id):
    return events.summary(g.user, event_id, level=request.args.get("level", "county"))


@bp.post("/disasters/events/<event_id>/forward")
@require_auth(*events.COMMAND_ROLES)
def disaster_forward(event_id):
    body = json_body() if request.content_length else {}
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise BadRequest("note 应为 500 字以内的文字。")
    # stage: 初报 (default: the body {note} of old clients), 续报 (today's, China time) or 核报.
    return events.forward(g.user, event_id, note=note, stage=body.get("stage")), 201


# --------------------------------------------------------------------------- patrols

def _records(entity):
    stmt = select(SyncRecord).where(scope.visible_clause(g.user, entity), SyncRecord.deleted.is_(False))
    code = request.args.get("jurisdiction")
    if code:
        stmt = stmt.where(SyncRecord.jurisdiction_code.startswith(code.rstrip("0") or code, autoescape=True))
    return stmt


def _serialize(rec):
    return {"id": rec.id, "version": rec.version, "jurisdiction_code": rec.jurisdiction_code, **rec.data}


@bp.get("/patrols/points")
@require_auth()
def patrol_points():
    stmt = _records(POINT)
    if request.args.get("risk_level"):
        stmt = stmt.where(SyncRecord.level == request.args["risk_level"])
    return paginate(stmt.order_by(SyncRecord.jurisdiction_code, SyncRecord.title), _serialize, 200, 2000)


@bp.get("/patrols/plans")
@require_auth()
def patrol_plans():
    return paginate(_records(PLAN).order_by(SyncRecord.jurisdiction_code, SyncRecord.title), _serialize)


@bp.get("/patrols/coverage")
@require_auth()
def patrol_coverage():
    now = utcnow()
    end = _time_arg("to", now)
    start = _time_arg("from", end - timedelta(days=7))
    return coverage_mod.coverage(g.user, start=start, end=end, plan_id=request.args.get("plan_id"), now=now)
