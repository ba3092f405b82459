"""What makes a notification: changes to synced records, seen by an ``after_apply`` hook.

| change | who is told | kind |
| --- | --- | --- |
| a hazard's ``assignee_id`` set or changed (处置单 assigned/reassigned) | the new assignee | assignment |
| an inspection ``returned``; a hazard ``rejected`` or sent back to ``rectifying`` | its reporter / assignee | case_returned |
| an inspection ``approved``; a hazard ``closed`` | its reporter | case_approved |
| a hazard's ``escalations`` grew (overdue 处置单) | the assignee and the supervisors escalated to | overdue |
| a document drafted, sent to 法制审核 or passed it (called by legal) | supervisors above | signature_needed |

Nobody is told about their own action. Notifications are queued when the transaction
commits (``after_commit``), so a rolled-back change never announces anything.
"""
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from server.queue import get_queue
from sync import registry

from . import delivery

log = logging.getLogger(__name__)
_PENDING = "danbing_push_pending"
_connected = False


def _later(session, user_ids, msg):
    user_ids = {u for u in user_ids if u is not None}
    if user_ids:
        session.info.setdefault(_PENDING, []).append((user_ids, msg))


def _flush(session):
    # No SQL may run in after_commit, so a job resolves recipients to subscriptions.
    pending = session.info.pop(_PENDING, None)
    for user_ids, msg in pending or ():
        try:
            get_queue("push").enqueue(delivery.notify_job, sorted(user_ids), msg, job_timeout=60)
        except Exception:  # Redis down: push is a nudge, the pull still carries the change
            log.exception("could not queue push %s for users %s", msg["kind"], sorted(user_ids))


def _drop(session):
    session.info.pop(_PENDING, None)


def _name(rec):
    return rec.data.get("title") or rec.title or ""


def on_applied(entity_type, rec, ctx):
    if ctx.op != "upsert" or ctx.new is None:
        return
    from server.extensions import db
    session = db.session()
    old, new = ctx.old or {}, ctx.new
    actor = getattr(ctx.user, "id", None)
    others = lambda ids: {i for i in ids if i is not None and i != actor}  # noqa: E731
    url = f"/#/{entity_type.name}/{rec.id}"
    status_changed = old.get("status") != new.get("status")
    status = new.get("status")

    if entity_type.name == "hazard":
        if new.get("assignee_id") and new.get("assignee_id") != old.get("assignee_id"):
            deadline = (new.get("work_order") or {}).get("deadline") or new.get("deadline") or ""
            _later(session, others([new["assignee_id"]]), delivery.message(
                "assignment", "新的处置单", f"{_name(rec)}" + (f"，整改期限 {deadline[:10]}" if deadline else ""),
                url, severity="high" if new.get("grade") == "major" else "normal", tag=f"hazard-{rec.id}"))
        if status_changed and status == "rejected":
            _later(session, others([rec.owner_id]), delivery.message(
                "case_returned", "隐患未予核实", _name(rec), url, tag=f"hazard-{rec.id}"))
        if status_changed and status == "rectifying" and old.get("status") == "reinspected":
            _later(session, others([new.get("assignee_id")]), delivery.message(
                "case_returned", "复查未通过，请继续整改", _name(rec), url, severity="high", tag=f"hazard-{rec.id}"))
        if status_changed and status == "closed":
            _later(session, others([rec.owner_id]), delivery.message(
                "case_approved", "隐患已销号", _name(rec), url, tag=f"hazard-{rec.id}"))
        grew = len(new.get("escalations") or []) > len(old.get("escalations") or [])
        if grew:
            last = new["escalations"][-1]
            _later(session, others([new.get("assignee_id"), *last.get("to_user_ids", [])]), delivery.message(
                "overdue", "处置单逾期，已升级督办", _name(rec), url, severity="high", tag=f"hazard-{rec.id}"))

    elif entity_type.name == "inspection" and status_changed:
        if status == "returned":
            comment = (new.get("review") or {}).get("comment") or ""
            _later(session, others([rec.owner_id]), delivery.message(
                "case_returned", "执法检查被退回", f"{_name(rec)} {comment}".strip(), url, tag=f"inspection-{rec.id}"))
        elif status == "approved":
            _later(session, others([rec.owner_id]), delivery.message(
                "case_approved", "执法检查已审核通过", _name(rec), url, tag=f"inspection-{rec.id}"))


def supervisors_covering(jurisdiction_code, exclude=()):
    """Ids of the active supervisors whose jurisdiction covers ``jurisdiction_code`` (the command above)."""
    from server.models import User
    from server.models.jurisdiction import covers
    if not jurisdiction_code:
        return set()
    rows = User.query.filter_by(role="supervisor", active=True).all()
    return {u.id for u in rows if covers(u.jurisdiction_code, jurisdiction_code) and u.id not in set(exclude)}


def notify_supervisors_after_commit(jurisdiction_code, msg, exclude=()):
    """Tell the supervisors above ``jurisdiction_code`` (documents waiting, serious detections)."""
    notify_after_commit(supervisors_covering(jurisdiction_code, exclude), msg)


def notify_after_commit(user_ids, msg):
    """For other modules (documents, vision): queue ``msg`` for when the current transaction commits."""
    from server.extensions import db
    _later(db.session(), set(user_ids), msg)


def connect():
    global _connected
    if _connected:  # module-level hooks: once per process, however many apps are made
        return
    _connected = True
    registry.after_apply.append(on_applied)
    event.listen(Session, "after_commit", _flush)
    event.listen(Session, "after_soft_rollback", lambda session, previous: _drop(session))
