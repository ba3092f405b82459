"""Overdue 处置单 and escalation to the supervisors above (督办升级).

``sweep(now)`` finds hazards whose work order is running (assigned / rectifying) past its
deadline, flags them ``overdue`` and appends an escalation: the first goes to the supervisors
of the nearest jurisdiction above the hazard's that has any, and while the hazard stays
overdue each further ``LOOPS_ESCALATION_INTERVAL`` seconds it climbs one more level. Every
escalation is a ``server_write`` by the system, so devices see it on their next pull, the
audit log records it and push tells the people concerned.

Run it from cron / a scheduler with ``flask --app wsgi loops sweep`` or enqueue
``loops.escalation.sweep_job`` on the ``default`` RQ queue (e.g. with ``Queue.enqueue_in``).
"""
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from server.clock import utcnow
from server.extensions import db
from server.models import Jurisdiction, User
from server.models.jurisdiction import parent_code
from server.queue import job
from sync import engine
from sync.models import SyncRecord

from .workflow import OPEN_HAZARD


def _iso(dt):
    return dt.replace(microsecond=0).isoformat() + "Z"


def _parse(value):
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (dt - dt.utcoffset()).replace(tzinfo=None) if dt.tzinfo else dt


def supervisor_levels(code):
    """[(jurisdiction code, [supervisor ids])] for each jurisdiction strictly above ``code``
    that has active supervisors, nearest first."""
    out, current = [], parent_code(code) if code else None
    while current is not None:
        ids = db.session.scalars(select(User.id).where(User.jurisdiction_code == current, User.role == "supervisor",
                                                       User.active.is_(True)).order_by(User.id)).all()
        if ids:
            out.append((current, list(ids)))
        current = parent_code(current)
    return out


def next_escalation(data, now, *, by=None, reason=None):
    """The escalation entry after those in ``data``, or None when there is no level above."""
    done = data.get("escalations") or []
    levels = supervisor_levels(data.get("jurisdiction_code"))
    level = len(done) + 1
    if level > len(levels):
        return None
    code, ids = levels[level - 1]
    j = db.session.get(Jurisdiction, code)
    return {"level": level, "at": _iso(now), "to_jurisdiction": code, "to_user_ids": ids, "by": by,
            "reason": reason or f"处置单逾期未整改，升级至{j.name if j else code}督办"}


def sweep(now=None):
    """Flag overdue 处置单 and escalate them; returns counts. Safe to run as often as liked."""
    now = now or utcnow()
    interval = timedelta(seconds=current_app.config.get("LOOPS_ESCALATION_INTERVAL", 86400))
    ids = db.session.scalars(select(SyncRecord.id).where(
        SyncRecord.entity == "hazard", SyncRecord.deleted.is_(False), SyncRecord.status.in_(OPEN_HAZARD),
        SyncRecord.deadline < now).order_by(SyncRecord.deadline)).all()
    counts = {"overdue": len(ids), "flagged": 0, "escalated": 0}
    for record_id in ids:
        rec = db.session.get(SyncRecord, record_id)
        data = rec.data
        done = data.get("escalations") or []
        changes = {}
        if not data.get("overdue"):
            changes["overdue"] = True
            counts["flagged"] += 1
        last = _parse(done[-1]["at"]) if done else None
        if last is None or last + interval <= now:
            esc = next_escalation(data, now)
            if esc is not None:
                changes["escalations"] = done + [esc]
                counts["escalated"] += 1
        if changes:
            engine.server_write(None, "hazard", record_id, changes)
    db.session.commit()
    return counts


@job
def sweep_job():
    """RQ entry point: ``get_queue("default").enqueue(sweep_job)`` (or ``enqueue_in`` to repeat)."""
    return sweep()
