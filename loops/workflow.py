"""Workflow rules of the two loops, enforced in the sync ``check`` hooks.

Every write of a ``hazard`` or ``inspection`` — pushed by a device or made by the review API
through ``sync.engine.server_write`` — passes through ``check_hazard`` / ``check_inspection``.
A status move that is not in the lifecycle is refused with 409; a move that exists but is not
this user's to make is refused with 403; missing inputs (comment, photos) with 422.

隐患 hazard::

    reported ─verify─> verified ─assign─> assigned ─> rectifying ─> rectified ─reinspect─> reinspected ─> closed
       └─reject─> rejected                     └──────────────────────^   ^──── fix failed ───┘

执法检查 inspection::

    draft ─> submitted ─> under_review ─> approved ─> documents_issued ─> closed
                 ^              └─> returned ─┘ (resubmit)

The system itself (``user is None``: the overdue sweep, vision) may write anything.
"""
from flask import current_app

from server.extensions import db
from server.models import User
from sync.registry import Rejected

from .entities import HAZARD_WORKFLOW as HAZARD_WORKFLOW_FIELDS
from .entities import HAZARD_STATUSES, INSPECTION_STATUSES, STATUS_NAMES, STATUS_NAMES_INSPECTION

REVIEWERS = frozenset({"supervisor", "admin"})
CHECKERS = frozenset({"supervisor", "admin", "inspector"})
ROLE_WORDS = {"supervisor": "审核人员", "admin": "管理员", "inspector": "执法人员"}
OPEN_HAZARD = ("assigned", "rectifying")  # a 处置单 is running: the deadline counts


def _iso(dt):
    return dt.replace(microsecond=0).isoformat() + "Z" if dt is not None else None


def _roles_text(roles):
    return "、".join(ROLE_WORDS.get(r, r) for r in sorted(roles))


def forbid(field, msg):
    raise Rejected({field: [msg]}, 403)


def conflict(field, msg):
    raise Rejected({field: [msg]}, 409)


def invalid(field, msg):
    raise Rejected({field: [msg]}, 422)


def is_legal_reviewer(user) -> bool:
    """法制审核: a supervisor (or admin) named in LOOPS_LEGAL_REVIEWERS or whose name says 法制."""
    if user is None or user.role not in REVIEWERS:
        return False
    names = current_app.config.get("LOOPS_LEGAL_REVIEWERS") or ()
    return user.username in names or "法制" in (user.display_name or "")


def _user(user_id):
    return db.session.get(User, user_id) if isinstance(user_id, int) else None


def _comment(doc):
    return ((doc.get("review") or {}).get("comment") or "").strip()


def _stamp_review(ctx, action, extra=None):
    review = dict(ctx.new.get("review") or {}) if "review" in ctx.changed else {}
    review.update({"action": action, "by": ctx.user.id if ctx.user else None, "at": _iso(ctx.now)})
    review.setdefault("comment", None)
    if extra:
        review.update(extra)
    return review


# --------------------------------------------------------------------------- hazard

def _hazard_name(status):
    return f"「{STATUS_NAMES.get(status, status)}」"


def _check_rejectable(ctx, old, new, add):
    if not _comment(new):
        invalid("review", "不予核实须填写理由（review.comment）。")


def _not_reporter(what):
    def rule(ctx, old, new, add):
        if ctx.user.id == old.get("reporter_id"):
            forbid("status", f"上报人不能{what}自己上报的隐患，须由他人{what}。")
    return rule


def _assign_rule(ctx, old, new, add):
    _check_work_order(new, add)


def _check_work_order(new, add):
    wo = new.get("work_order")
    if not wo:
        invalid("work_order", "派单须填写处置单：责任单位、责任人和整改期限（work_order）。")
    person = _user(wo.get("person_id"))
    if person is None or not person.active:
        invalid("work_order", "处置单的责任人不存在或已停用。")
    add["assignee_id"] = person.id


def _assignee_only(ctx, old, new, add):
    if ctx.user.id != old.get("assignee_id") and ctx.user.role != "admin":
        forbid("status", "只有处置单的责任人可以进行此操作。")


def _rectified_rule(ctx, old, new, add):
    _assignee_only(ctx, old, new, add)
    if not new.get("after_photos"):
        invalid("after_photos", "报告整改完成须上传整改后照片（after_photos）。")
    rect = dict(new.get("rectification") or {})
    rect.update({"by": ctx.user.id, "at": _iso(ctx.now)})
    add["rectification"] = rect
    add["overdue"] = False


def _reinspect_rule(ctx, old, new, add):
    if ctx.user.id == old.get("assignee_id"):
        forbid("status", "整改责任人不能复查自己的整改，须由审核人员或执法人员复查。")
    ri = new.get("reinspection") if "reinspection" in ctx.changed else None
    if not ri or not isinstance(ri.get("passed"), bool):
        invalid("reinspection", "复查须填写结论：reinspection.passed 为 true（通过）或 false（未通过）。")
    add["reinspection"] = {**ri, "by": ctx.user.id, "at": _iso(ctx.now)}


def _back_to_rectifying(ctx, old, new, add):
    if (old.get("reinspection") or {}).get("passed") is not False:
        conflict("status", "复查已通过，不能退回整改；如需重新整改请先复查为未通过。")


def _close_rule(ctx, old, new, add):
    _not_reporter("销号")(ctx, old, new, add)
    if (old.get("reinspection") or {}).get("passed") is not True:
        conflict("status", "复查未通过，不能销号。")
    add["closed_at"] = _iso(ctx.now)


def _start_rule(ctx, old, new, add):
    if ctx.user.role not in REVIEWERS:
        _assignee_only(ctx, old, new, add)


def _chain(*rules):
    def rule(ctx, old, new, add):
        for r in rules:
            r(ctx, old, new, add)
    return rule


# (from, to) -> (roles that may, extra rule, words for the move)
HAZARD_MOVES = {
    ("reported", "verified"): (CHECKERS, _not_reporter("核实"), "核实"),
    ("reported", "rejected"): (CHECKERS, _chain(_not_reporter("核实"), _check_rejectable), "不予核实"),
    ("verified", "assigned"): (REVIEWERS, _assign_rule, "派单"),
    ("assigned", "rectifying"): (None, _start_rule, "开始整改"),
    ("assigned", "rectified"): (None, _rectified_rule, "报告整改完成"),
    ("rectifying", "rectified"): (None, _rectified_rule, "报告整改完成"),
    ("rectified", "reinspected"): (CHECKERS, _reinspect_rule, "复查"),
    ("reinspected", "rectifying"): (CHECKERS, _back_to_rectifying, "退回整改"),
    ("reinspected", "closed"): (REVIEWERS, _close_rule, "销号"),
}
# Fields only the lifecycle moves fill (the hook stamps them).
HAZARD_STAMPED = ("reporter_id", "verified_at", "closed_at", "rectification", "reinspection")


def check_hazard(ctx):
    if ctx.op == "delete":
        if ctx.user is not None and ctx.user.role != "admin" and (ctx.old or {}).get("status") not in (None, "reported"):
            conflict("status", "隐患已进入处置流程，不能删除。")
        return None
    new, add = ctx.new, {}
    status = new.get("status")
    if status is not None and status not in HAZARD_STATUSES:
        invalid("status", f"未知的隐患状态 {status}，应为：{'、'.join(HAZARD_STATUSES)}")
    if ctx.old is None:
        if status not in (None, "reported") and ctx.user is not None:
            conflict("status", "新上报的隐患状态应为 reported（已上报），由审核人员核实后再进入处置流程。")
        if ctx.user is not None and (new.get("assignee_id") or new.get("work_order")):
            conflict("work_order", "上报时不能派单：隐患核实后由审核人员派发处置单。")
        add["status"] = status or "reported"
        add["reporter_id"] = ctx.user.id if ctx.user is not None else new.get("reporter_id")
        if not new.get("source"):
            add["source"] = "snapshot"
        return add
    if ctx.user is None:
        return _hazard_system(ctx, add)
    user, old = ctx.user, ctx.old
    before, after = old.get("status"), status
    if before != after:
        move = HAZARD_MOVES.get((before, after))
        if move is None:
            conflict("status", f"隐患不能从{_hazard_name(before)}直接变为{_hazard_name(after)}。")
        roles, rule, words = move
        if roles is not None and user.role not in roles:
            forbid("status", f"只有{_roles_text(roles)}可以{words}（当前状态{_hazard_name(before)}）。")
        rule(ctx, old, new, add)
        add["review"] = _stamp_review(ctx, after)
        if after == "verified":
            add["verified_at"] = _iso(ctx.now)
    else:
        for f in HAZARD_STAMPED:
            if f in ctx.changed:
                conflict(f, f"{f} 由状态流转自动填写，不能单独修改。")
    if {"assignee_id", "work_order"} & ctx.changed and (before, after) != ("verified", "assigned"):
        if user.role not in REVIEWERS:
            forbid("work_order", "只有审核人员可以派单或改派。")
        if after not in OPEN_HAZARD:
            conflict("work_order", f"隐患在{_hazard_name(after)}状态不能改派，只有已派单或整改中的处置单可以改派。")
        _check_work_order(new, add)
        add["overdue"] = False
    if "after_photos" in ctx.changed and user.role not in REVIEWERS and user.id != old.get("assignee_id"):
        forbid("after_photos", "整改后照片只能由处置单的责任人上传。")
    content = ctx.changed - HAZARD_WORKFLOW_FIELDS
    if content and before in ("closed", "rejected") and user.role not in REVIEWERS:
        conflict("status", f"隐患已{_hazard_name(before)}，内容不能再修改。")
    if {"escalations", "overdue"} & ctx.changed and user.role not in REVIEWERS:
        forbid("escalations", "只有审核人员可以督办升级。")
    if "review" in ctx.changed and before == after and user.role not in REVIEWERS:
        forbid("review", "审核意见只能由审核人员填写。")
    return add


def _hazard_system(ctx, add):
    """The server itself: the overdue sweep and vision write freely; keep assignee in step."""
    if "work_order" in ctx.changed and ctx.new.get("work_order"):
        add["assignee_id"] = ctx.new["work_order"].get("person_id")
    return add or None


# --------------------------------------------------------------------------- inspection

def _insp_name(status):
    return f"「{STATUS_NAMES_INSPECTION.get(status, status)}」"


def _is_inspector_of(user, doc, owner_id=None):
    ids = doc.get("inspector_ids") or []
    return user.id in ids


def _submit_rule(ctx, old, new, add):
    user = ctx.user
    if user.role != "inspector" or not _is_inspector_of(user, new):
        forbid("status", "只有本次检查的执法人员可以提交检查。")
    validate_submission(new)
    add["submitted_at"] = _iso(ctx.now)


def validate_submission(doc):
    """What a submitted inspection must hold; raises Rejected (422) listing every problem."""
    errors = {}
    ids = doc.get("inspector_ids") or []
    if len(set(ids)) != 2 or len(ids) != 2:
        errors["inspector_ids"] = ["执法检查须由两名执法人员进行（inspector_ids 填两名不同的执法人员）。"]
    else:
        for uid in ids:
            u = _user(uid)
            if u is None or u.role != "inspector" or not u.active:
                errors["inspector_ids"] = [f"用户 {uid} 不是在职的执法人员。"]
            elif not u.enforcement_id:
                errors["inspector_ids"] = [f"执法人员 {u.display_name} 没有执法证号，不能参与执法检查。"]
    items = doc.get("items") or []
    if not items:
        errors["items"] = ["检查表为空：请选择检查表模板（template）或填写检查项。"]
    missing = [i["code"] for i in items if not i.get("result")]
    if missing:
        errors["items"] = [f"以下检查项没有检查结果：{'、'.join(missing[:10])}" + ("等" if len(missing) > 10 else "")]
    bad = [i["code"] for i in items if i.get("result") == "不合格" and not i.get("evidence")]
    if bad:
        errors.setdefault("items", []).append(f"不合格项须附证据照片：{'、'.join(bad[:10])}")
    no_ev = [f["id"] for f in (doc.get("findings") or []) if not f.get("evidence")]
    if no_ev:
        errors["findings"] = [f"违法行为须关联证据：{'、'.join(no_ev[:10])}"]
    if errors:
        raise Rejected(errors, 422)


def _return_rule(ctx, old, new, add):
    if "review" not in ctx.changed or not _comment(new):
        invalid("review", "退回须填写退回意见（review.comment）。")


def _approve_rule(ctx, old, new, add):
    if new.get("major"):
        lr = old.get("legal_review") or {}
        if lr.get("result") != "通过":
            conflict("legal_review", "重大执法决定须先通过法制审核，才能审批。")
        if lr.get("by") == ctx.user.id:
            forbid("legal_review", "法制审核人与审批人不能是同一人，请由另一名审核人员审批。")
    add["approved_at"] = _iso(ctx.now)


def _issued_rule(ctx, old, new, add):
    if ctx.user.role == "inspector" and not _is_inspector_of(ctx.user, old):
        forbid("status", "只有本次检查的执法人员或审核人员可以登记文书送达。")


def _close_inspection(ctx, old, new, add):
    add["closed_at"] = _iso(ctx.now)


def _noop(ctx, old, new, add):
    return None


INSPECTION_MOVES = {
    ("draft", "submitted"): (frozenset({"inspector"}), _submit_rule, "提交检查"),
    ("returned", "submitted"): (frozenset({"inspector"}), _submit_rule, "重新提交"),
    ("submitted", "under_review"): (REVIEWERS, _noop, "受理审核"),
    ("under_review", "approved"): (REVIEWERS, _approve_rule, "审批通过"),
    ("under_review", "returned"): (REVIEWERS, _return_rule, "退回"),
    ("approved", "documents_issued"): (CHECKERS, _issued_rule, "登记文书送达"),
    ("documents_issued", "closed"): (REVIEWERS, _close_inspection, "结案"),
}
INSPECTION_STAMPED = ("submitted_at", "approved_at", "closed_at")
EDITABLE = ("draft", "returned")


def template_items(code):
    from legal import checklists
    from server.errors import NotFound
    try:
        t = checklists.get_template(code)
    except NotFound:
        invalid("template", f"没有检查表模板 {code}。")
    return [{"code": i["code"], "title": i["text"], "category": i.get("category"), "result": None,
             "evidence": [], "note": None} for i in t["items"]]


def check_inspection(ctx):
    if ctx.op == "delete":
        if ctx.user is not None and ctx.user.role != "admin" and (ctx.old or {}).get("status") != "draft":
            conflict("status", "只有草稿状态的检查可以删除。")
        return None
    new, add, user = ctx.new, {}, ctx.user
    status = new.get("status")
    if status is not None and status not in INSPECTION_STATUSES:
        invalid("status", f"未知的检查状态 {status}，应为：{'、'.join(INSPECTION_STATUSES)}")
    if "template" in ctx.changed and new.get("template") and not new.get("items"):
        add["items"] = template_items(new["template"])
        new = {**new, **add}
    if ctx.old is None:
        if user is not None and status not in (None, "draft", "submitted"):
            conflict("status", "新建的检查应为草稿（draft）或直接提交（submitted）。")
        if user is not None and not new.get("inspector_ids") and user.role == "inspector":
            add["inspector_ids"] = [user.id]
            new = {**new, **add}
        for f in ("review", "legal_review") + INSPECTION_STAMPED:
            if user is not None and new.get(f):
                conflict(f, f"{f} 由审核流程填写，新建时不能填写。")
        add["status"] = status or "draft"
        if add["status"] == "submitted" and user is not None:
            if user.role != "inspector" or user.id not in (new.get("inspector_ids") or []):
                forbid("status", "只有本次检查的执法人员可以提交检查。")
            validate_submission(new)
            add["submitted_at"] = _iso(ctx.now)
        return add
    if user is None:
        return add or None
    old = ctx.old
    before, after = old.get("status"), status
    content = ctx.changed - {"status", "review", "legal_review", "assignee_id", "escalations", *INSPECTION_STAMPED}
    if content and before not in EDITABLE and after not in EDITABLE and user.role not in REVIEWERS:
        conflict("status", f"检查已{_insp_name(before)}，内容不能再修改（被退回后可修改）。")
    if content and user.role not in REVIEWERS and before in EDITABLE and not _is_inspector_of(user, old) \
            and not _is_inspector_of(user, new):
        forbid("items", "只有本次检查的执法人员可以修改检查内容。")
    if before != after:
        move = INSPECTION_MOVES.get((before, after))
        if move is None:
            conflict("status", f"检查不能从{_insp_name(before)}直接变为{_insp_name(after)}。")
        roles, rule, words = move
        if user.role not in roles:
            forbid("status", f"只有{_roles_text(roles)}可以{words}（当前状态{_insp_name(before)}）。")
        rule(ctx, old, {**new, **add}, add)
        add["review"] = _stamp_review(ctx, after)
    else:
        for f in INSPECTION_STAMPED:
            if f in ctx.changed:
                conflict(f, f"{f} 由状态流转自动填写，不能单独修改。")
        if "review" in ctx.changed and user.role not in REVIEWERS:
            forbid("review", "审核意见只能由审核人员填写。")
    if "legal_review" in ctx.changed:
        if not is_legal_reviewer(user):
            forbid("legal_review", "法制审核须由法制审核人员（法制科）进行。")
        if before not in ("submitted", "under_review") or before != after:
            conflict("legal_review", f"检查在{_insp_name(before)}状态不能进行法制审核，须在提交后、审批前。")
        lr = dict(new.get("legal_review") or {})
        if lr.get("result") not in ("通过", "退回"):
            invalid("legal_review", "法制审核结论应为 通过 或 退回（legal_review.result）。")
        if lr["result"] == "退回" and not (lr.get("opinion") or "").strip():
            invalid("legal_review", "法制审核退回须填写审核意见（legal_review.opinion）。")
        add["legal_review"] = {**lr, "by": user.id, "at": _iso(ctx.now)}
    if {"assignee_id", "escalations"} & ctx.changed and user.role not in REVIEWERS:
        forbid("assignee_id", "只有审核人员可以指派或督办。")
    return add or None
