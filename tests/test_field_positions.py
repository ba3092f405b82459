"""Team location: idempotent backlogs, latest positions, tracks, visibility and retention;
and 现场回传 field reports reaching the command and the team (issue #6)."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from field.models import LatestPosition, Position
from server.extensions import db
from tests.conftest import assert_problem
from tests.field_helpers import clock, new_id  # noqa: F401  (fixture)

T0 = datetime(2026, 7, 20, 2, 0, 0)


def fixes(n, start=T0, step_s=10, lat=38.26, lon=114.20):
    return [{"device_time": (start + timedelta(seconds=i * step_s)).isoformat() + "Z", "lat": lat + i * 1e-4,
             "lon": lon, "accuracy": 8.5, "speed": 1.2, "heading": 90, "battery": 80 - i // 10}
            for i in range(n)]


@pytest.fixture
def team(clock, demo, auth):
    clock.set(T0 + timedelta(hours=2))
    return {u: auth.headers(u) for u in ("jiuyuan", "jiuyuan2", "zhuren", "wangge", "yuanshi", "admin")}


def post(client, headers, body):
    return client.post("/api/v1/positions", headers=headers, json=body)


def test_backlog_is_stored_once_even_when_sent_twice(client, team):
    body = {"fixes": fixes(360)}
    r = post(client, team["jiuyuan"], body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"accepted": 360, "duplicates": 0, "rejected": []}
    r = post(client, team["jiuyuan"], body)  # the answer was lost; the phone sends the same batch again
    assert r.get_json() == {"accepted": 0, "duplicates": 360, "rejected": []}
    # Overlapping batch: 10 old + 5 new, and one fix twice in the same batch.
    more = fixes(365)[350:] + [fixes(365)[-1]]
    r = post(client, team["jiuyuan"], {"fixes": more})
    assert r.get_json() == {"accepted": 5, "duplicates": 11, "rejected": []}
    assert db.session.scalar(select(func.count()).select_from(Position)) == 365


def test_bad_fixes_are_rejected_one_by_one(client, team):
    good = fixes(1)[0]
    bad = [
        {**good, "device_time": "yesterday"},
        {**good, "device_time": "2026-07-20T09:00:00Z"},       # phone clock hours ahead
        {**good, "device_time": "2026-01-01T00:00:00Z"},       # older than the retention period
        {**good, "lat": 95.0},
        {**good, "lat": 0, "lon": 0},                          # no fix yet
        {**good, "battery": 150},
        {**good, "accuracy": -3},
        {**good, "heading": 400},
        {**good, "lon": "114.2"},
        "not an object",
    ]
    r = post(client, team["jiuyuan"], {"fixes": [good] + bad})
    body = r.get_json()
    assert body["accepted"] == 1 and [x["index"] for x in body["rejected"]] == list(range(1, 11))
    msgs = [str(x["errors"]) for x in body["rejected"]]
    assert "ISO 8601" in msgs[0] and "校准手机时间" in msgs[1] and "保留期限" in msgs[2]
    assert "纬度" in msgs[3] and "(0, 0)" in msgs[4] and "电量" in msgs[5] and "精度" in msgs[6]
    assert "方向" in msgs[7] and "经度" in msgs[8]
    assert_problem(post(client, team["jiuyuan"], {"fixes": "x"}), 400)
    assert_problem(post(client, team["jiuyuan"], {"device_id": "someone-else", "fixes": []}), 403)


def test_batch_limit(app, client, team):
    app.config["POSITIONS_MAX_BATCH"] = 5
    assert_problem(post(client, team["jiuyuan"], {"fixes": fixes(6)}), 413)


def test_latest_positions_and_visibility(client, team, clock):
    post(client, team["jiuyuan"], {"fixes": fixes(30)})
    post(client, team["wangge"], {"fixes": fixes(3, lat=38.3)})
    post(client, team["yuanshi"], {"fixes": fixes(3, lat=37.7, lon=114.5)})

    def latest(who):
        r = client.get("/api/v1/positions/latest", headers=team[who])
        assert r.status_code == 200
        return {x["display_name"]: x for x in r.get_json()["items"]}

    mate = latest("jiuyuan2")  # same rescue team
    assert set(mate) == {"孙队员"}
    assert mate["孙队员"]["device_time"] == "2026-07-20T02:04:50Z"
    assert mate["孙队员"]["age_s"] == 2 * 3600 - 290 and mate["孙队员"]["battery"] == 78
    command = latest("zhuren")  # the county command sees everyone in the county, not 元氏县
    assert set(command) == {"孙队员", "刘网格（东关村）"}
    assert set(latest("wangge")) == {"刘网格（东关村）"}   # another team cannot see the rescuers
    assert set(latest("yuanshi")) == {"吴执法（元氏县）"}
    # An old backlog arriving late does not move the member back on the map.
    post(client, team["jiuyuan"], {"fixes": fixes(5, start=T0 - timedelta(hours=1))})
    assert latest("zhuren")["孙队员"]["device_time"] == "2026-07-20T02:04:50Z"
    r = client.get("/api/v1/positions/latest", headers=team["zhuren"], query_string={"max_age_s": 3600})
    assert r.get_json()["items"] == []


def test_track_for_a_time_range_and_who_may_read_it(client, team, demo):
    post(client, team["jiuyuan"], {"fixes": fixes(60)})
    uid = demo["jiuyuan"].id
    q = {"user_id": uid, "from": "2026-07-20T02:01:00Z", "to": "2026-07-20T02:02:00Z"}
    r = client.get("/api/v1/positions/track", headers=team["jiuyuan2"], query_string=q)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert len(items) == 6 and items[0]["device_time"] == "2026-07-20T02:01:00Z"
    assert client.get("/api/v1/positions/track", headers=team["zhuren"], query_string=q).status_code == 200
    assert_problem(client.get("/api/v1/positions/track", headers=team["wangge"], query_string=q), 403)
    assert_problem(client.get("/api/v1/positions/track", headers=team["yuanshi"], query_string=q), 403)
    assert_problem(client.get("/api/v1/positions/track", headers=team["zhuren"], query_string={"user_id": 99999}), 404)
    assert_problem(client.get("/api/v1/positions/track", headers=team["zhuren"], query_string={
        "user_id": uid, "from": "2026-07-01T00:00:00Z", "to": "2026-08-20T00:00:00Z"}), 400)


def test_retention_purge(app, client, team, runner, clock):
    post(client, team["jiuyuan"], {"fixes": fixes(10)})
    clock.advance(days=29)
    post(client, team["jiuyuan2"], {"fixes": fixes(10, start=clock.now - timedelta(minutes=5))})
    clock.advance(days=2)  # jiuyuan's fixes are now 31 days old
    r = runner.invoke(args=["positions", "purge"])
    assert r.exit_code == 0 and "deleted 10 fixes and 1 stale latest positions" in r.output
    assert db.session.scalar(select(func.count()).select_from(Position)) == 10
    assert db.session.scalar(select(func.count()).select_from(LatestPosition)) == 1


# --------------------------------------------------------------------------- field reports

def report(**kw):
    d = {"report_type": "险情", "text": "滹沱河东关段堤坝出现管涌，约 2 平方米", "urgency": "紧急",
         "location": {"lat": 38.262, "lon": 114.201, "accuracy": 12}, "photos": ["cd" * 32],
         "voice_notes": ["ef" * 32]}
    d.update(kw)
    return d


@pytest.mark.parametrize("change, field, words", [
    ({"text": " ", "photos": None, "voice_notes": None}, "text", "至少需要文字、照片或语音之一"),
    ({"urgency": "特急", "location": None}, "location", "特急回传必须带位置"),
    ({"location": {"lat": 0.0, "lon": 0.0}}, "location", "(0, 0)"),
    ({"photos": ["scene.jpg"]}, "photos", "SHA-256"),
    ({"report_type": "通知"}, "report_type", "回传类型应为"),
    ({"urgency": "很急"}, "urgency", "紧急程度应为"),
])
def test_field_report_mistakes(clock, device, demo, change, field, words):
    dev = device("jiuyuan")
    res = dev.push(dev.op("field_report", new_id(), data=report(**change)))["results"][0]
    assert res["status"] == "rejected" and words in str(res["errors"][field]), res


def test_field_report_reaches_the_command_and_the_team_not_other_teams(clock, device, demo):
    sender, mate, command, other, elsewhere = (device(u) for u in ("jiuyuan", "jiuyuan2", "zhuren", "wangge", "yuanshi"))
    for d in (mate, command, other, elsewhere):
        d.pull_all()
    rid = new_id()
    res = sender.push(sender.op("field_report", rid, data=report(event_id=new_id())))["results"][0]
    assert res["status"] == "applied"
    got = [c for c in command.pull_all() if c["id"] == rid]
    assert got and got[0]["data"]["urgency"] == "紧急" and got[0]["entity"] == "field_report"
    assert any(c["id"] == rid for c in mate.pull_all())
    assert not any(c["id"] == rid for c in elsewhere.pull_all())
    # The rescuers' reports are the county's; the village grid member is not the command.
    assert not any(c["id"] == rid for c in other.pull_all())


def test_time_formats_name_the_same_instant(client, team):
    """A phone may send ISO with an offset or epoch milliseconds: the same fix is one row."""
    base = {"lat": 38.26, "lon": 114.2, "accuracy": 5}
    same = [{**base, "device_time": "2026-07-20T02:00:00Z"}, {**base, "device_time": "2026-07-20T10:00:00+08:00"},
            {**base, "device_time": 1784512800000}]
    r = post(client, team["jiuyuan"], {"fixes": same})
    assert r.get_json() == {"accepted": 1, "duplicates": 2, "rejected": []}


def test_openapi_lists_the_field_endpoints_and_entities(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/positions", "/api/v1/positions/latest", "/api/v1/disasters/events/{event_id}/summary",
            "/api/v1/patrols/coverage"} <= set(doc["paths"])
    assert {"disaster_report_data", "patrol_data", "patrol_point_data", "patrol_plan_data",
            "field_report_data"} <= set(doc["components"]["schemas"])
