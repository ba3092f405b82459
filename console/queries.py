"""Console read models over the sync engine's records. Knows nothing of HTTP.

Every query is scoped with ``sync.scope.visible_clause``: the console shows a supervisor
exactly what their devices would pull, no more.
"""
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from server.clock import isoformat, utcnow
from server.errors import Invalid, NotFound
from server.extensions import db
from server.models import Enterprise, Jurisdiction, User
from server.models.jurisdiction import scope_prefix, valid_code
from sync import scope
from sync.models import SyncConflict, SyncRecord

# Entities a supervisor reviews or watches, in the order the console lists them.
QUEUE_TYPES = ("hazard", "inspection", "disaster_report", "field_report", "patrol")
# Statuses after which nothing is pending and a deadline no longer matters (English codes as
# the loops/field modules use them, and the Chinese words some devices send).
CLOSED_STATUSES = ("closed", "rejected", "dismissed", "cancelled", "archived", "销号", "已销号", "已关闭")
# A hazard's deadline counts only while its 处置单 runs (the loops module's OPEN_HAZARD).
OPEN_HAZARD = ("assigned", "rectifying")
# "waiting": what needs a supervisor now, per entity (the review module's WAITING).
WAITING = {"hazard": ("reported", "verified", "rectified", "reinspected"),
           "inspection": ("submitted", "under_review"),
           # Reports are watched rather than approved: every one that is not closed.
           "disaster_report": None, "field_report": None, "patrol": None}
# 红橙黄蓝, most urgent first; both the Chinese words and the English codes are in use.
RISK_ORDER = {"红": 0, "red": 0, "重大": 0, "major": 0, "橙": 1, "orange": 1, "黄": 2, "yellow": 2,
              "一般": 2, "general": 2, "蓝": 3, "blue": 3}
SORTS = {
    "updated": SyncRecord.updated_at.desc(),
    "-updated": SyncRecord.updated_at.asc(),
    "created": SyncRecord.created_at.desc(),
    "-created": SyncRecord.created_at.asc(),
    "deadline": SyncRecord.deadline.asc(),
    "-deadline": SyncRecord.deadline.desc(),
    "title": SyncRecord.title.asc(),
}


def overdue_clause(now, cols=SyncRecord):
    """Past its deadline and still open: hazards while the 处置单 runs, others until closed."""
    return and_(cols.deadline < now, or_(
        and_(cols.entity == "hazard", cols.status.in_(OPEN_HAZARD)),
        and_(cols.entity != "hazard", func.coalesce(cols.status, "").notin_(CLOSED_STATUSES))))


def _overdue(entity, status, deadline, now):
    if not deadline or deadline >= now:
        return False
    return status in OPEN_HAZARD if entity == "hazard" else (status or "") not in CLOSED_STATUSES


def is_overdue(rec, now):
    return _overdue(rec.entity, rec.status, rec.deadline, now)


def _waiting_clause(types):
    parts = []
    for t in types:
        statuses = WAITING.get(t)
        clause = (SyncRecord.status.in_(statuses) if statuses is not None
                  else func.coalesce(SyncRecord.status, "").notin_(CLOSED_STATUSES))
        parts.append(and_(SyncRecord.entity == t, clause))
    return or_(*parts) if parts else SyncRecord.id.is_(None)


def _risk_rank():
    return case(*[(SyncRecord.level == k, v) for k, v in RISK_ORDER.items()], else_=9)


def _parse_date(name, value, end=False):
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value[:10])
    except ValueError:
        raise Invalid(f"{name} 应为日期（如 2026-05-01）。", errors={name: ["日期格式不对"]}) from None
    return d + timedelta(days=1) if end else d


def queue_statement(user, *, types=None, status=None, overdue=False, level=None, enterprise_id=None,
                    jurisdiction=None, date_from=None, date_to=None, q=None, now=None):
    """The filtered queue (a select over SyncRecord, without order/limit)."""
    now = now or utcnow()
    types = [t for t in (types or QUEUE_TYPES) if t]
    unknown = set(types) - set(QUEUE_TYPES)
    if unknown:
        raise Invalid("未知的记录类型：" + "、".join(sorted(unknown)), errors={"type": list(QUEUE_TYPES)})
    stmt = select(SyncRecord).where(SyncRecord.entity.in_(types), SyncRecord.deleted.is_(False),
                                    scope.visible_clause(user))
    if status == "waiting":
        stmt = stmt.where(or_(_waiting_clause(types), overdue_clause(now)))
    elif status:
        stmt = stmt.where(SyncRecord.status.in_(status.split(",")))
    if overdue:
        stmt = stmt.where(overdue_clause(now))
    if level:
        stmt = stmt.where(SyncRecord.level.in_(level.split(",")))
    if enterprise_id:
        stmt = stmt.where(SyncRecord.enterprise_id == enterprise_id)
    if jurisdiction:
        if not valid_code(jurisdiction):
            raise Invalid("行政区划代码应为 12 位数字。", errors={"jurisdiction": ["12 位数字"]})
        stmt = stmt.where(SyncRecord.jurisdiction_code.startswith(scope_prefix(jurisdiction), autoescape=True))
    start, end = _parse_date("date_from", date_from), _parse_date("date_to", date_to, end=True)
    if start:
        stmt = stmt.where(SyncRecord.created_at >= start)
    if end:
        stmt = stmt.where(SyncRecord.created_at < end)
    if q:
        stmt = stmt.where(SyncRecord.title.contains(q, autoescape=True))
    return stmt


def order(stmt, sort):
    if sort == "risk":
        return stmt.order_by(_risk_rank(), SyncRecord.updated_at.desc())
    if sort not in SORTS:
        raise Invalid("未知的排序：" + str(sort), errors={"sort": sorted(list(SORTS) + ["risk"])})
    return stmt.order_by(SORTS[sort], SyncRecord.id)


def counts(stmt, now=None):
    """Facet counts of a filtered queue: by type, by status, by level, and how many are overdue.

    One grouped scan (entity, status, level) summed here, rather than a query per facet.
    """
    now = now or utcnow()
    sub = stmt.order_by(None).subquery()
    overdue = func.sum(case((overdue_clause(now, sub.c), 1), else_=0))
    out = {"type": {}, "status": {}, "level": {}, "overdue": 0, "total": 0}
    for entity, status, level, n, late in db.session.execute(
            select(sub.c.entity, sub.c.status, sub.c.level, func.count(), overdue)
            .group_by(sub.c.entity, sub.c.status, sub.c.level)):
        for key, value in (("type", entity), ("status", status), ("level", level)):
            value = value if value is not None else ""
            out[key][value] = out[key].get(value, 0) + n
        out["overdue"] += int(late or 0)
        out["total"] += n
    return out


def summary(rec: SyncRecord, names=None, now=None) -> dict:
    """One queue row: what a supervisor scans before opening the case."""
    now = now or utcnow()
    data = rec.data or {}
    loc = data.get("location") or {}
    review = data.get("review") or {}
    return {
        "entity": rec.entity, "id": rec.id, "version": rec.version, "title": rec.title or data.get("title"),
        "status": rec.status, "level": rec.level, "enterprise_id": rec.enterprise_id,
        "enterprise_name": (names or {}).get(rec.enterprise_id), "jurisdiction_code": rec.jurisdiction_code,
        "deadline": isoformat(rec.deadline), "occurred_at": isoformat(rec.occurred_at),
        "created_at": isoformat(rec.created_at), "updated_at": isoformat(rec.updated_at),
        "owner_id": rec.owner_id, "assignee_id": rec.assignee_id,
        "overdue": is_overdue(rec, now),
        "has_location": bool(loc.get("lat") is not None and loc.get("lon") is not None),
        "photos": len(data.get("photos") or []), "detections": len(data.get("detections") or []),
        "review_comment": review.get("comment"),
    }


def enterprise_names(ids):
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(ids))).all())


def record(user, entity, record_id) -> dict:
    """One record in full, with who wrote it and the conflict values kept for it."""
    rec = db.session.get(SyncRecord, record_id)
    if rec is None or rec.entity != entity or not scope.can_see(user, rec):
        raise NotFound("没有这条记录，或不在您的辖区内。")
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(
        {i for i in (rec.owner_id, rec.assignee_id, rec.created_by_id, rec.updated_by_id) if i})))}
    conflicts = db.session.scalars(select(SyncConflict).where(SyncConflict.record_id == rec.id)
                                   .order_by(SyncConflict.id.desc())).all()
    out = summary(rec, enterprise_names([rec.enterprise_id]))
    out.update({"deleted": rec.deleted, "data": rec.data, "updated_by_device": rec.updated_by_device,
                "people": {str(i): {"display_name": u.display_name, "role": u.role} for i, u in users.items()},
                "owner_name": users[rec.owner_id].display_name if rec.owner_id in users else None,
                "updater_name": users[rec.updated_by_id].display_name if rec.updated_by_id in users else None,
                "jurisdiction_name": db.session.scalar(select(Jurisdiction.name).where(
                    Jurisdiction.code == rec.jurisdiction_code)) if rec.jurisdiction_code else None,
                "conflicts": [c.to_dict() for c in conflicts]})
    return out


# ---- the map ------------------------------------------------------------------------------

MAP_LAYERS = ("hazard", "inspection", "field_report", "disaster_report", "patrol")


def map_layer(user, entity, *, open_only=False, now=None):
    """Compact points of one layer: ``[id, lat, lon, level, status, overdue]`` lists.

    Thousands of hazards travel as plain arrays (about 70 bytes a point) so the map draws them
    in one pass; the title and the rest come when a point is clicked. Coordinates are read
    with the database's JSON functions (json_extract / #>>), not by parsing every document in
    Python: that parse was most of the time with 10,000 hazards.
    """
    if entity not in MAP_LAYERS:
        raise NotFound(f"没有图层 {entity}。")
    now = now or utcnow()
    lat = SyncRecord.data[("location", "lat")].as_float()
    lon = SyncRecord.data[("location", "lon")].as_float()
    overdue = case((overdue_clause(now), 1), else_=0)
    level = func.coalesce(SyncRecord.level, SyncRecord.data[("risk_level",)].as_string())
    where = [SyncRecord.entity == entity, SyncRecord.deleted.is_(False), scope.visible_clause(user)]
    if open_only:
        where.append(func.coalesce(SyncRecord.status, "").notin_(CLOSED_STATUSES))
    points = [[rid, round(la, 6), round(lo, 6), lvl, status, bool(od)] for rid, la, lo, lvl, status, od in
              db.session.execute(select(SyncRecord.id, lat, lon, level, SyncRecord.status, overdue).where(*where))
              if la is not None and lo is not None]
    out = {"entity": entity, "points": points}
    if entity == "patrol":
        # Patrols are few and their tracks are the point: read the documents.
        out["tracks"] = [[rid, data["track"], title] for rid, data, title in db.session.execute(
            select(SyncRecord.id, SyncRecord.data, SyncRecord.title).where(*where)) if (data or {}).get("track")]
        have = {p[0] for p in points}
        out["points"] += [[rid, track[0][0], track[0][1], None, None, False] for rid, track, _ in out["tracks"]
                          if rid not in have and track and len(track[0]) >= 2]
    return out


def enterprises_layer(user):
    rows = db.session.scalars(select(Enterprise).where(
        Enterprise.jurisdiction_code.startswith(scope_prefix(user.jurisdiction_code)))).all()
    return {"entity": "enterprise", "points": [[e.id, e.lat, e.lon, e.risk_level, None, False, e.name]
                                               for e in rows if e.lat is not None and e.lon is not None]}


# ---- disaster events ----------------------------------------------------------------------
# The field module owns events, aggregation up the tree and lateness (/api/v1/disasters/...);
# the console adds the chain of reports of each place, which that API summarises away.

def event_chain(user, event_id):
    """Every report of one disaster event in ``user``'s scope, grouped by place, oldest first."""
    rows = db.session.scalars(select(SyncRecord).where(
        SyncRecord.entity == "disaster_report", SyncRecord.event_id == event_id, SyncRecord.deleted.is_(False),
        scope.visible_clause(user)).order_by(SyncRecord.created_at, SyncRecord.id)).all()
    if not rows:
        raise NotFound("没有这个灾害事件，或该事件不在您的辖区内。")
    names = dict(db.session.execute(select(Jurisdiction.code, Jurisdiction.name).where(
        Jurisdiction.code.in_({r.jurisdiction_code for r in rows if r.jurisdiction_code}))).all())
    places = {}
    for r in rows:
        d = r.data or {}
        places.setdefault(r.jurisdiction_code, []).append({
            "id": r.id, "stage": d.get("stage") or r.status, "version": r.version,
            "occurred_at": d.get("occurred_at"), "learned_at": d.get("learned_at"), "reported_at": d.get("reported_at"),
            "received_at": isoformat(r.created_at), "updated_at": isoformat(r.updated_at),
            "reporter_name": d.get("reporter_name"), "photos": len(d.get("photos") or []),
            "figures": {k: d.get(k) for k in DISASTER_INDICATORS}})
    return {"event_id": event_id, "places": [
        {"code": code, "name": names.get(code, code), "reports": chain} for code, chain in sorted(places.items(), key=lambda kv: kv[0] or "")]}


# The core indicators of a disaster report (field/CONTRACT.md).
DISASTER_INDICATORS = ("affected_population", "deaths", "missing", "injured", "relocated", "relief_needed",
                       "collapsed_households", "collapsed_rooms", "severely_damaged_rooms",
                       "generally_damaged_rooms", "crop_affected_ha", "crop_failed_ha", "direct_loss_wan_yuan")


def dashboard(user, now=None):
    """What the review module's /api/v1/stats/dashboard does not count: inspection items by
    result, inspections by status, disaster reports by stage, field reports by status."""
    base = select(SyncRecord.entity, SyncRecord.status, SyncRecord.data).where(
        SyncRecord.deleted.is_(False), SyncRecord.entity.in_(("inspection", "disaster_report", "field_report")),
        scope.visible_clause(user))
    items, insp, stages, field = {}, {}, {}, {}
    for entity, status, data in db.session.execute(base):
        data = data or {}
        if entity == "inspection":
            insp[status or ""] = insp.get(status or "", 0) + 1
            for it in data.get("items") or []:
                if it.get("result"):
                    items[it["result"]] = items.get(it["result"], 0) + 1
        elif entity == "disaster_report":
            stage = data.get("stage") or "initial"
            stages[stage] = stages.get(stage, 0) + 1
        else:
            field[status or ""] = field.get(status or "", 0) + 1
    return {"inspection_items_by_result": items, "inspections_by_status": insp,
            "disaster_reports_by_stage": stages, "field_reports_by_status": field}
