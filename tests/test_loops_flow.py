"""The 防范—核查 and 违法—监督 loops end to end through the API, with the demo users."""
import hashlib
import uuid

from sync import engine
from tests.conftest import SyncDevice, assert_problem

OP = SyncDevice.op


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def snapshot(**extra):
    return {"title": "配电箱未上锁", "description": "东关村南街配电箱箱门敞开，线路裸露",
            "category": "用电安全", "location": {"lat": 38.262, "lon": 114.201, "accuracy": 8},
            "photos": [sha("before-1")], "risk_level": "橙", "grade": "一般", "handling": "限期整改",
            "source": "snapshot", "device_time": "2026-05-01T08:30:00+08:00", **extra}


def act(client, auth, who, entity, rid, action, expect=200, **body):
    r = client.post(f"/api/v1/review/items/{entity}/{rid}/{action}", headers=auth.headers(who), json=body)
    if expect != 200:
        return assert_problem(r, expect)
    assert r.status_code == 200, r.get_data(as_text=True)[:800]
    return r.get_json()


def pulled(phone, rid):
    return [c for c in phone.pull_all() if c["id"] == rid][-1]


def test_hazard_snapshot_to_closed(client, auth, device, demo):
    wangge, xinxi, zhifa1 = device("wangge"), device("xinxi"), device("zhifa1")
    op = OP(data=snapshot())
    rid = op["id"]
    assert wangge.push(op)["results"][0]["status"] == "applied"
    rec = engine.get_record("hazard", rid)
    assert rec.status == "reported" and rec.data["reporter_id"] == demo["wangge"].id and rec.level == "橙"

    # The county supervisor sees it waiting in the queue.
    q = client.get("/api/v1/review/queue", headers=auth.headers("zhuren")).get_json()
    assert q["total"] == 1 and q["items"][0]["id"] == rid and q["items"][0]["status_name"] == "已上报"

    act(client, auth, "zhuren", "hazard", rid, "verify", comment="情况属实", risk_level="红")
    body = act(client, auth, "zhuren", "hazard", rid, "assign", unit="东关村村委会",
               person_id=demo["xinxi"].id, deadline="2026-06-01T00:00:00Z", comment="限期整改")
    assert body["status"] == "assigned" and body["assignee_id"] == demo["xinxi"].id
    assert body["data"]["work_order"]["unit"] == "东关村村委会" and body["level"] == "红"

    # The assignee (another village) now gets it on her next pull: the action was a synced change.
    change = pulled(xinxi, rid)
    assert change["data"]["status"] == "assigned" and change["data"]["work_order"]["person_id"] == demo["xinxi"].id
    version = change["version"]
    # Reporting rectification without after-photos is refused; with them it is applied.
    res = xinxi.push(OP(record_id=rid, base_version=version, data={"status": "rectified"}))["results"][0]
    assert res["status"] == "rejected" and "整改后照片" in res["errors"]["after_photos"][0]
    res = xinxi.push(OP(record_id=rid, base_version=version, data={
        "status": "rectified", "after_photos": [sha("after-1")], "rectification": {"note": "已加锁"}}))["results"][0]
    assert res["status"] == "applied", res

    # The reporter cannot re-inspect or close; an inspector re-inspects: not good enough.
    act(client, auth, "wangge", "hazard", rid, "reinspect", expect=403, passed=True)
    act(client, auth, "xinxi", "hazard", rid, "reinspect", expect=403, passed=True)
    body = act(client, auth, "zhifa1", "hazard", rid, "reinspect", passed=False, comment="线路仍裸露")
    assert body["status"] == "rectifying" and body["data"]["reinspection"]["passed"] is False
    change = pulled(xinxi, rid)
    assert change["data"]["status"] == "rectifying"
    res = xinxi.push(OP(record_id=rid, base_version=change["version"], data={
        "status": "rectified", "after_photos": [sha("after-1"), sha("after-2")]}))["results"][0]
    assert res["status"] == "applied", res
    body = act(client, auth, "zhifa1", "hazard", rid, "reinspect", passed=True, comment="整改到位")
    assert body["status"] == "reinspected"
    act(client, auth, "zhifa1", "hazard", rid, "close", expect=403)   # inspectors re-inspect, supervisors close
    body = act(client, auth, "zhuren", "hazard", rid, "close", comment="销号")
    assert body["status"] == "closed" and body["data"]["closed_at"]
    act(client, auth, "zhuren", "hazard", rid, "close", expect=409)

    # The reporter's phone learns the outcome; the whole history is in the audit chain.
    assert pulled(wangge, rid)["data"]["status"] == "closed"
    detail = client.get(f"/api/v1/review/items/hazard/{rid}", headers=auth.headers("zhuren")).get_json()
    actions = [h["action"] for h in detail["history"]]
    assert actions == ["create", "status:reported->verified", "status:verified->assigned",
                       "status:assigned->rectified", "status:rectified->reinspected",
                       "status:reinspected->rectifying", "status:rectifying->rectified",
                       "status:rectified->reinspected", "status:reinspected->closed"]
    assert detail["history"][0]["device_id"] == wangge.device_id
    assert detail["history"][3]["actor_id"] == demo["xinxi"].id
    assert {e["sha256"] for e in detail["evidence"]} == {sha("before-1"), sha("after-1"), sha("after-2")}
    assert detail["audit"]["ok"] is True and detail["audit"]["count"] == 9
    r = client.get(f"/api/v1/audit/hazard/{rid}/verify", headers=auth.headers("zhuren"))
    assert r.get_json() == {"ok": True, "count": 9, "last_hash": detail["history"][-1]["hash"]}

    stats = client.get("/api/v1/stats/dashboard", headers=auth.headers("zhuren")).get_json()
    assert stats["hazards"]["closed_total"] == 1 and stats["hazards"]["open_total"] == 0


def test_hazard_rejected_from_reported_needs_a_reason(client, auth, device, demo):
    wangge = device("wangge")
    op = OP(data=snapshot())
    wangge.push(op)
    body = act(client, auth, "zhuren", "hazard", op["id"], "return", expect=422)
    assert "意见" in body["detail"]
    body = act(client, auth, "zhuren", "hazard", op["id"], "return", comment="系正常施工围挡，不属隐患")
    assert body["status"] == "rejected" and body["data"]["review"]["comment"].startswith("系正常")
    act(client, auth, "zhuren", "hazard", op["id"], "assign", expect=409, unit="x", person_id=demo["xinxi"].id,
        deadline="2026-06-01T00:00:00Z")


def test_reassign_moves_the_work_order_and_the_old_assignee_loses_it(client, auth, device, demo):
    wangge, xinxi = device("wangge"), device("xinxi")
    op = OP(data=snapshot())
    wangge.push(op)
    act(client, auth, "zhuren", "hazard", op["id"], "verify")
    act(client, auth, "zhuren", "hazard", op["id"], "assign", unit="温塘村", person_id=demo["xinxi"].id,
        deadline="2026-06-01T00:00:00Z")
    assert pulled(xinxi, op["id"])["data"]["assignee_id"] == demo["xinxi"].id
    act(client, auth, "zhifa1", "hazard", op["id"], "reassign", expect=403, unit="县局", person_id=demo["jiuyuan"].id,
        deadline="2026-06-02T00:00:00Z")
    body = act(client, auth, "zhuren", "hazard", op["id"], "reassign", unit="平山县应急救援队",
               person_id=demo["jiuyuan"].id, deadline="2026-06-02T00:00:00Z")
    assert body["assignee_id"] == demo["jiuyuan"].id and body["status"] == "assigned"
    drop = pulled(xinxi, op["id"])
    assert drop["dropped"] is True
    history = [h["action"] for h in body["history"]]
    assert history[-1] == "assign"


def _new_inspection(zhifa1, demo, **extra):
    from server.models import Enterprise
    ent = Enterprise.query.filter_by(name="平山县华兴化工有限公司").one()
    op = OP(entity="inspection", data={"title": "华兴化工 2026 年第二季度执法检查", "enterprise_id": ent.id,
                                       "inspector_ids": [demo["zhifa1"].id, demo["zhifa2"].id],
                                       "template": "hazchem", "planned_at": "2026-05-10T09:00:00+08:00",
                                       "location": {"lat": 38.259, "lon": 114.186}, **extra})
    res = zhifa1.push(op)["results"][0]
    assert res["status"] == "applied", res
    return op["id"]


def _filled(rec):
    items = [dict(i, result="合格") for i in rec.data["items"]]
    items[0].update(result="不合格", evidence=[sha("ev-1")], note="许可证过期")
    items[1].update(result="不涉及")
    return {"items": items, "started_at": "2026-05-10T09:05:00+08:00", "finished_at": "2026-05-10T11:00:00+08:00",
            "findings": [{"id": str(uuid.uuid4()), "description": "危险化学品安全生产许可证已过期仍从事生产",
                          "evidence": [sha("ev-1")], "item_code": items[0]["code"]}]}


def test_inspection_submit_return_resubmit_approve_with_legal_review(client, auth, device, demo):
    zhifa1, zhifa2 = device("zhifa1"), device("zhifa2")
    rid = _new_inspection(zhifa1, demo, major=True)
    rec = engine.get_record("inspection", rid)
    assert rec.status == "draft" and len(rec.data["items"]) >= 10 and rec.data["items"][0]["code"] == "hazchem-01"

    # Submitting an unfilled checklist is refused with what is missing.
    res = zhifa1.push(OP(entity="inspection", record_id=rid, base_version=1, data={"status": "submitted"}))["results"][0]
    assert res["status"] == "rejected" and "没有检查结果" in res["errors"]["items"][0]
    res = zhifa1.push(OP(entity="inspection", record_id=rid, base_version=1,
                         data={**_filled(rec), "status": "submitted"}))["results"][0]
    assert res["status"] == "applied", res

    q = client.get("/api/v1/review/queue?type=inspection", headers=auth.headers("zhuren")).get_json()
    assert [i["id"] for i in q["items"]] == [rid] and q["items"][0]["major"] is True
    # After submission the inspectors cannot change the content any more.
    res = zhifa2.push(OP(entity="inspection", record_id=rid, base_version=2, data={"title": "改"}))["results"][0]
    assert res["status"] == "rejected" and "不能再修改" in res["errors"]["status"][0]

    act(client, auth, "zhifa2", "inspection", rid, "return", expect=403, comment="x")
    act(client, auth, "zhuren", "inspection", rid, "return", expect=422)
    body = act(client, auth, "zhuren", "inspection", rid, "return", comment="第 2 项应为不合格，请补充证据")
    assert body["status"] == "returned" and body["data"]["review"]["comment"].startswith("第 2 项")

    change = pulled(zhifa2, rid)
    assert change["data"]["status"] == "returned"
    items = change["data"]["items"]
    items[1].update(result="不合格", evidence=[sha("ev-2")])
    res = zhifa2.push(OP(entity="inspection", record_id=rid, base_version=change["version"],
                         data={"items": items, "status": "submitted"}))["results"][0]
    assert res["status"] == "applied", res

    # A major decision: approval needs 法制审核 first, by someone else than the approver.
    body = act(client, auth, "zhuren", "inspection", rid, "approve", expect=409)
    assert "法制审核" in body["detail"]
    assert engine.get_record("inspection", rid).status == "submitted"  # the failed approval left nothing
    act(client, auth, "zhuren", "inspection", rid, "legal-review", expect=403, result="通过")
    act(client, auth, "zhifa1", "inspection", rid, "legal-review", expect=403, result="通过")
    act(client, auth, "fazhi", "inspection", rid, "legal-review", expect=422, result="退回")
    body = act(client, auth, "fazhi", "inspection", rid, "legal-review", result="通过", opinion="事实清楚，依据正确")
    assert body["data"]["legal_review"]["by"] == demo["fazhi"].id
    body = act(client, auth, "fazhi", "inspection", rid, "approve", expect=403)
    assert "同一人" in body["detail"]
    body = act(client, auth, "zhuren", "inspection", rid, "approve", comment="同意")
    assert body["status"] == "approved" and body["data"]["approved_at"]

    # The inspectors' phones learn it; documents issued; the supervisor closes the case.
    change = pulled(zhifa1, rid)
    assert change["data"]["status"] == "approved"
    res = zhifa1.push(OP(entity="inspection", record_id=rid, base_version=change["version"],
                         data={"status": "documents_issued"}))["results"][0]
    assert res["status"] == "applied", res
    act(client, auth, "zhifa1", "inspection", rid, "close", expect=403)
    body = act(client, auth, "zhuren", "inspection", rid, "close")
    assert body["status"] == "closed"
    actions = [h["action"] for h in body["history"]]
    assert actions == ["create", "status:draft->submitted", "status:submitted->under_review",
                       "status:under_review->returned", "status:returned->submitted", "legal_review",
                       "status:submitted->under_review", "status:under_review->approved",
                       "status:approved->documents_issued", "status:documents_issued->closed"]
    assert body["audit"]["ok"] is True
    stats = client.get("/api/v1/stats/dashboard", headers=auth.headers("zhuren")).get_json()
    per = {p["user_id"]: p for p in stats["inspections"]["per_inspector"]}
    assert per[demo["zhifa1"].id]["by_status"] == {"closed": 1} and per[demo["zhifa2"].id]["items"]["不合格"] == 2


def test_an_inspection_needs_two_inspectors(client, auth, device, demo):
    zhifa1 = device("zhifa1")
    rid = _new_inspection(zhifa1, demo, inspector_ids=[demo["zhifa1"].id])
    rec = engine.get_record("inspection", rid)
    res = zhifa1.push(OP(entity="inspection", record_id=rid, base_version=1,
                         data={**_filled(rec), "status": "submitted"}))["results"][0]
    assert res["status"] == "rejected" and "两名执法人员" in res["errors"]["inspector_ids"][0]
    res = zhifa1.push(OP(entity="inspection", record_id=rid, base_version=1, data={
        **_filled(rec), "inspector_ids": [demo["zhifa1"].id, demo["wangge"].id], "status": "submitted"}))["results"][0]
    assert res["status"] == "rejected" and "不是在职的执法人员" in res["errors"]["inspector_ids"][0]


def test_non_major_inspection_is_approved_without_legal_review(client, auth, device, demo):
    zhifa1 = device("zhifa1")
    rid = _new_inspection(zhifa1, demo)
    rec = engine.get_record("inspection", rid)
    zhifa1.push(OP(entity="inspection", record_id=rid, base_version=1, data={**_filled(rec), "status": "submitted"}))
    body = act(client, auth, "zhuren", "inspection", rid, "approve")
    assert body["status"] == "approved"
    act(client, auth, "zhuren", "inspection", rid, "verify", expect=409)


def test_unknown_template_is_refused(device, demo):
    zhifa1 = device("zhifa1")
    res = zhifa1.push(OP(entity="inspection", data={"title": "x", "template": "nope"}))["results"][0]
    assert res["status"] == "rejected" and "nope" in res["errors"]["template"][0]


def test_detail_shows_conflicts_and_offers_actions(client, auth, device, demo):
    wangge, zhifa1 = device("wangge"), device("zhifa1")
    op = OP(data=snapshot())
    wangge.push(op)
    wangge.push(OP(record_id=op["id"], base_version=1, data={"description": "箱门锁已坏"}))
    res = zhifa1.push(OP(record_id=op["id"], base_version=1, data={"description": "箱门敞开"}))["results"][0]
    assert res["status"] == "conflict"
    body = client.get(f"/api/v1/review/items/hazard/{op['id']}", headers=auth.headers("zhuren")).get_json()
    assert [c["field"] for c in body["conflicts"]] == ["description"]
    assert set(body["actions"]) >= {"verify", "approve", "return"}
    assert body["users"][str(demo["wangge"].id)] == "刘网格（东关村）"
    mine = client.get(f"/api/v1/review/items/hazard/{op['id']}", headers=auth.headers("wangge")).get_json()
    assert mine["actions"] == [] and mine["conflicts"] == []
