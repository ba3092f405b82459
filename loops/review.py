"""The supervisor's review: the queue, an item's detail, and the actions.

No HTTP here. Every action is a ``sync.engine.server_write`` (so devices learn of it on their
next pull, the audit log records it and push notifies); the workflow check hooks decide
whether it is allowed, and their ``Rejected`` is turned into a 403/409/422 DomainError whose
detail is the first (Chinese) message.
"""
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, text

from server.clock import isoformat, utcnow
from server.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from server.extensions import db
from server.models import User
from server.models.jurisdiction import covers, scope_prefix
from sync import engine, registry, scope
from sync.models import SyncRecord

from . import audit
from .entities import STATUS_NAMES, STATUS_NAMES_INSPECTION
from .escalation import next_escalation
from .workflow import OPEN_HAZARD

CASES = ("hazard", "inspection")
WAITING = {"hazard": ("reported", "verified", "rectified", "reinspected"),
           "inspection": ("submitted", "under_review")}
LEVEL_ORDER = {"红": 1, "橙": 2, "黄": 3, "蓝": 4, "重大": 1}
SORTS = {"created_at", "updated_at", "deadline", "level", "title", "status"}


def _domain_error(e):
    def first(v):
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            for x in v:
                m = first(x)
                if m:
                    return m
        if isinstance(v, dict):
            for k, x in v.items():
                m = first(x)
                if m:
                    return m if k in ("status", "_schema") or not isinstance(x, (list, dict)) else f"{k}：{m}"
        return None
    cls = {403: Forbidden, 404: NotFound, 409: Conflict}.get(e.status, Invalid)
    return cls(first(e.errors) or cls.title, errors=e.errors)


# --------------------------------------------------------------------------- queue

def queue_statement(user, *, types=None, statuses=None, overdue=None, levels=None, enterprise_id=None,
                    jurisdiction=None, date_from=None, date_to=None, sort="-created_at", now=None):
    """A select of SyncRecord rows for the review queue of ``user``'s jurisdiction.

    ``statuses`` None means "waiting for a supervisor" (see WAITING) plus running 处置单 that
    are overdue; ``["all"]`` means no status filter.
    """
    now = now or utcnow()
    types = [t for t in (types or CASES)]
    for t in types:
        if t not in CASES:
            raise BadRequest(f"type 应为 {' 或 '.join(CASES)}。")
    code = jurisdiction or user.jurisdiction_code
    if jurisdiction and not covers(user.jurisdiction_code, jurisdiction):
        raise Forbidden("只能查看本辖区及下级辖区的待办。")
    overdue_clause = and_(SyncRecord.status.in_(OPEN_HAZARD), SyncRecord.deadline < now)
    lo, hi = code_range(code)
    stmt = select(SyncRecord).where(
        SyncRecord.entity.in_(types) if len(types) > 1 else SyncRecord.entity == types[0],
        SyncRecord.deleted.is_(False), SyncRecord.jurisdiction_code.between(lo, hi))
    if statuses is None and overdue is not True:
        # Waiting for a supervisor, plus running 处置单 past their deadline. Hazard and
        # inspection statuses are distinct words, so one IN list serves the index.
        waiting = [s for t in types for s in WAITING[t]]
        if "hazard" in types and overdue is None:
            stmt = stmt.where(SyncRecord.status.in_(waiting + list(OPEN_HAZARD)),
                              or_(SyncRecord.status.notin_(OPEN_HAZARD), SyncRecord.deadline < now))
        else:
            stmt = stmt.where(SyncRecord.status.in_(waiting))
    elif statuses is not None and statuses != ["all"]:
        stmt = stmt.where(SyncRecord.status.in_(statuses))
    if overdue is True:
        stmt = stmt.where(overdue_clause)
    elif overdue is False:
        stmt = stmt.where(or_(SyncRecord.status.notin_(OPEN_HAZARD), SyncRecord.deadline.is_(None),
                              SyncRecord.deadline >= now))
    if levels:
        stmt = stmt.where(SyncRecord.level.in_(levels))
    if enterprise_id:
        stmt = stmt.where(SyncRecord.enterprise_id == enterprise_id)
    if date_from:
        stmt = stmt.where(SyncRecord.created_at >= date_from)
    if date_to:
        stmt = stmt.where(SyncRecord.created_at < date_to)
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS:
        raise BadRequest(f"sort 应为 {'、'.join(sorted(SORTS))} 之一（前加 - 为倒序）。")
    if key == "level":
        col = case(*[(SyncRecord.level == k, v) for k, v in LEVEL_ORDER.items()], else_=9)
    else:
        col = getattr(SyncRecord, key)
    order = col.desc() if desc else col.asc()
    if key == "deadline":
        order = order.nulls_last()
    return stmt.order_by(order, SyncRecord.id.desc() if desc else SyncRecord.id.asc())


def code_range(code):
    """Every 12-digit code under ``code``'s scope as a range (an index can use it; LIKE may not)."""
    prefix = scope_prefix(code)
    return prefix.ljust(12, "0"), prefix.ljust(12, "9")


def page(stmt, page_no, per_page, serialize):
    """One page and the total, in one index-only pass: the page's ids and ``count(*) OVER ()``
    come from the covering index; only the page's rows are then read whole."""
    if db.engine.dialect.name == "postgresql":
        # A short query over an index: worker start-up costs more than it saves.
        db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    got = db.session.execute(stmt.with_only_columns(SyncRecord.id, func.count().over().label("total"))
                             .limit(per_page).offset((page_no - 1) * per_page)).all()
    ids = [r[0] for r in got]
    if got:
        total = got[0][1]
    else:  # past the last page: count on its own
        total = db.session.scalar(select(func.count()).select_from(
            stmt.with_only_columns(SyncRecord.id).order_by(None).subquery()))
    rows = {r.id: r for r in db.session.scalars(select(SyncRecord).where(SyncRecord.id.in_(ids)))} if ids else {}
    return {"items": [serialize(rows[i]) for i in ids if i in rows], "page": page_no, "per_page": per_page,
            "total": total}


def is_overdue(rec, now=None):
    now = now or utcnow()
    return bool(rec.entity == "hazard" and rec.status in OPEN_HAZARD and rec.deadline is not None
                and rec.deadline < now)


def _status_name(rec):
    names = STATUS_NAMES_INSPECTION if rec.entity == "inspection" else STATUS_NAMES
    return names.get(rec.status, rec.status)


SUMMARY_FIELDS = {
    "hazard": ("risk_level", "grade", "handling", "category", "source", "work_order", "reporter_id", "overdue",
               "escalations"),
    "inspection": ("inspector_ids", "template", "major", "planned_at", "legal_review", "submitted_at"),
}


def summary(rec, now=None):
    d = rec.data or {}
    out = {"entity": rec.entity, "id": rec.id, "version": rec.version, "status": rec.status,
           "status_name": _status_name(rec), "title": rec.title, "level": rec.level,
           "deadline": isoformat(rec.deadline), "overdue": is_overdue(rec, now),
           "jurisdiction_code": rec.jurisdiction_code, "enterprise_id": rec.enterprise_id,
           "assignee_id": rec.assignee_id, "owner_id": rec.owner_id,
           "created_at": isoformat(rec.created_at), "updated_at": isoformat(rec.updated_at),
           "photos": (d.get("photos") or [])[:3]}
    for f in SUMMARY_FIELDS.get(rec.entity, ()):
        out[f] = d.get(f)
    return out


# --------------------------------------------------------------------------- detail

def get_case(user, entity, record_id):
    if entity not in CASES:
        raise NotFound(f"没有这类待办：{entity}（应为 hazard 或 inspection）。")
    rec = engine.get_record(entity, record_id)
    if rec is None or rec.deleted or not scope.can_see(user, rec):
        raise NotFound("没有这条记录，或不在您的可见范围内。")
    return rec


def evidence(rec):
    """Every blob the case refers to, with where it is used."""
    d, out = rec.data or {}, []

    def add(sha, where):
        if isinstance(sha, str):
            out.append({"sha256": sha, "where": where, "url": f"/api/v1/blobs/{sha}",
                        "thumb": f"/api/v1/blobs/{sha}?variant=thumb"})
    for f in ("photos", "after_photos", "voice_notes"):
        for sha in d.get(f) or []:
            add(sha, f)
    add(d.get("annotated_image"), "annotated_image")
    for it in d.get("items") or []:
        for sha in it.get("evidence") or []:
            add(sha, f"items.{it.get('code')}")
    for fnd in d.get("findings") or []:
        for sha in fnd.get("evidence") or []:
            add(sha, f"findings.{fnd.get('id')}")
    return out


def _names(ids):
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def detail(user, entity, record_id, now=None):
    rec = get_case(user, entity, record_id)
    history = [e.to_dict() for e in audit.entries(entity, rec.id)]
    conflicts = []
    if user.role in engine.RESTORE_ROLES:
        conflicts = [c.to_dict() for c in db.session.scalars(
            engine.list_conflicts(user, include_restored=True, record_id=rec.id))]
    d = rec.data or {}
    people = [rec.owner_id, rec.assignee_id, d.get("reporter_id"), *(d.get("inspector_ids") or []),
              *[h["actor_id"] for h in history]]
    return {**summary(rec, now), "data": d, "evidence": evidence(rec), "history": history,
            "audit": audit.verify(entity, rec.id), "conflicts": conflicts,
            "users": {str(k): v for k, v in _names(people).items()},
            "actions": available_actions(user, rec)}


def available_actions(user, rec):
    """The actions the review API would offer this user now (the hooks still decide)."""
    s, role = rec.status, user.role
    sup, checker = role in ("supervisor", "admin"), role in ("supervisor", "admin", "inspector")
    acts = []
    if rec.entity == "hazard":
        if s == "reported" and checker and (rec.data or {}).get("reporter_id") != user.id:
            acts += ["verify", "approve", "return"]
        if s == "verified" and sup:
            acts.append("assign")
        if s in OPEN_HAZARD and sup:
            acts += ["reassign", "escalate"]
        if s == "rectified" and checker and rec.assignee_id != user.id:
            acts += ["reinspect", "approve", "return"]
        if s == "reinspected" and checker:
            acts += ["return"] if (rec.data.get("reinspection") or {}).get("passed") is False else []
            if sup and (rec.data.get("reinspection") or {}).get("passed") and rec.data.get("reporter_id") != user.id:
                acts += ["approve", "close"]
    else:
        if s in ("submitted", "under_review") and sup:
            acts += ["approve", "return", "escalate"]
        if s in ("submitted", "under_review") and _legal(user):
            acts.append("legal-review")
        if s == "documents_issued" and sup:
            acts.append("close")
        if s not in ("closed",) and sup:
            acts += ["assign", "reassign"]
    return acts


def _legal(user):
    from .workflow import is_legal_reviewer
    return is_legal_reviewer(user)


# --------------------------------------------------------------------------- actions

ACTIONS = ("approve", "return", "assign", "reassign", "escalate", "legal-review", "verify", "reinspect", "close")


def _write(user, device_id, entity, record_id, changes):
    return engine.server_write(user, entity, record_id, changes, device_id=device_id, commit=False)


def act(user, device_id, entity, record_id, action, body):
    """Run one review action; returns the record. ``body`` is already validated."""
    rec = get_case(user, entity, record_id)
    if action not in ACTIONS:
        raise NotFound(f"没有这个操作：{action}。")
    fn = (HAZARD_ACTIONS if entity == "hazard" else INSPECTION_ACTIONS).get(action)
    if fn is None:
        raise Conflict(f"{'隐患' if entity == 'hazard' else '执法检查'}没有「{action}」这个操作。")
    try:
        out = fn(user, device_id, rec, body)
        db.session.commit()
        return out
    except registry.Rejected as e:
        db.session.rollback()
        raise _domain_error(e) from None
    except BaseException:
        db.session.rollback()
        raise


def _review(body, **extra):
    r = {"comment": (body.get("comment") or "").strip() or None}
    r.update(extra)
    return r


def _status_conflict(rec, action):
    names = STATUS_NAMES_INSPECTION if rec.entity == "inspection" else STATUS_NAMES
    return Conflict(f"当前状态「{names.get(rec.status, rec.status)}」不能执行「{ACTION_NAMES[action]}」。")


ACTION_NAMES = {"approve": "审核通过", "return": "退回", "assign": "派单", "reassign": "改派", "escalate": "升级督办",
                "legal-review": "法制审核", "verify": "核实", "reinspect": "复查", "close": "销号/结案"}


def _h_verify(user, dev, rec, body):
    if rec.status != "reported":
        raise _status_conflict(rec, "verify")
    changes = {"status": "verified", "review": _review(body)}
    for f in ("risk_level", "grade", "handling"):
        if body.get(f):
            changes[f] = body[f]
    return _write(user, dev, "hazard", rec.id, changes)


def _h_approve(user, dev, rec, body):
    if rec.status == "reported":
        return _h_verify(user, dev, rec, body)
    if rec.status == "rectified":
        return _h_reinspect(user, dev, rec, {**body, "passed": True})
    if rec.status == "reinspected":
        return _h_close(user, dev, rec, body)
    raise _status_conflict(rec, "approve")


def _h_return(user, dev, rec, body):
    if not (body.get("comment") or "").strip():
        raise Invalid("退回须填写意见（comment）。", errors={"comment": ["退回须填写意见"]})
    if rec.status == "reported":
        return _write(user, dev, "hazard", rec.id, {"status": "rejected", "review": _review(body)})
    if rec.status == "rectified":
        return _h_reinspect(user, dev, rec, {**body, "passed": False})
    if rec.status == "reinspected":
        return _write(user, dev, "hazard", rec.id, {"status": "rectifying", "review": _review(body)})
    raise _status_conflict(rec, "return")


def _work_order(body):
    if body.get("person_id") is None or not body.get("unit") or body.get("deadline") is None:
        raise Invalid("派单须填写责任单位（unit）、责任人（person_id）和整改期限（deadline）。")
    person = db.session.get(User, body["person_id"])
    if person is None or not person.active:
        raise Invalid("责任人不存在或已停用。", errors={"person_id": ["责任人不存在或已停用"]})
    deadline = body["deadline"]
    wo = {"unit": body["unit"], "person_id": person.id,
          "deadline": deadline.isoformat() if isinstance(deadline, datetime) else deadline}
    if body.get("note"):
        wo["note"] = body["note"]
    return wo


def _h_assign(user, dev, rec, body, reassign=False):
    if (rec.status != "verified") if not reassign else (rec.status not in OPEN_HAZARD):
        raise _status_conflict(rec, "reassign" if reassign else "assign")
    wo = _work_order(body)
    changes = {"work_order": wo, "assignee_id": wo["person_id"], "review": _review(body)}
    if not reassign:
        changes["status"] = "assigned"
    if body.get("handling"):
        changes["handling"] = body["handling"]
    return _write(user, dev, "hazard", rec.id, changes)


def _h_reassign(user, dev, rec, body):
    return _h_assign(user, dev, rec, body, reassign=True)


def _h_reinspect(user, dev, rec, body):
    if rec.status != "rectified":
        raise _status_conflict(rec, "reinspect")
    if not isinstance(body.get("passed"), bool):
        raise Invalid("复查须给出结论 passed（true 通过 / false 未通过）。", errors={"passed": ["必填"]})
    comment = (body.get("comment") or "").strip() or None
    if not body["passed"] and not comment:
        raise Invalid("复查未通过须填写意见（comment）。", errors={"comment": ["复查未通过须填写意见"]})
    out = _write(user, dev, "hazard", rec.id, {"status": "reinspected",
                                               "reinspection": {"passed": body["passed"], "comment": comment}})
    if not body["passed"]:
        out = _write(user, dev, "hazard", rec.id, {"status": "rectifying", "review": _review(body)})
    return out


def _h_close(user, dev, rec, body):
    if rec.status != "reinspected":
        raise _status_conflict(rec, "close")
    return _write(user, dev, "hazard", rec.id, {"status": "closed", "review": _review(body)})


def _escalate(user, dev, rec, body):
    if user.role not in ("supervisor", "admin"):
        raise Forbidden("只有审核人员可以升级督办。")
    if rec.status in ("closed", "rejected"):
        raise _status_conflict(rec, "escalate")
    esc = next_escalation(rec.data, utcnow(), by=user.id, reason=(body.get("reason") or body.get("comment")
                                                                  or "审核人员提请上级督办"))
    if esc is None:
        raise Conflict("已是最高一级，没有更上级的审核人员可以升级督办。")
    return _write(user, dev, rec.entity, rec.id, {"escalations": (rec.data.get("escalations") or []) + [esc]})


def _claim(user, dev, rec):
    if rec.status == "submitted":
        return _write(user, dev, "inspection", rec.id, {"status": "under_review"})
    return rec


def _i_approve(user, dev, rec, body):
    if rec.status not in ("submitted", "under_review"):
        raise _status_conflict(rec, "approve")
    _claim(user, dev, rec)
    return _write(user, dev, "inspection", rec.id, {"status": "approved", "review": _review(body)})


def _i_return(user, dev, rec, body):
    if rec.status not in ("submitted", "under_review"):
        raise _status_conflict(rec, "return")
    if not (body.get("comment") or "").strip():
        raise Invalid("退回须填写退回意见（comment）。", errors={"comment": ["退回须填写意见"]})
    _claim(user, dev, rec)
    return _write(user, dev, "inspection", rec.id, {"status": "returned", "review": _review(body)})


def _i_legal(user, dev, rec, body):
    if rec.status not in ("submitted", "under_review"):
        raise _status_conflict(rec, "legal-review")
    return _write(user, dev, "inspection", rec.id, {"legal_review": {
        "result": body.get("result"), "opinion": (body.get("opinion") or body.get("comment") or "").strip() or None}})


def _i_assign(user, dev, rec, body):
    if rec.status == "closed":
        raise _status_conflict(rec, "assign")
    person = db.session.get(User, body.get("person_id")) if body.get("person_id") is not None else None
    if person is None or person.role != "inspector" or not person.active:
        raise Invalid("指派对象应为在职的执法人员（person_id）。", errors={"person_id": ["应为执法人员"]})
    return _write(user, dev, "inspection", rec.id, {"assignee_id": person.id, "review": _review(body)})


def _i_close(user, dev, rec, body):
    if rec.status != "documents_issued":
        raise _status_conflict(rec, "close")
    return _write(user, dev, "inspection", rec.id, {"status": "closed", "review": _review(body)})


HAZARD_ACTIONS = {"verify": _h_verify, "approve": _h_approve, "return": _h_return, "assign": _h_assign,
                  "reassign": _h_reassign, "reinspect": _h_reinspect, "close": _h_close, "escalate": _escalate}
INSPECTION_ACTIONS = {"approve": _i_approve, "return": _i_return, "legal-review": _i_legal, "assign": _i_assign,
                      "reassign": _i_assign, "close": _i_close, "escalate": _escalate}
