"""Push: idempotent by op_id, per-op rejection, limits, envelope validation."""
import functools
import uuid

from sqlalchemy import func, select

from server.extensions import db
from sync.models import SyncOp, SyncRecord
from tests.conftest import SyncDevice, assert_problem

OP = functools.partial(SyncDevice.op, entity="probe")  # the engine's own test entity (conftest)


def hazard(title="配电箱未上锁", **extra):
    return {"title": title, "description": "东关村村委会门口配电箱", "location": {"lat": 38.26, "lon": 114.2}, **extra}


def test_push_creates_a_record_with_server_version_and_owner(device, demo):
    phone = device("wangge")
    op = OP(data=hazard())
    result = phone.push(op)["results"][0]
    assert result == {"op_id": op["op_id"], "status": "applied", "version": 1, "errors": None}
    rec = db.session.get(SyncRecord, op["id"])
    assert rec.entity == "probe" and rec.version == 1 and rec.owner_id == demo["wangge"].id
    # No jurisdiction given: the grid member's own village.
    assert rec.jurisdiction_code == "130131100201" and rec.data["jurisdiction_code"] == "130131100201"
    assert rec.title == "配电箱未上锁"


def test_replaying_a_batch_returns_duplicates_and_writes_nothing(device):
    phone = device("wangge")
    rid = str(uuid.uuid4())
    batch = [OP(record_id=rid, data=hazard()), OP(record_id=rid, base_version=1, data={"title": "已整改"})]
    first = phone.push(*batch)["results"]
    assert [r["status"] for r in first] == ["applied", "applied"]
    ops_before = db.session.scalar(select(func.count()).select_from(SyncOp))
    again = phone.push(*batch)["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["original_status"] for r in again] == ["applied", "applied"]
    assert [r["version"] for r in again] == [1, 2]
    assert db.session.scalar(select(func.count()).select_from(SyncOp)) == ops_before
    assert db.session.get(SyncRecord, rid).version == 2


def test_a_half_applied_batch_resent_with_more_ops_applies_only_the_new_ones(device):
    phone = device("wangge")
    a, b = OP(data=hazard("甲")), OP(data=hazard("乙"))
    phone.push(a)
    results = phone.push(a, b)["results"]
    assert [r["status"] for r in results] == ["duplicate", "applied"]


def test_a_rejected_op_does_not_stop_the_batch_and_says_what_to_fix(device):
    phone = device("wangge")
    bad = OP(data={"description": "没有标题", "location": {"lat": 123, "lon": 114}, "color": "red"})
    good = OP(data=hazard())
    results = phone.push(bad, good)["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    errors = results[0]["errors"]
    assert errors["title"] == ["必填项，不能为空"]
    assert errors["location"]["lat"] == ["纬度应在 -90 到 90 之间"]
    assert errors["color"] == ["未知字段，请删除"]
    assert db.session.get(SyncRecord, bad["id"]) is None


def test_a_user_cannot_create_a_record_outside_their_scope(device):
    phone = device("wangge")
    result = phone.push(OP(data=hazard(jurisdiction_code="130131101201")))["results"][0]
    assert result["status"] == "rejected"
    assert "辖区之外" in result["errors"]["jurisdiction_code"][0]


def test_a_user_cannot_edit_a_record_they_cannot_see(device):
    wangge, xinxi = device("wangge"), device("xinxi")
    op = OP(data=hazard())
    wangge.push(op)
    result = xinxi.push(OP(record_id=op["id"], base_version=1, data={"title": "改"}))["results"][0]
    assert result["status"] == "rejected" and "可见范围" in result["errors"]["id"][0]


def test_too_many_ops_is_413_with_the_limit(app, device):
    app.config["SYNC_MAX_OPS"] = 3
    phone = device("wangge")
    r = phone.client.post("/api/v1/sync/push", headers=phone.headers,
                          json={"device_id": phone.device_id, "ops": [OP(data=hazard()) for _ in range(4)]})
    body = assert_problem(r, 413)
    assert body["limit"] == 3


def test_a_body_over_the_limit_is_413_with_the_limit(app, device):
    app.config["SYNC_MAX_BODY_BYTES"] = 2048
    phone = device("wangge")
    r = phone.client.post("/api/v1/sync/push", headers=phone.headers,
                          json={"device_id": phone.device_id, "ops": [OP(data=hazard("长" * 1000))]})
    assert assert_problem(r, 413)["limit"] == 2048


def test_a_malformed_envelope_is_422_for_the_whole_request(device):
    phone = device("wangge")
    r = phone.client.post("/api/v1/sync/push", headers=phone.headers, json={"ops": "nope"})
    body = assert_problem(r, 422)
    assert "device_id" in body["errors"] and "ops" in body["errors"]
    r = phone.client.post("/api/v1/sync/push", headers=phone.headers, json={"device_id": phone.device_id, "ops": [
        {**OP(data=hazard()), "entity": "spaceship"}, {**OP(data=hazard()), "id": "not-a-uuid"},
        {**OP(data=hazard()), "op": "merge"}]})
    errors = assert_problem(r, 422)["errors"]["ops"]
    assert "未知的记录类型" in errors["0"]["entity"][0]
    assert errors["1"]["id"] == ["id 应为 UUID（设备生成）"]
    assert errors["2"]["op"] == ["op 应为 upsert 或 delete"]
    assert db.session.scalar(select(func.count()).select_from(SyncOp)) == 0


def test_device_id_must_be_the_tokens_device(device):
    phone = device("wangge")
    r = phone.client.post("/api/v1/sync/push", headers=phone.headers,
                          json={"device_id": "someone-elses-phone", "ops": [OP(data=hazard())]})
    assert_problem(r, 403)


def test_push_needs_a_token(client, demo):
    assert_problem(client.post("/api/v1/sync/push", json={"device_id": "x", "ops": []}), 401)


def test_the_fast_dump_equals_marshmallows_for_every_entity(app):
    """validate_data skips schema.dump for plain schemas; the result must be the same."""
    from sync import engine, registry
    sample = {"title": "甲", "description": None, "location": {"lat": 1.5, "lon": 2, "accuracy": None},
              "photos": ["a" * 64], "jurisdiction_code": "130131100201", "occurred_at": "2026-11-30T08:00:00+08:00",
              "recorded_at": "2026-11-30T08:00:00", "deadline": "2026-12-01T00:00:00Z", "status": "new",
              "assignee_id": 3, "review": {"a": [1, {"b": None}]}, "figures": {"dead": 0}, "track": [[1.0, 2.0]]}
    fast = 0
    for name in registry.names():
        schema = engine._schema(registry.get(name))
        data = {k: v for k, v in sample.items() if k in schema.fields}
        try:
            loaded = schema.load(data, partial=True)
        except Exception:
            continue
        if schema._danbing_fast_dump is not None:
            fast += 1
            assert schema._danbing_fast_dump(loaded) == schema.dump(loaded), name
    assert fast >= 1


def test_a_hook_sees_the_batchs_own_records_and_cannot_write_them_twice(device):
    """In a push the records are written after the after_apply hooks: a hook looking a
    record of the same batch up finds it, and creating it again is refused (409) rather
    than colliding with the push's own write."""
    from sync import engine, registry
    phone = device("wangge")
    first, second = OP(data=hazard("一号")), OP(data=hazard("二号"))
    seen = []

    def hook(entity_type, record, ctx):
        if record.id != first["id"]:
            return
        other = engine.get_record("probe", second["id"])
        try:
            engine.server_write(None, "probe", second["id"], {"title": "钩子"}, create=True, commit=False)
        except registry.Rejected as e:
            seen.append((other.data["title"], e.status))
    registry.after_apply.append(hook)
    try:
        results = phone.push(first, second)["results"]
    finally:
        registry.after_apply.remove(hook)
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert seen == [("二号", 409)]
    assert db.session.get(SyncRecord, second["id"]).data["title"] == "二号"
