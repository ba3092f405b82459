"""Patrol coverage: which points of a plan (or of a jurisdiction) were visited in each period.

A point counts as visited in a period when a patrol has a check-in at it whose time (the
phone's ``at``: when the member stood there) falls in the period. For a plan, only patrols
of that plan count, or patrols without a plan of the plan's level (a grid member's daily
round does not fulfil the county's monthly one). Periods follow China Standard Time:
days, ISO weeks (from Monday) and calendar months. A period not yet over is ``open`` and
its unvisited points are ``pending``, not missed.
"""
from datetime import timedelta

from sqlalchemy import or_, select

from server.clock import utcnow
from server.errors import BadRequest, NotFound
from server.extensions import db
from server.models.jurisdiction import scope_prefix
from sync import scope
from sync.models import SyncRecord

from .common import from_cst, iso, parse_dt, to_cst
from .patrols import PATROL, PLAN, POINT

MAX_PERIODS = 400


def periods(frequency, start, end):
    """[(period start, period end)] in naive UTC covering [start, end), aligned in CST."""
    local = to_cst(start).replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "weekly":
        local -= timedelta(days=local.weekday())
    elif frequency == "monthly":
        local = local.replace(day=1)
    out = []
    while from_cst(local) < end:
        if frequency == "daily":
            nxt = local + timedelta(days=1)
        elif frequency == "weekly":
            nxt = local + timedelta(days=7)
        elif frequency == "monthly":
            nxt = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            nxt = None
        if nxt is None:
            return [(start, end)]
        out.append((from_cst(local), from_cst(nxt)))
        local = nxt
        if len(out) > MAX_PERIODS:
            raise BadRequest(f"时间范围过长：最多 {MAX_PERIODS} 个周期。")
    return out


def _visits(prefix, start, end, plan=None):
    """{point_id: [check-in times]} of patrols within ``prefix`` around [start, end)."""
    stmt = select(SyncRecord).where(
        SyncRecord.entity == PATROL, SyncRecord.deleted.is_(False),
        SyncRecord.jurisdiction_code.startswith(prefix, autoescape=True),
        SyncRecord.occurred_at >= start - timedelta(days=1), SyncRecord.occurred_at < end)
    if plan is not None:
        level = plan.data["level"]
        stmt = stmt.where(or_(SyncRecord.data["plan_id"].as_string() == plan.id,
                              SyncRecord.level == level))
    visits = {}
    for rec in db.session.scalars(stmt):
        if plan is not None and rec.data.get("plan_id") not in (None, plan.id):
            continue
        for c in rec.data.get("checkins") or []:
            at = parse_dt(c.get("at"))
            if at is not None and start <= at < end:
                visits.setdefault(c["point_id"], []).append(at)
    return visits


def coverage(viewer, *, start, end, plan_id=None, now=None):
    if end <= start:
        raise BadRequest("结束时间应晚于开始时间。")
    now = now or utcnow()
    if plan_id:
        plan = db.session.get(SyncRecord, plan_id)
        if plan is None or plan.entity != PLAN or plan.deleted or not scope.can_see(viewer, plan):
            raise NotFound("没有这个巡查计划，或不在您的辖区内。")
        ids = plan.data["point_ids"]
        points = {r.id: r for r in db.session.scalars(select(SyncRecord).where(
            SyncRecord.id.in_(ids), SyncRecord.entity == POINT, SyncRecord.deleted.is_(False)))}
        frequency, prefix = plan.data.get("frequency") or "daily", scope_prefix(plan.jurisdiction_code)
    else:
        plan, frequency = None, None
        prefix = scope_prefix(viewer.jurisdiction_code)
        points = {r.id: r for r in db.session.scalars(select(SyncRecord).where(
            SyncRecord.entity == POINT, SyncRecord.deleted.is_(False), SyncRecord.status == "active",
            SyncRecord.jurisdiction_code.startswith(prefix, autoescape=True)))}
    visits = _visits(prefix, start, end, plan)
    out_periods, missed_count = [], {}
    for ps, pe in periods(frequency, start, end):
        is_open = pe > now
        visited = sorted(pid for pid in points if any(ps <= t < pe for t in visits.get(pid, ())))
        rest = sorted(set(points) - set(visited))
        out_periods.append({"start": iso(ps), "end": iso(pe), "open": is_open, "visited": visited,
                            "missed": [] if is_open else rest, "pending": rest if is_open else []})
        if not is_open:
            for pid in rest:
                missed_count[pid] = missed_count.get(pid, 0) + 1
    closed = [p for p in out_periods if not p["open"]]
    due = len(closed) * len(points)
    done = sum(len(p["visited"]) for p in closed)
    return {
        "plan_id": plan_id, "frequency": frequency, "from": iso(start), "to": iso(end),
        "points": [{"id": pid, "name": p.data.get("name"), "risk_level": p.data.get("risk_level"),
                    "jurisdiction_code": p.jurisdiction_code,
                    "visits": len(visits.get(pid, ())), "periods_missed": missed_count.get(pid, 0)}
                   for pid, p in sorted(points.items(), key=lambda kv: kv[1].data.get("name") or "")],
        "missed_points": sorted(missed_count),
        "periods": out_periods,
        "coverage_rate": round(done / due, 4) if due else None,
    }
