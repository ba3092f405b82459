"""Every forbidden transition for every role is refused (403 not yours, 409 not in the lifecycle),
and every allowed one goes through; plus the same rules seen through the review API."""
import hashlib
import uuid

import pytest

from loops.entities import HAZARD_STATUSES, INSPECTION_STATUSES
from loops.workflow import HAZARD_MOVES, INSPECTION_MOVES
from server.extensions import db
from sync import engine, scope
from sync.registry import Rejected
from tests.conftest import assert_problem

PHOTO = hashlib.sha256(b"p").hexdigest()
USERS = ("wangge", "xinxi", "jiuyuan", "zhifa1", "zhifa2", "zhuren", "fazhi", "admin")

# Who may make each move. wangge reported the hazard, xinxi is the assignee (处置单 person).
HAZARD_ALLOWED = {
    ("reported", "verified"): {"zhifa1", "zhifa2", "zhuren", "fazhi", "admin"},
    ("reported", "rejected"): {"zhifa1", "zhifa2", "zhuren", "fazhi", "admin"},
    ("verified", "assigned"): {"zhuren", "fazhi", "admin"},
    ("assigned", "rectifying"): {"xinxi", "zhuren", "fazhi", "admin"},
    ("assigned", "rectified"): {"xinxi", "admin"},
    ("rectifying", "rectified"): {"xinxi", "admin"},
    ("rectified", "reinspected"): {"zhifa1", "zhifa2", "zhuren", "fazhi", "admin"},
    ("reinspected", "rectifying"): {"zhifa1", "zhifa2", "zhuren", "fazhi", "admin"},
    ("reinspected", "closed"): {"zhuren", "fazhi", "admin"},
}
# zhifa1 and zhifa2 are the inspection's two inspectors.
INSPECTION_ALLOWED = {
    ("draft", "submitted"): {"zhifa1", "zhifa2"},
    ("returned", "submitted"): {"zhifa1", "zhifa2"},
    ("submitted", "under_review"): {"zhuren", "fazhi", "admin"},
    ("under_review", "approved"): {"zhuren", "fazhi", "admin"},
    ("under_review", "returned"): {"zhuren", "fazhi", "admin"},
    ("approved", "documents_issued"): {"zhifa1", "zhifa2", "zhuren", "fazhi", "admin"},
    ("documents_issued", "closed"): {"zhuren", "fazhi", "admin"},
}


def test_the_tables_match_the_lifecycles():
    assert set(HAZARD_ALLOWED) == set(HAZARD_MOVES)
    assert set(INSPECTION_ALLOWED) == set(INSPECTION_MOVES)


def _hazard_at(demo, status):
    data = {"title": "液化气钢瓶露天存放", "jurisdiction_code": "130131100201", "status": status,
            "reporter_id": demo["wangge"].id, "photos": [PHOTO]}
    if status not in ("reported", "verified", "rejected"):
        data["work_order"] = {"unit": "东关村村委会", "person_id": demo["xinxi"].id, "deadline": "2026-06-01T00:00:00"}
        data["assignee_id"] = demo["xinxi"].id
    if status == "reinspected":
        data["reinspection"] = {"passed": True}
    rid = str(uuid.uuid4())
    engine.server_write(None, "hazard", rid, data, create=True)
    return rid


def _hazard_inputs(demo, before, to):
    changes = {"status": to, "review": {"comment": "意见"}}
    if to == "assigned":
        changes["work_order"] = {"unit": "东关村村委会", "person_id": demo["xinxi"].id, "deadline": "2026-06-01T00:00:00"}
    if to == "rectified":
        changes["after_photos"] = [PHOTO]
    if to == "reinspected":
        changes["reinspection"] = {"passed": True}
    return changes


def _attempt(user, entity, rid, changes):
    try:
        engine.server_write(user, entity, rid, changes)
        return 200
    except Rejected as e:
        db.session.rollback()
        return e.status


@pytest.mark.parametrize("before", HAZARD_STATUSES)
def test_every_hazard_transition_for_every_role(demo, before):
    for to in HAZARD_STATUSES:
        if to == before:
            continue
        for name in USERS:
            rid = _hazard_at(demo, before)
            if before == "reinspected" and to == "rectifying":
                engine.server_write(None, "hazard", rid, {"reinspection": {"passed": False}})
            got = _attempt(demo[name], "hazard", rid, _hazard_inputs(demo, before, to))
            allowed = HAZARD_ALLOWED.get((before, to))
            if not scope.can_see(demo[name], engine.get_record("hazard", rid)):
                assert got == 403, (name, before, to, got)  # not even in their sight
            elif allowed is None:
                assert got == 409, (name, before, to, got)
            elif name in allowed:
                assert got == 200, (name, before, to, got)
                assert engine.get_record("hazard", rid).status == to
            else:
                assert got == 403, (name, before, to, got)
                assert engine.get_record("hazard", rid).status == before


def test_the_reporter_may_not_verify_or_close_their_own_hazard(demo):
    rid = str(uuid.uuid4())
    engine.server_write(None, "hazard", rid, {"title": "t", "jurisdiction_code": "130131000000", "status": "reported",
                                               "reporter_id": demo["zhuren"].id}, create=True)
    assert _attempt(demo["zhuren"], "hazard", rid, {"status": "verified"}) == 403
    rid = _hazard_at(demo, "reinspected")
    engine.server_write(None, "hazard", rid, {"reporter_id": demo["zhuren"].id})
    assert _attempt(demo["zhuren"], "hazard", rid, {"status": "closed"}) == 403
    assert _attempt(demo["fazhi"], "hazard", rid, {"status": "closed"}) == 200


def test_closing_needs_a_passed_reinspection_and_the_assignee_cannot_reinspect(demo):
    rid = _hazard_at(demo, "reinspected")
    engine.server_write(None, "hazard", rid, {"reinspection": {"passed": False}})
    assert _attempt(demo["zhuren"], "hazard", rid, {"status": "closed"}) == 409
    rid = _hazard_at(demo, "rectified")
    engine.server_write(None, "hazard", rid, {"work_order": {"unit": "县局", "person_id": demo["zhifa1"].id,
                                                              "deadline": "2026-06-01T00:00:00"}})
    assert _attempt(demo["zhifa1"], "hazard", rid, {"status": "reinspected", "reinspection": {"passed": True}}) == 403


def _inspection_at(demo, status, major=False):
    items = [{"code": "hazchem-01", "title": "许可证", "result": "合格", "evidence": []},
             {"code": "hazchem-02", "title": "考核", "result": "不合格", "evidence": [PHOTO]}]
    data = {"title": "执法检查", "jurisdiction_code": "130131000000", "status": status, "major": major,
            "inspector_ids": [demo["zhifa1"].id, demo["zhifa2"].id], "items": items,
            "findings": [{"id": "f1", "description": "未经考核", "evidence": [PHOTO]}]}
    rid = str(uuid.uuid4())
    engine.server_write(None, "inspection", rid, data, create=True)
    return rid


@pytest.mark.parametrize("before", INSPECTION_STATUSES)
def test_every_inspection_transition_for_every_role(demo, before):
    for to in INSPECTION_STATUSES:
        if to == before:
            continue
        for name in USERS:
            rid = _inspection_at(demo, before)
            got = _attempt(demo[name], "inspection", rid, {"status": to, "review": {"comment": "意见"}})
            allowed = INSPECTION_ALLOWED.get((before, to))
            if not scope.can_see(demo[name], engine.get_record("inspection", rid)):
                assert got == 403, (name, before, to, got)
            elif allowed is None:
                assert got == 409, (name, before, to, got)
            elif name in allowed:
                assert got == 200, (name, before, to, got)
            else:
                assert got == 403, (name, before, to, got)


def test_major_inspection_needs_legal_review_by_another_supervisor(demo):
    rid = _inspection_at(demo, "under_review", major=True)
    assert _attempt(demo["zhuren"], "inspection", rid, {"status": "approved"}) == 409
    assert _attempt(demo["zhuren"], "inspection", rid, {"legal_review": {"result": "通过"}}) == 403
    assert _attempt(demo["fazhi"], "inspection", rid, {"legal_review": {"result": "通过"}}) == 200
    assert _attempt(demo["fazhi"], "inspection", rid, {"status": "approved"}) == 403
    assert _attempt(demo["zhuren"], "inspection", rid, {"status": "approved"}) == 200
    assert _attempt(demo["fazhi"], "inspection", rid, {"legal_review": {"result": "退回", "opinion": "晚了"}}) == 409


# The review API: each action by each role on an item in the right state.
API_CASES = [
    # (entity, state, action, body, {user: expected status})
    ("hazard", "reported", "verify", {}, {"wangge": 403, "xinxi": 404, "jiuyuan": 403, "zhifa1": 200, "zhuren": 200}),
    ("hazard", "reported", "return", {"comment": "非隐患"}, {"wangge": 403, "jiuyuan": 403, "zhuren": 200}),
    ("hazard", "verified", "assign", "WO", {"wangge": 403, "xinxi": 404, "zhifa1": 403, "zhuren": 200, "admin": 200}),
    ("hazard", "assigned", "reassign", "WO", {"xinxi": 403, "zhifa1": 403, "zhuren": 200}),
    ("hazard", "assigned", "escalate", {}, {"xinxi": 403, "zhifa1": 403, "wangge": 403}),
    ("hazard", "rectified", "reinspect", {"passed": True}, {"wangge": 403, "xinxi": 403, "jiuyuan": 403, "zhifa1": 200}),
    ("hazard", "reinspected", "close", {}, {"wangge": 403, "xinxi": 403, "zhifa1": 403, "jiuyuan": 403, "zhuren": 200}),
    ("hazard", "reported", "close", {}, {"zhuren": 409, "admin": 409}),
    ("hazard", "closed", "verify", {}, {"zhuren": 409}),
    ("hazard", "closed", "legal-review", {"result": "通过"}, {"fazhi": 409}),
    ("inspection", "submitted", "approve", {}, {"zhifa1": 403, "zhifa2": 403, "wangge": 404, "zhuren": 200}),
    ("inspection", "under_review", "return", {"comment": "补正"}, {"zhifa1": 403, "jiuyuan": 403, "fazhi": 200}),
    ("inspection", "under_review", "legal-review", {"result": "通过"}, {"zhifa1": 403, "zhuren": 403, "fazhi": 200}),
    ("inspection", "draft", "approve", {}, {"zhuren": 409}),
    ("inspection", "approved", "return", {"comment": "x"}, {"zhuren": 409}),
    ("inspection", "documents_issued", "close", {}, {"zhifa1": 403, "zhuren": 200}),
    ("inspection", "closed", "close", {}, {"zhuren": 409}),
    ("inspection", "submitted", "reinspect", {"passed": True}, {"zhuren": 409}),
]


@pytest.mark.parametrize("entity,state,action,body,expect", API_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in API_CASES])
def test_review_actions_by_role(client, auth, demo, entity, state, action, body, expect):
    for name, status in expect.items():
        rid = _hazard_at(demo, state) if entity == "hazard" else _inspection_at(demo, state)
        payload = body
        if body == "WO":
            payload = {"unit": "东关村村委会", "person_id": demo["xinxi"].id, "deadline": "2026-06-01T00:00:00Z"}
        r = client.post(f"/api/v1/review/items/{entity}/{rid}/{action}", headers=auth.headers(name), json=payload)
        if status == 200:
            assert r.status_code == 200, (name, r.get_data(as_text=True)[:400])
        else:
            problem = assert_problem(r, status)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"]), problem  # a Chinese message


def test_queue_and_dashboard_are_for_supervisors(client, auth, demo):
    for name in ("wangge", "zhifa1", "jiuyuan"):
        assert_problem(client.get("/api/v1/review/queue", headers=auth.headers(name)), 403)
        assert_problem(client.get("/api/v1/stats/dashboard", headers=auth.headers(name)), 403)
    assert_problem(client.get("/api/v1/review/queue?jurisdiction=130132000000", headers=auth.headers("zhuren")), 403)
    assert_problem(client.get("/api/v1/review/queue?sort=bogus", headers=auth.headers("zhuren")), 400)
    assert_problem(client.get("/api/v1/review/queue?overdue=perhaps", headers=auth.headers("zhuren")), 422)


def test_other_county_cannot_see_or_act(client, auth, demo):
    rid = _hazard_at(demo, "reported")
    assert_problem(client.get(f"/api/v1/review/items/hazard/{rid}", headers=auth.headers("yuanshi")), 404)
    assert_problem(client.post(f"/api/v1/review/items/hazard/{rid}/verify", headers=auth.headers("yuanshi"),
                               json={}), 404)


def test_after_photos_come_from_the_assignee_and_closed_hazards_are_frozen(demo):
    rid = _hazard_at(demo, "rectifying")
    assert _attempt(demo["wangge"], "hazard", rid, {"after_photos": [PHOTO]}) == 403
    assert _attempt(demo["xinxi"], "hazard", rid, {"after_photos": [PHOTO]}) == 200
    rid = _hazard_at(demo, "closed")
    assert _attempt(demo["wangge"], "hazard", rid, {"description": "改一下"}) == 409
    assert _attempt(demo["zhuren"], "hazard", rid, {"description": "补充说明"}) == 200
