"""网格员巡查: patrols, their risk points (风险点) and plans (三级巡查).

* ``patrol_point``: a key place on a grid with its risk colour (红橙黄蓝) and a radius.
* ``patrol_plan``: which points a level patrols how often: 网格 daily, 乡镇 weekly, 县 monthly.
* ``patrol``: one walk with start/end, the GPS track, check-ins at points and findings.

The phone sends the whole track it holds as ``[[lat, lon, unix_seconds, accuracy?], ...]``;
the server drops fixes that are too inaccurate or physically impossible (GPS jumps),
computes distance, duration and dwell times from the cleaned fixes, then keeps a thinned
copy (Douglas-Peucker), so a day's track stays a few hundred points. A finding becomes a
``hazard`` record (source 'patrol') whose id is the finding's own id, so re-sending a
patrol never creates a second hazard.
"""
import logging
from flask import current_app
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from server.extensions import db
from sync import registry
from sync.models import SyncRecord

from . import geo
from .common import (RISK_COLOURS, LocationSchema, blob_list, check_location, jurisdiction_field, parse_dt)

log = logging.getLogger(__name__)

PATROL, POINT, PLAN = "patrol", "patrol_point", "patrol_plan"
LEVELS = {"grid": "网格", "township": "乡镇", "county": "县"}
FREQUENCIES = {"daily": "每日", "weekly": "每周", "monthly": "每月"}
# 三级巡查: the frequency each level owes when a plan does not say otherwise.
DEFAULT_FREQUENCY = {"grid": "daily", "township": "weekly", "county": "monthly"}
ONGOING, ENDED = "进行中", "已结束"
PLANNER_ROLES = frozenset({"supervisor", "admin"})
MAX_SPEED_MS = 50.0       # 180 km/h: faster between two fixes is a GPS jump, not a patrol
MAX_PATROL_S = 24 * 3600
MIN_STEP_M = 10.0         # distance counts moves of at least this much (standing jitter is not walking)
OFF_SITE_M = 200          # a check-in this far from its point is flagged


def _risk(required=False):
    return fields.String(required=required, allow_none=not required, validate=validate.OneOf(
        RISK_COLOURS, error="风险等级应为 红、橙、黄、蓝 之一"), metadata={"zh": "风险等级（红橙黄蓝）"})


# --------------------------------------------------------------------------- patrol_point

class PatrolPointSchema(Schema):
    """风险点 / 巡查点."""
    name = fields.String(required=True, validate=validate.Length(1, 100, error="名称应为 1 到 100 个字"),
                         metadata={"zh": "名称"})
    jurisdiction_code = jurisdiction_field(required=True)
    location = fields.Nested(LocationSchema, required=True, metadata={"zh": "坐标"})
    risk_level = _risk(required=True)
    category = fields.String(allow_none=True, validate=validate.Length(max=50),
                             metadata={"zh": "类别（地质灾害点、危化企业、河道、人员密集场所…）"})
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    radius_m = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(
        5, 2000, error="打卡半径应在 5 到 2000 米之间"), metadata={"zh": "打卡半径（米）"})
    enterprise_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    active = fields.Boolean(allow_none=True, load_default=None, metadata={"zh": "是否在用"})
    photos = blob_list("照片")


def promote_point(d):
    return {"jurisdiction_code": d.get("jurisdiction_code"), "level": d.get("risk_level"),
            "title": d.get("name"), "enterprise_id": d.get("enterprise_id"),
            "status": "inactive" if d.get("active") is False else "active"}


def check_point(ctx):
    if ctx.op != "upsert":
        return None
    errors = {}
    check_location(ctx.new.get("location"), errors)
    if errors:
        raise registry.Rejected(errors, 422)
    return None


# --------------------------------------------------------------------------- patrol_plan

class PatrolPlanSchema(Schema):
    """巡查计划 (三级巡查)."""
    title = fields.String(required=True, validate=validate.Length(1, 200, error="标题应为 1 到 200 个字"))
    level = fields.String(required=True, validate=validate.OneOf(list(LEVELS), error="巡查层级应为 grid（网格）、township（乡镇）或 county（县）"),
                          metadata={"zh": "巡查层级"})
    frequency = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(
        list(FREQUENCIES), error="频次应为 daily（每日）、weekly（每周）或 monthly（每月）"), metadata={"zh": "频次"})
    point_ids = fields.List(fields.String(validate=validate.Length(1, 36)), required=True,
                            validate=validate.Length(1, 500, error="计划应包含 1 到 500 个巡查点"), metadata={"zh": "巡查点"})
    jurisdiction_code = jurisdiction_field(required=True)
    assignee_id = fields.Integer(allow_none=True, metadata={"zh": "负责人"})
    active = fields.Boolean(allow_none=True, load_default=None)
    starts_on = fields.Date(allow_none=True, metadata={"zh": "开始日期"})
    status = fields.String(allow_none=True, validate=validate.Length(max=40))


def promote_plan(d):
    return {"jurisdiction_code": d.get("jurisdiction_code"), "level": d.get("level"), "title": d.get("title"),
            "assignee_id": d.get("assignee_id"), "status": "inactive" if d.get("active") is False else "active"}


def check_plan(ctx):
    if ctx.op != "upsert":
        return None
    d = ctx.new
    errors = {}
    ids = d.get("point_ids") or []
    if len(set(ids)) != len(ids):
        errors.setdefault("point_ids", []).append("巡查点有重复")
    points = _points(ids)
    missing = [i for i in ids if i not in points]
    if missing:
        errors.setdefault("point_ids", []).append(f"以下巡查点不存在或已删除：{'、'.join(missing[:5])}")
    from server.models.jurisdiction import covers
    outside = [p.data.get("name") for p in points.values() if not covers(d["jurisdiction_code"], p.jurisdiction_code)]
    if outside:
        errors.setdefault("point_ids", []).append(f"以下巡查点不在计划的辖区内：{'、'.join(outside[:5])}")
    if errors:
        raise registry.Rejected(errors, 422)
    if d.get("frequency") is None:
        return {"frequency": DEFAULT_FREQUENCY[d["level"]]}
    return None


# --------------------------------------------------------------------------- patrol

class CheckinSchema(Schema):
    point_id = fields.String(required=True, validate=validate.Length(1, 36), metadata={"zh": "巡查点"})
    at = fields.DateTime(required=True, metadata={"zh": "打卡时间（设备时间）"})
    location = fields.Nested(LocationSchema, allow_none=True)
    observed_risk_level = _risk()
    normal = fields.Boolean(allow_none=True, load_default=None, metadata={"zh": "是否正常"})
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
    photos = blob_list("照片")
    # Written by the server:
    distance_m = fields.Float(allow_none=True)
    off_site = fields.Boolean(allow_none=True)
    dwell_s = fields.Integer(allow_none=True)


class FindingSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(8, 36, error="发现问题的编号应为设备生成的 UUID"))
    title = fields.String(required=True, validate=validate.Length(1, 200, error="问题标题应为 1 到 200 个字"))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    location = fields.Nested(LocationSchema, allow_none=True)
    photos = blob_list("照片")
    risk_level = _risk()
    point_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    hazard_id = fields.String(allow_none=True)  # the server's: id of the hazard it created


class PatrolSchema(Schema):
    """网格员巡查."""
    title = fields.String(allow_none=True, validate=validate.Length(max=200))
    jurisdiction_code = jurisdiction_field()
    plan_id = fields.String(allow_none=True, validate=validate.Length(max=36), metadata={"zh": "巡查计划"})
    level = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(list(LEVELS)),
                          metadata={"zh": "巡查层级"})
    started_at = fields.DateTime(required=True, metadata={"zh": "开始时间"})
    ended_at = fields.DateTime(allow_none=True, metadata={"zh": "结束时间"})
    track = fields.List(fields.List(fields.Float(), validate=validate.Length(3, 4, error="轨迹点应为 [纬度, 经度, 时间戳(秒), 精度?]")),
                        allow_none=True, load_default=None,
                        validate=validate.Length(max=100000, error="轨迹点过多（超过 10 万个）"),
                        metadata={"zh": "轨迹 [[纬度, 经度, Unix 秒, 精度米?], …]，服务器抽稀后保存"})
    checkins = fields.List(fields.Nested(CheckinSchema), allow_none=True, load_default=None, metadata={"zh": "打卡"})
    findings = fields.List(fields.Nested(FindingSchema), allow_none=True, load_default=None, metadata={"zh": "发现问题"})
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))
    photos = blob_list("照片")
    # Computed by the server (a phone's values are replaced):
    status = fields.String(allow_none=True, validate=validate.Length(max=40))
    distance_m = fields.Float(allow_none=True, metadata={"zh": "里程（米）"})
    duration_s = fields.Integer(allow_none=True, metadata={"zh": "时长（秒）"})
    track_raw_points = fields.Integer(allow_none=True, metadata={"zh": "收到的原始轨迹点数"})
    track_dropped_points = fields.Integer(allow_none=True, metadata={"zh": "因精度差或漂移剔除的点数"})
    review = fields.Dict(allow_none=True)


def promote_patrol(d):
    return {"jurisdiction_code": d.get("jurisdiction_code"), "status": d.get("status"),
            "occurred_at": d.get("started_at"), "level": d.get("level") or "grid",
            "title": d.get("title") or "巡查"}


def _points(ids):
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(SyncRecord).where(
        SyncRecord.id.in_(set(ids)), SyncRecord.entity == POINT, SyncRecord.deleted.is_(False)))}


def clean_track(track, max_accuracy_m):
    """Sorted fixes without inaccurate ones and GPS jumps; returns (kept, dropped count)."""
    pts = sorted((p for p in track if -90 <= p[0] <= 90 and -180 <= p[1] <= 180
                  and not (abs(p[0]) < 1e-6 and abs(p[1]) < 1e-6)), key=lambda p: p[2])
    kept = []
    for p in pts:
        if len(p) > 3 and p[3] is not None and p[3] > max_accuracy_m:
            continue
        if kept:
            q = kept[-1]
            dt = p[2] - q[2]
            if dt <= 0:
                continue  # the same instant twice
            if geo.haversine_m(q[0], q[1], p[0], p[1]) / dt > MAX_SPEED_MS:
                continue
        kept.append(list(p))
    return kept, len(track) - len(kept)


def dwell_seconds(track, lat, lon, radius_m):
    """Time spent within ``radius_m`` of a point: consecutive fixes both inside count."""
    total, prev_inside = 0.0, None
    for p in track:
        inside = geo.haversine_m(lat, lon, p[0], p[1]) <= radius_m
        if inside and prev_inside is not None:
            total += p[2] - prev_inside[2]
        prev_inside = p if inside else None
    return int(round(total))


def check_patrol(ctx):
    if ctx.op != "upsert":
        return None
    d, cfg = ctx.new, current_app.config
    errors = {}
    started, ended = parse_dt(d.get("started_at")), parse_dt(d.get("ended_at"))
    if ended is not None and started is not None:
        if ended < started:
            errors.setdefault("ended_at", []).append("结束时间早于开始时间，请检查手机时间")
        elif (ended - started).total_seconds() > MAX_PATROL_S:
            errors.setdefault("ended_at", []).append("一次巡查超过 24 小时，是否忘记结束上一次巡查？请结束后重新开始")
    if d.get("plan_id"):
        plan = db.session.get(SyncRecord, d["plan_id"])
        if plan is None or plan.entity != PLAN or plan.deleted:
            errors.setdefault("plan_id", []).append("巡查计划不存在或已删除")
    checkins = [dict(c) for c in d.get("checkins") or []]
    points = _points([c["point_id"] for c in checkins])
    for i, c in enumerate(checkins):
        if c["point_id"] not in points:
            errors.setdefault("checkins", []).append(f"第 {i + 1} 个打卡的巡查点不存在或已删除")
        at = parse_dt(c.get("at"))
        if at is not None and started is not None and at < started:
            errors.setdefault("checkins", []).append(f"第 {i + 1} 个打卡时间早于巡查开始时间")
    for i, f in enumerate(d.get("findings") or []):
        if not f.get("photos") and not f.get("description"):
            errors.setdefault("findings", []).append(f"第 {i + 1} 个发现问题请至少拍一张照片或写明情况")
        check_location(f.get("location"), errors, "findings")
    if errors:
        raise registry.Rejected(errors, 422)

    out = {"status": ENDED if ended is not None else ONGOING,
           "duration_s": int((ended - started).total_seconds()) if ended and started else None}
    track = d.get("track") or []
    if "track" in ctx.changed:
        clean, dropped = clean_track(track, cfg["PATROL_MAX_ACCURACY_M"])
        keep = geo.douglas_peucker(clean, cfg["PATROL_TRACK_TOLERANCE_M"])
        thinned = [clean[i] for i in keep]
        out.update(distance_m=round(geo.moving_length_m(clean, MIN_STEP_M), 1), track=thinned,
                   track_raw_points=len(track), track_dropped_points=dropped)
        dwell_track = clean
    else:
        dwell_track = track
    if checkins and ("track" in ctx.changed or "checkins" in ctx.changed):
        for c in checkins:
            p = points[c["point_id"]]
            loc = p.data["location"]
            radius = p.data.get("radius_m") or cfg["PATROL_DWELL_RADIUS_M"]
            c["dwell_s"] = dwell_seconds(dwell_track, loc["lat"], loc["lon"], radius)
            if c.get("location"):
                dist = geo.haversine_m(loc["lat"], loc["lon"], c["location"]["lat"], c["location"]["lon"])
                c["distance_m"] = round(dist, 1)
                c["off_site"] = dist > max(OFF_SITE_M, radius)
        out["checkins"] = checkins
    if d.get("findings"):
        out["findings"] = [{**f, "hazard_id": f["id"]} for f in d["findings"]]
    return out


def create_hazards(et, rec, ctx):
    """after_apply: each new finding of a patrol becomes a hazard (id = the finding's id)."""
    if et.name != PATROL or rec.deleted or not rec.data.get("findings"):
        return
    hazard = registry.get("hazard")
    if hazard is None:  # the loops subsystem is not installed: nothing to create
        return
    from sync import engine
    declared = set(hazard.schema().fields)
    for f in rec.data["findings"]:
        if engine.get_record("hazard", f["id"]) is not None:
            continue
        data = {"title": f["title"], "description": f.get("description"), "location": f.get("location"),
                "photos": f.get("photos") or [], "source": "patrol", "source_id": rec.id,
                "risk_level": f.get("risk_level"), "reporter_id": ctx.user.id if ctx.user else None,
                "jurisdiction_code": rec.jurisdiction_code, "status": None}
        data = {k: v for k, v in data.items() if k in declared and v is not None}
        try:
            with db.session.begin_nested():
                engine.server_write(ctx.user, "hazard", f["id"], data, device_id=ctx.device_id,
                                    create=True, commit=False)
        except registry.Rejected as e:
            # The patrol itself stands; the finding stays in it for a supervisor to re-enter.
            log.warning("patrol %s: finding %s not turned into a hazard: %s", rec.id, f["id"], e.errors)


def register():
    registry.register(registry.EntityType(
        name=POINT, schema=PatrolPointSchema, promote=promote_point, check=check_point,
        workflow_fields=frozenset(), create_roles=frozenset({"grid_member", "supervisor", "admin"})))
    registry.register(registry.EntityType(
        name=PLAN, schema=PatrolPlanSchema, promote=promote_plan, check=check_plan,
        workflow_fields=frozenset(), create_roles=PLANNER_ROLES))
    registry.register(registry.EntityType(
        name=PATROL, schema=PatrolSchema, promote=promote_patrol, check=check_patrol,
        workflow_fields=frozenset({"review"}),
        create_roles=frozenset({"grid_member", "supervisor", "admin", "inspector"})))

