"""The 初报 → 续报 → 核报 chain of each place within an event.

A phone that was offline pushes its 初报 and 续报 in one batch; the engine decides a batch
in memory before writing it, so the chain also looks at the reports accepted earlier in
the same unit of work (kept in ``db.session.info`` under the unit's server time and device).
"""
from sqlalchemy import select

from server.extensions import db
from sync import registry
from sync.models import SyncRecord

from .disasters import ENTITY, FINAL, INITIAL, UPDATE

_KEY = "field.disaster_chain"


def _pending(ctx):
    info = db.session.info.get(_KEY)
    if info is None or info["now"] is not ctx.now or info["device"] != ctx.device_id:
        info = db.session.info[_KEY] = {"now": ctx.now, "device": ctx.device_id, "rows": []}
    return info


def event_reports(event_id):
    """(jurisdiction_code, stage) of the stored, live reports of an event."""
    return db.session.execute(select(SyncRecord.jurisdiction_code, SyncRecord.status).where(
        SyncRecord.entity == ENTITY, SyncRecord.event_id == event_id, SyncRecord.deleted.is_(False))).all()


def chain_errors(ctx):
    """Raise Rejected (409) when a new report does not fit its event's chain."""
    d = ctx.new
    stage, event_id, code = d.get("stage"), d.get("event_id"), d.get("jurisdiction_code")
    pending = _pending(ctx)
    if event_id is None:
        if stage != INITIAL:
            raise registry.Rejected({"event_id": [f"{stage}须注明所属灾害事件（该灾害首份初报的编号）"]}, 422)
        pending["rows"].append((None, code, stage))
        return
    rows = [tuple(r) for r in event_reports(event_id)] + [
        (c, s) for e, c, s in pending["rows"] if e == event_id]
    stages_here = {s for c, s in rows if c == code}
    if stage == INITIAL:
        if INITIAL in stages_here:
            raise registry.Rejected({"stage": ["该地已就这次灾害报过初报，灾情变化请报续报"]}, 409)
    elif not rows:
        word = "续报" if stage == UPDATE else "核报"
        raise registry.Rejected({"event_id": [
            f"没有找到这份{word}所属的灾害事件：服务器上没有该事件的初报。请先报初报，或检查所选的灾害事件"]}, 409)
    elif INITIAL not in stages_here:
        msg = ("本地尚未就这次灾害报过初报，请先报初报" if stage == UPDATE
               else "核报前须先有初报：本地尚未就这次灾害报过初报")
        raise registry.Rejected({"stage": [msg]}, 409)
    elif FINAL in stages_here:
        msg = ("该地已核报，灾情已稳定，不能再续报；如需更正请联系审核人员修改核报" if stage == UPDATE
               else "该地已有核报，如需更正请修改原核报")
        raise registry.Rejected({"stage": [msg]}, 409)
    pending["rows"].append((event_id, code, stage))


def forget_pending(session, *args):
    """Session hook (after commit / rollback): the unit of work is over."""
    session.info.pop(_KEY, None)


def fill_event_id(et, rec, ctx):
    """after_apply: a 初报 without ``event_id`` starts a new event named by its own id."""
    if et.name != ENTITY or rec.deleted or rec.data.get("event_id") is not None:
        return
    rec.data = {**rec.data, "event_id": rec.id}
    rec.field_versions = {**rec.field_versions, "event_id": [rec.version, ctx.device_id]}
    rec.event_id = rec.id
