"""The audit chain (执法全过程记录), overdue escalation on a controlled clock, the queue's filters."""
import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from loops import audit, escalation
from server.extensions import db
from sync import engine
from tests.conftest import SyncDevice, assert_problem

OP = SyncDevice.op
PHOTO = hashlib.sha256(b"p").hexdigest()


def _case(client, auth, device, demo):
    wangge = device("wangge")
    op = OP(data={"title": "消防通道堵塞", "photos": [PHOTO], "risk_level": "黄"})
    wangge.push(op)
    rid = op["id"]
    for action, body in (("verify", {}), ("assign", {"unit": "东关村村委会", "person_id": demo["wangge"].id,
                                                     "deadline": "2026-06-01T00:00:00Z"})):
        r = client.post(f"/api/v1/review/items/hazard/{rid}/{action}", headers=auth.headers("zhuren"), json=body)
        assert r.status_code == 200, r.get_json()
    # Another module (documents, media) appends to the same case.
    audit.append("hazard", rid, "document:issue", actor=demo["zhuren"], payload={"pdf_sha256": PHOTO})
    db.session.commit()
    return rid


def _verify(client, auth, rid):
    r = client.get(f"/api/v1/audit/hazard/{rid}/verify", headers=auth.headers("zhuren"))
    assert r.status_code == 200
    return r.get_json()


def test_chain_verifies_and_links(client, auth, device, demo, app):
    rid = _case(client, auth, device, demo)
    rows = audit.entries("hazard", rid)
    assert [e.seq for e in rows] == [1, 2, 3, 4] and rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    assert rows[2].payload["work_order"]["unit"] == "东关村村委会" and rows[3].action == "document:issue"
    assert _verify(client, auth, rid) == {"ok": True, "count": 4, "last_hash": rows[-1].hash}


def test_tampered_entry_is_detected(client, auth, device, demo):
    rid = _case(client, auth, device, demo)
    row = audit.entries("hazard", rid)[1]
    db.session.execute(text("UPDATE audit_entries SET actor_id = :a WHERE id = :id"),
                       {"a": demo["wangge"].id, "id": row.id})
    db.session.commit()
    db.session.expire_all()
    got = _verify(client, auth, rid)
    assert got["ok"] is False and got["broken_at"] == 2 and "篡改" in got["reason"]


def test_tampered_payload_even_with_rehash_is_detected(client, auth, device, demo):
    rid = _case(client, auth, device, demo)
    row = audit.entries("hazard", rid)[0]
    # A forger changes the payload and recomputes this entry's own hash: the next link breaks.
    payload = dict(row.payload, status="closed")
    h = audit.entry_hash(case_entity=row.case_entity, case_id=row.case_id, seq=row.seq, action=row.action,
                         actor_id=row.actor_id, device_id=row.device_id, at=row.at, payload=payload,
                         prev_hash=row.prev_hash)
    db.session.execute(text("UPDATE audit_entries SET payload = :p, hash = :h WHERE id = :id"),
                       {"p": __import__("json").dumps(payload), "h": h, "id": row.id})
    db.session.commit()
    db.session.expire_all()
    got = _verify(client, auth, rid)
    assert got["ok"] is False and got["broken_at"] == 2


def test_deleted_entries_are_detected(client, auth, device, demo):
    rid = _case(client, auth, device, demo)
    rows = audit.entries("hazard", rid)
    db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": rows[1].id})
    db.session.commit()
    got = _verify(client, auth, rid)
    assert got["ok"] is False and got["broken_at"] == 2 and "删除" in got["reason"]
    # Deleting the newest entry is caught by the chain head.
    rid2 = _case(client, auth, device, demo)
    last = audit.entries("hazard", rid2)[-1]
    db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": last.id})
    db.session.commit()
    db.session.expire_all()
    got = _verify(client, auth, rid2)
    assert got["ok"] is False and got["broken_at"] == 4


def test_verify_is_scoped(client, auth, device, demo):
    rid = _case(client, auth, device, demo)
    assert_problem(client.get(f"/api/v1/audit/hazard/{rid}/verify", headers=auth.headers("yuanshi")), 404)


# ---------------------------------------------------------------- escalation

def _assigned(demo, code="130131100201", deadline="2026-06-01T00:00:00"):
    rid = str(uuid.uuid4())
    engine.server_write(None, "hazard", rid, {
        "title": "危化品库房漏雨", "jurisdiction_code": code, "status": "assigned", "risk_level": "红",
        "reporter_id": demo["wangge"].id,
        "work_order": {"unit": "平山镇安监站", "person_id": demo["wangge"].id, "deadline": deadline}}, create=True)
    return rid


def test_overdue_work_orders_escalate_on_a_controlled_clock(app, client, auth, demo):
    now = [datetime(2026, 5, 31, 12, 0)]
    app.config["CLOCK"] = lambda: now[0]
    rid = _assigned(demo)
    on_time = _assigned(demo, deadline="2026-07-01T00:00:00")
    assert escalation.sweep() == {"overdue": 0, "flagged": 0, "escalated": 0}

    now[0] = datetime(2026, 6, 1, 0, 0, 1)
    assert escalation.sweep() == {"overdue": 1, "flagged": 1, "escalated": 1}
    rec = engine.get_record("hazard", rid)
    assert rec.data["overdue"] is True
    [esc] = rec.data["escalations"]
    # 东关村 -> 平山镇 has no supervisor -> the county's supervisors.
    assert esc["level"] == 1 and esc["to_jurisdiction"] == "130131000000"
    assert set(esc["to_user_ids"]) == {demo["zhuren"].id, demo["fazhi"].id}
    assert not engine.get_record("hazard", on_time).data.get("overdue")

    # Within the interval nothing more; the queue and dashboard show it overdue.
    now[0] += timedelta(hours=23)
    assert escalation.sweep()["escalated"] == 0
    q = client.get("/api/v1/review/queue?overdue=true", headers=auth.headers("zhuren")).get_json()
    assert [i["id"] for i in q["items"]] == [rid] and q["items"][0]["overdue"] is True
    stats = client.get("/api/v1/stats/dashboard", headers=auth.headers("zhuren")).get_json()
    assert stats["hazards"]["overdue_total"] == 1 and stats["hazards"]["overdue_by_level"] == {"红": 1}
    assert stats["hazards"]["overdue_by_unit"] == {"平山镇安监站": 1}

    # No level above the county has supervisors in the demo: nothing further to escalate to.
    now[0] += timedelta(days=2)
    assert escalation.sweep()["escalated"] == 0
    history = [e.action for e in audit.entries("hazard", rid)]
    assert history == ["create", "escalate"] and audit.entries("hazard", rid)[1].actor_id is None

    # Reassigning with a new deadline clears the flag (log in again: two days passed).
    auth.tokens.pop("zhuren")
    r = client.post(f"/api/v1/review/items/hazard/{rid}/reassign", headers=auth.headers("zhuren"),
                    json={"unit": "平山镇", "person_id": demo["wangge"].id, "deadline": "2026-07-01T00:00:00Z"})
    assert r.status_code == 200 and r.get_json()["data"]["overdue"] is False and r.get_json()["overdue"] is False


def test_escalation_climbs_one_level_per_interval(app, demo):
    from server.accounts import create_user
    create_user(username="zhen", password="Danbing@2026", role="supervisor", jurisdiction_code="130131100000")
    create_user(username="shi", password="Danbing@2026", role="supervisor", jurisdiction_code="130100000000")
    now = [datetime(2026, 6, 2)]
    app.config["CLOCK"] = lambda: now[0]
    rid = _assigned(demo)
    escalation.sweep()
    now[0] += timedelta(days=1)
    escalation.sweep()
    now[0] += timedelta(days=1)
    escalation.sweep()
    now[0] += timedelta(days=1)
    assert escalation.sweep()["escalated"] == 0
    levels = [(e["level"], e["to_jurisdiction"]) for e in engine.get_record("hazard", rid).data["escalations"]]
    assert levels == [(1, "130131100000"), (2, "130131000000"), (3, "130100000000")]


def test_sweep_cli_and_job(app, runner, demo):
    _assigned(demo)
    r = runner.invoke(args=["loops", "sweep", "--now", "2026-06-05T00:00:00Z"])
    assert r.exit_code == 0 and "升级督办 1 件" in r.output, r.output
    r = runner.invoke(args=["loops", "sweep", "--now", "yesterday"])
    assert r.exit_code != 0
    app.config["RQ_ASYNC"] = False
    from server.queue import get_queue
    job = get_queue("default").enqueue(escalation.sweep_job)
    assert job.return_value()["overdue"] >= 0


def test_manual_escalation_by_a_supervisor(client, auth, demo):
    rid = _assigned(demo)
    r = client.post(f"/api/v1/review/items/hazard/{rid}/escalate", headers=auth.headers("zhuren"),
                    json={"reason": "群众多次反映"})
    assert r.status_code == 200, r.get_json()
    esc = r.get_json()["data"]["escalations"][-1]
    assert esc["by"] == demo["zhuren"].id and esc["reason"] == "群众多次反映"
    assert_problem(client.post(f"/api/v1/review/items/hazard/{rid}/escalate", headers=auth.headers("zhuren"),
                               json={}), 409)  # no level above the county


# ---------------------------------------------------------------- queue filters

def test_queue_filters_sort_and_pages(app, client, auth, demo):
    now = [datetime(2026, 5, 1)]
    app.config["CLOCK"] = lambda: now[0]
    ids = {}
    for i, (level, code) in enumerate([("红", "130131100201"), ("橙", "130131101201"), ("黄", "130131100201"),
                                       ("蓝", "130131102201"), ("红", "130132100201")]):
        now[0] += timedelta(days=1)
        rid = str(uuid.uuid4())
        engine.server_write(None, "hazard", rid, {"title": f"隐患{i}", "jurisdiction_code": code, "risk_level": level,
                                                   "status": "reported", "enterprise_id": "e1" if i == 2 else None},
                            create=True)
        ids[i] = rid
    h = auth.headers("zhuren")

    def q(**args):
        r = client.get("/api/v1/review/queue", headers=h, query_string=args)
        assert r.status_code == 200, r.get_json()
        return r.get_json()
    body = q()
    assert body["total"] == 4 and [i["id"] for i in body["items"]] == [ids[3], ids[2], ids[1], ids[0]]
    assert {i["id"] for i in q(risk_level="红")["items"]} == {ids[0]}
    assert [i["id"] for i in q(sort="level")["items"]] == [ids[0], ids[1], ids[2], ids[3]]
    assert q(enterprise_id="e1")["total"] == 1
    assert q(jurisdiction="130131100000")["total"] == 2
    assert q(date_from="2026-05-02T12:00:00Z", date_to="2026-05-04T12:00:00Z")["total"] == 2
    page = q(per_page=3, page=2, sort="created_at")
    assert page["total"] == 4 and [i["id"] for i in page["items"]] == [ids[3]]
    assert q(type="inspection")["total"] == 0
    assert q(status="closed")["total"] == 0 and q(status="all")["total"] == 4
