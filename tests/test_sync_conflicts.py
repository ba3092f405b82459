"""Conflicts: disjoint edits merge, overlapping content takes the later edit, workflow fields
belong to the server and their roles, and every overwritten value is kept for supervisors
to see and restore."""
import functools
from sqlalchemy import func, select

from server.extensions import db
from sync import engine
from sync.models import SyncConflict, SyncRecord
from tests.conftest import SyncDevice, assert_problem

OP = functools.partial(SyncDevice.op, entity="probe")  # the engine's own test entity (conftest)


def hazard(title="配电箱未上锁", **extra):
    return {"title": title, "description": "东关村村委会门口", **extra}


def _record(rid):
    db.session.expire_all()
    return db.session.get(SyncRecord, rid)


def _conflicts():
    db.session.expire_all()
    return db.session.scalars(select(SyncConflict).order_by(SyncConflict.id)).all()


def _shared_record(device):
    """A hazard in the grid member's village, known at version 1 to her phone and the supervisor's."""
    wangge, zhuren = device("wangge"), device("zhuren")
    op = OP(data=hazard())
    wangge.push(op)
    wangge.pull_all(), zhuren.pull_all()
    return wangge, zhuren, op["id"]


def test_disjoint_field_edits_merge_without_a_conflict(device):
    wangge, zhuren, rid = _shared_record(device)
    a = zhuren.push(OP(record_id=rid, base_version=1, data={"description": "已通知村委会"}))["results"][0]
    b = wangge.push(OP(record_id=rid, base_version=1, data={"title": "配电箱未上锁（二号）"}))["results"][0]
    assert (a["status"], a["version"]) == ("applied", 2)
    assert (b["status"], b["version"], b["errors"]) == ("applied", 3, None)
    rec = _record(rid)
    assert rec.data["title"] == "配电箱未上锁（二号）" and rec.data["description"] == "已通知村委会"
    assert _conflicts() == []
    # Both phones converge on the merged document.
    for phone in (wangge, zhuren):
        [change] = phone.pull_all()
        assert change["version"] == 3 and change["data"] == rec.data


def test_overlapping_content_edit_takes_the_later_one_and_keeps_the_loser(device, demo):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"description": "主任的描述"}))
    op = OP(record_id=rid, base_version=1, data={"description": "网格员的描述"})
    result = wangge.push(op)["results"][0]
    assert result["status"] == "conflict" and result["version"] == 3
    assert "已存档" in result["errors"]["description"][0]
    assert _record(rid).data["description"] == "网格员的描述"  # the later edit (by server arrival)
    [c] = _conflicts()
    assert (c.field, c.overwritten, c.kept, c.rule) == ("description", "主任的描述", "网格员的描述", "later_edit_wins")
    assert (c.op_id, c.record_id, c.base_version, c.version) == (op["op_id"], rid, 1, 3)
    assert c.user_id == demo["wangge"].id and c.device_id == wangge.device_id


def test_the_same_device_editing_its_own_change_again_is_no_conflict(device):
    wangge, zhuren, rid = _shared_record(device)
    wangge.push(OP(record_id=rid, base_version=1, data={"description": "一改"}))
    # Still based on version 1 (offline, no pull in between): the device's own later edit.
    result = wangge.push(OP(record_id=rid, base_version=1, data={"description": "二改"}))["results"][0]
    assert result["status"] == "applied" and _conflicts() == []


def test_a_workflow_field_belongs_to_the_server_and_its_roles(device, demo):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"status": "verified"}))
    # The grid member, offline on version 1, marks it otherwise: the supervisor's value stays.
    result = wangge.push(OP(record_id=rid, base_version=1, data={"status": "closed", "description": "补充"}))["results"][0]
    assert result["status"] == "conflict" and set(result["errors"]) == {"status"}
    assert "服务器" in result["errors"]["status"][0]
    rec = _record(rid)
    assert rec.data["status"] == "verified" and rec.status == "verified"
    assert rec.data["description"] == "补充"  # the content field of the same op still merges
    [c] = _conflicts()
    assert (c.field, c.overwritten, c.kept, c.rule) == ("status", "closed", "verified", "workflow_server_wins")
    # The owning role's later overlapping edit wins like a content edit (and is kept too).
    wangge.push(OP(record_id=rid, base_version=rec.version, data={"review": {"note": "网格员"}}))
    result = zhuren.push(OP(record_id=rid, base_version=2, data={"review": {"note": "主任"}}))["results"][0]
    assert result["status"] == "conflict"
    assert _record(rid).data["review"] == {"note": "主任"}
    assert _conflicts()[-1].rule == "later_edit_wins"


def test_server_writes_win_without_conflicts(device, demo):
    wangge, zhuren, rid = _shared_record(device)
    rec = engine.server_write(demo["zhuren"], "probe", rid, {"status": "assigned", "description": "系统"})
    assert rec.version == 2 and _conflicts() == []
    result = wangge.push(OP(record_id=rid, base_version=1, data={"status": "closed"}))["results"][0]
    assert result["status"] == "conflict" and _record(rid).data["status"] == "assigned"


def test_a_stale_delete_still_deletes_but_keeps_the_document(device, demo):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"description": "主任补充"}))
    result = wangge.push(OP(record_id=rid, op="delete", base_version=1))["results"][0]
    assert result["status"] == "conflict" and result["version"] == 3
    assert _record(rid).deleted
    [c] = _conflicts()
    assert c.field == "*" and c.rule == "stale_delete" and c.overwritten["description"] == "主任补充"


def test_an_edit_to_a_record_deleted_on_the_server_is_kept_not_applied(device):
    wangge, zhuren, rid = _shared_record(device)
    wangge.push(OP(record_id=rid, op="delete", base_version=1))
    result = zhuren.push(OP(record_id=rid, base_version=1, data={"description": "晚到的修改"}))["results"][0]
    assert result["status"] == "conflict" and result["version"] == 2
    rec = _record(rid)
    assert rec.deleted and rec.version == 2
    [c] = _conflicts()
    assert (c.field, c.overwritten, c.rule) == ("*", {"description": "晚到的修改"}, "deleted_on_server")


def test_a_supervisor_lists_and_restores_an_overwritten_value(device, auth, client):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"description": "主任的描述"}))
    wangge.push(OP(record_id=rid, base_version=1, data={"description": "网格员的描述"}))
    wangge.pull_all(), zhuren.pull_all()
    sup = auth.headers("zhuren")
    body = client.get("/api/v1/sync/conflicts", headers=sup).get_json()
    assert body["total"] == 1
    [item] = body["items"]
    assert (item["record_id"], item["field"], item["overwritten"], item["kept"]) == (
        rid, "description", "主任的描述", "网格员的描述")
    assert client.get(f"/api/v1/sync/conflicts?record_id={rid}", headers=sup).get_json()["total"] == 1

    r = client.post(f"/api/v1/sync/conflicts/{item['id']}/restore", headers=sup)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["data"]["description"] == "主任的描述" and r.get_json()["version"] == 4
    # The restore is an ordinary change: every phone gets it on its next pull.
    for phone in (wangge, zhuren):
        [change] = phone.pull_all()
        assert change["version"] == 4 and change["data"]["description"] == "主任的描述"
    # Restored once; listed only with all=1, and marked.
    assert client.get("/api/v1/sync/conflicts", headers=sup).get_json()["total"] == 0
    [done] = client.get("/api/v1/sync/conflicts?all=1", headers=sup).get_json()["items"]
    assert done["restored_at"] and done["restored_by_id"] == zhuren.user_id
    assert_problem(client.post(f"/api/v1/sync/conflicts/{item['id']}/restore", headers=sup), 409)


def test_a_supervisor_restores_a_deleted_document(device, auth, client):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"description": "主任补充"}))
    wangge.push(OP(record_id=rid, op="delete", base_version=1))
    [c] = _conflicts()
    r = client.post(f"/api/v1/sync/conflicts/{c.id}/restore", headers=auth.headers("zhuren"))
    assert r.status_code == 200, r.get_json()
    rec = _record(rid)
    assert not rec.deleted and rec.version == 4 and rec.data["description"] == "主任补充"
    [change] = wangge.pull_all()
    assert change["deleted"] is False and change["data"]["description"] == "主任补充"


def test_only_supervisors_of_the_jurisdiction_see_and_restore_conflicts(device, auth, client):
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"description": "甲"}))
    wangge.push(OP(record_id=rid, base_version=1, data={"description": "乙"}))
    [c] = _conflicts()
    for username in ("wangge", "zhifa1"):
        assert_problem(client.get("/api/v1/sync/conflicts", headers=auth.headers(username)), 403)
        assert_problem(client.post(f"/api/v1/sync/conflicts/{c.id}/restore", headers=auth.headers(username)), 403)
    assert db.session.scalar(select(func.count()).select_from(SyncConflict).where(
        SyncConflict.restored_at.is_not(None))) == 0


def test_an_op_the_server_did_not_take_comes_back_with_the_servers_copy(device):
    """No new version is pulled for an op that changed nothing, so the push result itself
    carries the server's copy for the phone to replace its optimistic one."""
    wangge, zhuren, rid = _shared_record(device)
    zhuren.push(OP(record_id=rid, base_version=1, data={"status": "verified"}))
    lost = OP(record_id=rid, base_version=1, data={"status": "closed"})
    result = wangge.push(lost)["results"][0]
    assert result["status"] == "conflict" and result["version"] == 2
    current = result["current"]
    assert (current["id"], current["version"], current["deleted"]) == (rid, 2, False)
    assert current["data"]["status"] == "verified"
    # Not the owner, not a supervisor: the delete is refused and the record comes back.
    inspector = device("zhifa1")
    refused = OP(record_id=rid, op="delete", base_version=2)
    result = inspector.push(refused)["results"][0]
    assert result["status"] == "rejected" and result["current"]["data"]["status"] == "verified"
    again = inspector.push(refused)["results"][0]
    assert again["status"] == "duplicate" and again["original_status"] == "rejected"
    assert again["current"]["version"] == 2
    # Someone else's village: the phone is told to drop what it may not see.
    result = device("xinxi").push(OP(record_id=rid, base_version=2, data={"title": "改"}))["results"][0]
    assert result["status"] == "rejected"
    assert result["current"] == {"entity": "probe", "id": rid, "version": 2, "deleted": True, "data": None,
                                 "dropped": True}
    # An applied op needs no copy: its change comes with the next pull.
    assert "current" not in zhuren.push(OP(record_id=rid, base_version=2, data={"title": "新"}))["results"][0]
