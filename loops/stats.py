"""Numbers for the supervisor's dashboard, within the user's jurisdiction."""
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from server.clock import utcnow
from server.extensions import db
from server.models.jurisdiction import scope_prefix
from sync.models import SyncRecord

from .workflow import OPEN_HAZARD

CLOSED_HAZARD = ("closed", "rejected")


def _parse(v):
    if not v:
        return None
    dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return (dt - dt.utcoffset()).replace(tzinfo=None) if dt.tzinfo else dt


def dashboard(user, now=None, jurisdiction=None):
    now = now or utcnow()
    from .review import code_range
    prefix = scope_prefix(jurisdiction or user.jurisdiction_code)
    lo, hi = code_range(jurisdiction or user.jurisdiction_code)
    in_scope = (SyncRecord.deleted.is_(False), SyncRecord.jurisdiction_code.between(lo, hi))
    hazard = (SyncRecord.entity == "hazard", *in_scope)
    open_ = SyncRecord.status.notin_(CLOSED_HAZARD)
    overdue = (SyncRecord.status.in_(OPEN_HAZARD), SyncRecord.deadline < now)
    unit = SyncRecord.data["work_order"]["unit"].as_string()

    def grouped(*where, by):
        rows = db.session.execute(select(by, func.count()).where(*hazard, *where).group_by(by)).all()
        return {(k if k is not None else "未定"): n for k, n in rows}

    hazards = {
        "open_total": db.session.scalar(select(func.count()).where(*hazard, open_)),
        "overdue_total": db.session.scalar(select(func.count()).where(*hazard, *overdue)),
        "open_by_level": grouped(open_, by=SyncRecord.level),
        "overdue_by_level": grouped(*overdue, by=SyncRecord.level),
        "open_by_unit": grouped(open_, by=unit),
        "overdue_by_unit": grouped(*overdue, by=unit),
        "by_status": grouped(by=SyncRecord.status),
        "by_jurisdiction": grouped(open_, by=SyncRecord.jurisdiction_code),
    }
    closed = db.session.execute(select(SyncRecord.created_at, SyncRecord.data["closed_at"].as_string()).where(
        *hazard, SyncRecord.status == "closed")).all()
    durations = [(_parse(c) - created).total_seconds() for created, c in closed if c and _parse(c)]
    hazards["closed_total"] = len(durations)
    hazards["avg_hours_to_close"] = round(sum(durations) / len(durations) / 3600, 2) if durations else None

    per_inspector = defaultdict(lambda: {"inspections": 0, "by_status": defaultdict(int),
                                         "items": defaultdict(int), "findings": 0})
    insp_closed = []
    for rec in db.session.scalars(select(SyncRecord).where(SyncRecord.entity == "inspection", *in_scope)):
        d = rec.data or {}
        for uid in d.get("inspector_ids") or []:
            s = per_inspector[uid]
            s["inspections"] += 1
            s["by_status"][rec.status] += 1
            for it in d.get("items") or []:
                if it.get("result"):
                    s["items"][it["result"]] += 1
            s["findings"] += len(d.get("findings") or [])
        if rec.status == "closed" and _parse(d.get("closed_at")):
            insp_closed.append((_parse(d["closed_at"]) - rec.created_at).total_seconds())
    from server.models import User
    names = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(list(per_inspector))))} \
        if per_inspector else {}
    inspections = {
        "per_inspector": [{"user_id": uid, "name": names.get(uid), "inspections": s["inspections"],
                           "by_status": dict(s["by_status"]), "items": dict(s["items"]), "findings": s["findings"]}
                          for uid, s in sorted(per_inspector.items())],
        "closed_total": len(insp_closed),
        "avg_hours_to_close": round(sum(insp_closed) / len(insp_closed) / 3600, 2) if insp_closed else None,
    }
    return {"as_of": now.replace(microsecond=0).isoformat() + "Z", "jurisdiction_prefix": prefix,
            "hazards": hazards, "inspections": inspections}
