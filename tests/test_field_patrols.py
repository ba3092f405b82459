"""网格员巡查: points, plans, the patrol's server-computed metrics, findings to hazards, and
coverage with missed points (issue #6)."""
import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from field import geo
from sync import engine
from tests.field_helpers import clock, new_id  # noqa: F401  (fixture)

DONGGUAN = "130131100201"
LAT0, LON0 = 38.262, 114.201
M_LAT = 111_195.0
M_LON = M_LAT * math.cos(math.radians(LAT0))


def at(dx_m, dy_m=0.0):
    return LAT0 + dy_m / M_LAT, LON0 + dx_m / M_LON


def ts(dt):
    return dt.replace(tzinfo=timezone.utc).timestamp()


START = datetime(2026, 7, 20, 1, 0, 0)  # 09:00 China time


def walk_track(start=START):
    """5 min standing at A (x=0), a 600 m walk east at 1.2 m/s, 1 min at B, fixes every 5 s.

    Plus two bad fixes a real phone produces: one with 500 m accuracy and one GPS jump 2 km away.
    """
    rnd = random.Random(7)
    t, pts = ts(start), []
    for _ in range(60):  # 300 s at A
        lat, lon = at(rnd.uniform(-2, 2), rnd.uniform(-2, 2))
        pts.append([lat, lon, t, 5.0])
        t += 5
    x = 0.0
    while x < 600:
        x += 6.0
        lat, lon = at(x, rnd.uniform(-1, 1))
        pts.append([lat, lon, t, 8.0])
        t += 5
    for _ in range(12):  # 60 s at B
        lat, lon = at(600 + rnd.uniform(-2, 2), rnd.uniform(-2, 2))
        pts.append([lat, lon, t, 5.0])
        t += 5
    jump = list(at(300, 2000)) + [pts[100][2] + 1, 10.0]
    fuzzy = list(at(310, 40)) + [pts[110][2] + 1, 500.0]
    return pts + [jump, fuzzy], t


@pytest.fixture
def grid(clock, demo, device):
    clock.set(START + timedelta(hours=3))
    boss, member = device("zhuren"), device("wangge")
    a, b, c = new_id(), new_id(), new_id()
    lat_b, lon_b = at(600)
    lat_c, lon_c = at(1500, 500)
    out = boss.push(
        boss.op("patrol_point", a, data={"name": "东关村滑坡隐患点", "jurisdiction_code": DONGGUAN,
                                         "location": {"lat": LAT0, "lon": LON0}, "risk_level": "红", "category": "地质灾害点"}),
        boss.op("patrol_point", b, data={"name": "冀中液化气站", "jurisdiction_code": DONGGUAN,
                                         "location": {"lat": lat_b, "lon": lon_b}, "risk_level": "橙"}),
        boss.op("patrol_point", c, data={"name": "滹沱河东关段", "jurisdiction_code": DONGGUAN,
                                         "location": {"lat": lat_c, "lon": lon_c}, "risk_level": "黄"}))
    assert [r["status"] for r in out["results"]] == ["applied"] * 3, out
    plan = new_id()
    out = boss.push(boss.op("patrol_plan", plan, data={"title": "东关村网格日巡", "level": "grid", "point_ids": [a, b, c],
                                                       "jurisdiction_code": DONGGUAN}))
    assert out["results"][0]["status"] == "applied", out
    return {"boss": boss, "member": member, "a": a, "b": b, "c": c, "plan": plan}


def patrol_data(g, start=START, **extra):
    track, end_t = walk_track(start)
    d = {"started_at": start.isoformat() + "Z", "ended_at": datetime.fromtimestamp(end_t, timezone.utc)
         .replace(tzinfo=None).isoformat() + "Z", "plan_id": g["plan"], "track": track,
         "checkins": [{"point_id": g["a"], "at": (start + timedelta(minutes=1)).isoformat() + "Z",
                       "location": {"lat": LAT0, "lon": LON0, "accuracy": 5}, "observed_risk_level": "红"},
                      {"point_id": g["b"], "at": (start + timedelta(minutes=14)).isoformat() + "Z",
                       "location": {"lat": at(600)[0], "lon": at(600)[1] + 0.01}}]}
    d.update(extra)
    return d


def test_douglas_peucker_keeps_corners_and_drops_straight_runs():
    straight = [list(at(x)) + [float(x)] for x in range(0, 1000, 5)]
    assert geo.douglas_peucker(straight, 5) == [0, len(straight) - 1]
    corner = [list(at(x)) for x in range(0, 510, 10)] + [list(at(500, y)) for y in range(10, 500, 10)]
    kept = geo.douglas_peucker(corner, 5)
    assert len(kept) == 3 and kept[1] == 50


def test_patrol_metrics_are_computed_by_the_server(grid):
    member, pid = grid["member"], new_id()
    res = member.push(member.op("patrol", pid, data=patrol_data(grid)))["results"][0]
    assert res["status"] == "applied", res
    d = engine.get_record("patrol", pid).data
    assert d["status"] == "已结束" and d["track_raw_points"] == 174 and d["track_dropped_points"] == 2
    assert 590 <= d["distance_m"] <= 680, d["distance_m"]      # standing jitter adds a little, the jump adds nothing
    assert d["duration_s"] == 172 * 5
    assert len(d["track"]) < 60                                 # thinned: a straight walk is a few points
    a, b = d["checkins"]
    assert 300 <= a["dwell_s"] <= 345 and a["off_site"] is False and a["distance_m"] == 0
    assert 80 <= b["dwell_s"] <= 110  # 1 min standing + the last 50 m of the approach
    assert b["off_site"] is True and b["distance_m"] > 800      # checked in 870 m from the station


def test_patrol_track_thinning_keeps_a_day_small(grid):
    member, pid = grid["member"], new_id()
    rnd, t0, pts = random.Random(3), ts(START), []
    x = y = 0.0
    heading = 0.0
    for i in range(8 * 720):  # 8 hours at one fix per 5 s
        heading += rnd.uniform(-0.05, 0.05)
        x, y = x + 1.2 * 5 * math.cos(heading), y + 1.2 * 5 * math.sin(heading)
        lat, lon = at(x, y)
        pts.append([lat, lon, t0 + 5 * i, 6.0])
    data = {"started_at": START.isoformat() + "Z", "track": pts}
    assert member.push(member.op("patrol", pid, data=data))["results"][0]["status"] == "applied"
    d = engine.get_record("patrol", pid).data
    assert d["status"] == "进行中" and d["track_raw_points"] == 5760
    assert len(d["track"]) < 600, len(d["track"])
    assert abs(d["distance_m"] - 5760 * 6) < 5760 * 6 * 0.02


@pytest.mark.parametrize("change, field, words", [
    ({"ended_at": "2026-07-20T00:00:00Z", "track": None, "checkins": None}, "ended_at", "结束时间早于开始时间"),
    ({"ended_at": "2026-07-21T02:00:00Z", "track": None, "checkins": None}, "ended_at", "超过 24 小时"),
    ({"plan_id": "no-such-plan"}, "plan_id", "巡查计划不存在"),
    ({"checkins": [{"point_id": "gone", "at": "2026-07-20T01:05:00Z"}]}, "checkins", "巡查点不存在"),
    ({"checkins": [{"at": "2026-07-20T01:05:00Z"}]}, "checkins", "必填"),
    ({"findings": [{"id": "6f1d0d3e-2a51-4d8c-9a51-0e3f1c2b7a10", "title": "护坡裂缝"}]}, "findings", "至少拍一张照片"),
    ({"findings": [{"id": "6f1d0d3e-2a51-4d8c-9a51-0e3f1c2b7a10", "title": "裂缝", "description": "x",
                    "risk_level": "red"}]}, "findings", "风险等级应为"),
    ({"track": [[38.2, 114.2]]}, "track", "轨迹点应为"),
])
def test_patrol_mistakes_are_rejected(grid, change, field, words):
    member = grid["member"]
    data = patrol_data(grid)
    data.update(change)
    res = member.push(member.op("patrol", new_id(), data=data))["results"][0]
    assert res["status"] == "rejected" and words in str(res["errors"][field]), res


def test_point_and_plan_mistakes(grid):
    boss = grid["boss"]
    res = boss.push(boss.op("patrol_point", new_id(), data={"name": "x", "jurisdiction_code": DONGGUAN,
                                                             "location": {"lat": 0, "lon": 0}, "risk_level": "红"}))
    assert "(0, 0)" in str(res["results"][0]["errors"])
    res = boss.push(boss.op("patrol_point", new_id(), data={"name": "x", "jurisdiction_code": DONGGUAN,
                                                             "location": {"lat": 38, "lon": 114}, "risk_level": "紫"}))
    assert "红、橙、黄、蓝" in str(res["results"][0]["errors"]["risk_level"])
    res = boss.push(boss.op("patrol_plan", new_id(), data={"title": "t", "level": "township",
                                                            "point_ids": [grid["a"], "nope"], "jurisdiction_code": DONGGUAN}))
    assert "不存在" in str(res["results"][0]["errors"]["point_ids"])
    res = boss.push(boss.op("patrol_plan", new_id(), data={"title": "t", "level": "grid", "point_ids": [grid["a"]],
                                                            "jurisdiction_code": "130131101201"}))
    assert "不在计划的辖区内" in str(res["results"][0]["errors"]["point_ids"])
    # Grid members do not make plans.
    member = grid["member"]
    res = member.push(member.op("patrol_plan", new_id(), data={"title": "t", "level": "grid", "point_ids": [grid["a"]],
                                                                "jurisdiction_code": DONGGUAN}))
    assert res["results"][0]["status"] == "rejected"
    plan = engine.get_record("patrol_plan", grid["plan"]).data
    assert plan["frequency"] == "daily"  # 三级巡查: a grid plan defaults to daily


def test_findings_become_hazards_once(grid):
    member, pid, fid = grid["member"], new_id(), new_id()
    photo = "ab" * 32
    data = patrol_data(grid, findings=[{"id": fid, "title": "护坡出现裂缝", "description": "长约 3 米",
                                        "photos": [photo], "risk_level": "橙",
                                        "location": {"lat": LAT0, "lon": LON0}}])
    assert member.push(member.op("patrol", pid, data=data))["results"][0]["status"] == "applied"
    hazard = engine.get_record("hazard", fid)
    assert hazard is not None and hazard.data["title"] == "护坡出现裂缝"
    assert hazard.data["photos"] == [photo] and hazard.owner_id == member.user_id
    assert hazard.jurisdiction_code == DONGGUAN
    assert engine.get_record("patrol", pid).data["findings"][0]["hazard_id"] == fid
    # An edit of the patrol (and a resend) does not create a second hazard.
    res = member.push(member.op("patrol", pid, base_version=1, data={"note": "已告知村委会"}))["results"][0]
    assert res["status"] == "applied"
    assert engine.get_record("hazard", fid).version == 1
    pulled = {(c["entity"], c["id"]) for c in member.pull_all()}
    assert ("hazard", fid) in pulled and ("patrol", pid) in pulled


def test_a_finding_whose_hazard_comes_in_the_same_batch_is_not_made_twice(grid):
    """A phone that sent the finding's hazard itself, in the same push as the patrol, gets
    both applied: the patrol's hook sees the batch's own (not yet written) hazard."""
    member, pid, fid = grid["member"], new_id(), new_id()
    photo = "cd" * 32
    data = patrol_data(grid, findings=[{"id": fid, "title": "排水沟堵塞", "description": "落叶堵塞",
                                        "photos": [photo], "risk_level": "黄",
                                        "location": {"lat": LAT0, "lon": LON0}}])
    hazard = {"title": "排水沟堵塞（手机上报）", "photos": [photo], "source": "patrol", "source_id": pid,
              "location": {"lat": LAT0, "lon": LON0}}
    res = member.push(member.op("patrol", pid, data=data), member.op("hazard", fid, data=hazard))["results"]
    assert [r["status"] for r in res] == ["applied", "applied"]
    stored = engine.get_record("hazard", fid)
    assert stored.version == 1 and stored.data["title"] == "排水沟堵塞（手机上报）"


def test_coverage_shows_missed_points_per_day(grid, client, auth, clock):
    member = grid["member"]
    day1 = datetime(2026, 7, 20, 1, 0)  # 09:00 CST on the 20th: A and B visited, C missed
    assert member.push(member.op("patrol", new_id(), data=patrol_data(grid, day1)))["results"][0]["status"] == "applied"
    day2 = datetime(2026, 7, 21, 1, 0)  # the 21st: only A
    d2 = patrol_data(grid, day2)
    d2["checkins"] = d2["checkins"][:1]
    assert member.push(member.op("patrol", new_id(), data=d2))["results"][0]["status"] == "applied"
    # A township-level patrol without a plan does not fulfil the grid's daily plan.
    d3 = patrol_data(grid, day2, level="township", plan_id=None)
    d3["checkins"] = [{"point_id": grid["c"], "at": "2026-07-21T02:00:00Z"}]
    assert member.push(member.op("patrol", new_id(), data=d3))["results"][0]["status"] == "applied"
    clock.set(datetime(2026, 7, 22, 3, 0))  # 11:00 CST on the 22nd: the 22nd is still open
    r = client.get("/api/v1/patrols/coverage", headers=auth.headers("zhuren"), query_string={
        "plan_id": grid["plan"], "from": "2026-07-19T16:00:00Z", "to": "2026-07-22T16:00:00Z"})
    assert r.status_code == 200, r.get_json()
    cov = r.get_json()
    days = cov["periods"]
    assert [p["start"] for p in days] == ["2026-07-19T16:00:00Z", "2026-07-20T16:00:00Z", "2026-07-21T16:00:00Z"]
    assert days[0]["missed"] == [grid["c"]] and sorted(days[0]["visited"]) == sorted([grid["a"], grid["b"]])
    assert sorted(days[1]["missed"]) == sorted([grid["b"], grid["c"]])
    assert days[2]["open"] is True and days[2]["missed"] == [] and len(days[2]["pending"]) == 3
    points = {p["id"]: p for p in cov["points"]}
    assert points[grid["c"]]["periods_missed"] == 2 and points[grid["a"]]["periods_missed"] == 0
    assert cov["coverage_rate"] == round(3 / 6, 4)
    # Without a plan: every active point in the caller's area over one period; the township patrol counts there.
    r = client.get("/api/v1/patrols/coverage", headers=auth.headers("wangge"), query_string={
        "from": "2026-07-20T16:00:00Z", "to": "2026-07-21T16:00:00Z"})
    cov = r.get_json()
    assert cov["missed_points"] == [grid["b"]]
    # Other counties see nothing of it.
    r = client.get("/api/v1/patrols/coverage", headers=auth.headers("yuanshi"), query_string={"plan_id": grid["plan"]})
    assert r.status_code == 404


def test_points_and_plans_lists(grid, client, auth):
    r = client.get("/api/v1/patrols/points", headers=auth.headers("wangge"), query_string={"risk_level": "红"})
    assert r.status_code == 200 and [p["name"] for p in r.get_json()["items"]] == ["东关村滑坡隐患点"]
    r = client.get("/api/v1/patrols/plans", headers=auth.headers("wangge"))
    assert r.get_json()["items"][0]["frequency"] == "daily"
    r = client.get("/api/v1/patrols/points", headers=auth.headers("yuanshi"))
    assert r.get_json()["total"] == 0
