"""Pull: scoped changes after an opaque cursor, tombstones, pages, and scope drops."""
import functools
from sync import engine
from tests.conftest import SyncDevice, assert_problem

OP = functools.partial(SyncDevice.op, entity="probe")  # the engine's own test entity (conftest)


def hazard(title="配电箱未上锁", **extra):
    return {"title": title, "location": {"lat": 38.26, "lon": 114.2}, **extra}


def test_pull_returns_what_the_user_may_see_and_nothing_else(device):
    wangge, xinxi, zhuren, yuanshi = device("wangge"), device("xinxi"), device("zhuren"), device("yuanshi")
    mine = OP(data=hazard("东关村隐患"))
    theirs = OP(data=hazard("温塘村隐患"))
    wangge.push(mine)
    xinxi.push(theirs)
    assert {c["id"] for c in wangge.pull_all()} == {mine["id"]}
    assert {c["id"] for c in xinxi.pull_all()} == {theirs["id"]}
    assert {c["id"] for c in zhuren.pull_all()} == {mine["id"], theirs["id"]}  # the county sees both
    assert yuanshi.pull_all() == []  # another county sees neither
    assert zhuren.pull_all() == []  # nothing new after the cursor


def test_pull_pages_follow_the_cursor_without_gaps_or_repeats(device):
    phone = device("wangge")
    ids = []
    for start in range(0, 23, 5):
        batch = [OP(data=hazard(f"隐患{i}")) for i in range(start, min(start + 5, 23))]
        phone.push(*batch)
        ids += [o["id"] for o in batch]
    seen = phone.pull_all(limit=4)
    assert [c["id"] for c in seen] == ids


def test_tombstones_reach_every_device(device):
    a, b = device("wangge"), device("zhuren")
    op = OP(data=hazard())
    a.push(op)
    b.pull_all()
    result = a.push(OP(record_id=op["id"], op="delete", base_version=1))["results"][0]
    assert result["status"] == "applied" and result["version"] == 2
    [change] = b.pull_all()
    assert change == {"entity": "probe", "id": op["id"], "version": 2, "deleted": True, "data": None}


def test_an_assigned_record_reaches_the_assignee_and_a_reassignment_drops_it(device, demo):
    zhuren, zhifa1, zhifa2, wangge = device("zhuren"), device("zhifa1"), device("zhifa2"), device("wangge")
    # The grid member sees only her village: assign her a record of another village.
    # (a field report: a hazard's assignment follows the hazard workflow, see tests/test_loops_*)
    op = OP(entity="probe_report", data=hazard("西柏坡村隐患", jurisdiction_code="130131102201"))
    zhuren.push(op)
    assert wangge.pull_all() == []
    engine.server_write(demo["zhuren"], "probe_report", op["id"], {"assignee_id": demo["wangge"].id})
    [change] = wangge.pull_all()
    assert change["id"] == op["id"] and change["data"]["assignee_id"] == demo["wangge"].id
    engine.server_write(demo["zhuren"], "probe_report", op["id"], {"assignee_id": demo["zhifa1"].id})
    [drop] = wangge.pull_all()
    assert drop == {"entity": "probe_report", "id": op["id"], "version": 3, "deleted": True, "data": None, "dropped": True}
    assert wangge.pull_all() == []
    # Inspectors of the county saw it all along; no drop for them.
    assert all(not c.get("dropped") for c in zhifa1.pull_all() + zhifa2.pull_all())


def test_a_record_moved_to_another_village_is_dropped_by_the_old_village(device, demo):
    wangge = device("wangge")
    op = OP(data=hazard())
    wangge.push(op)
    wangge.pull_all()
    # The owner keeps seeing her own record; a second grid member of the village does not.
    engine.server_write(demo["zhuren"], "probe", op["id"], {"jurisdiction_code": "130131100202"})
    [change] = wangge.pull_all()
    assert change["deleted"] is False  # still hers (owner)


def test_a_bad_cursor_or_limit_is_400(device):
    phone = device("wangge")
    assert_problem(phone.client.get("/api/v1/sync/pull?cursor=%%%", headers=phone.headers), 400)
    assert_problem(phone.client.get("/api/v1/sync/pull?cursor=bm9wZQ", headers=phone.headers), 400)
    assert_problem(phone.client.get("/api/v1/sync/pull?limit=0", headers=phone.headers), 400)
    assert_problem(phone.client.get("/api/v1/sync/pull?limit=x", headers=phone.headers), 400)


def test_the_cursor_is_opaque(device):
    phone = device("wangge")
    phone.push(OP(data=hazard()))
    phone.pull_all()
    assert not phone.cursor.isdigit()
