"""灾情报告: validation with real mistakes, the 初报 → 续报 → 核报 chain, aggregation to the county
without double counting, and lateness under a controlled clock (issue #6)."""
from datetime import datetime

import pytest

from field.events import add_working_days
from sync import engine
from tests.field_helpers import add_user, clock, new_id  # noqa: F401  (fixture)

WENTANG_VILLAGE, NANZHUANG, WENTANG_TOWN = "130131101201", "130131101202", "130131101000"
DONGGUAN, XIBAIPO = "130131100201", "130131102201"
FULL = dict(affected_population=0, deaths=0, missing=0, injured=0, relocated=0, relief_needed=0,
            collapsed_households=0, collapsed_rooms=0, severely_damaged_rooms=0, generally_damaged_rooms=0,
            crop_affected_ha=0.0, crop_failed_ha=0.0, direct_loss_wan_yuan=0.0)


def report(stage, code, event_id=None, occurred=None, learned=None, **figures):
    d = {"stage": stage, "disaster_types": ["暴雨洪涝"], "occurred_at": occurred or "2026-07-20T00:30:00Z",
         "jurisdiction_code": code, "description": "山洪冲毁部分房屋"}
    if event_id:
        d["event_id"] = event_id
    if learned:
        d["learned_at"] = learned
    d.update(figures)
    return d


@pytest.fixture
def officers(clock, demo, device):
    add_user("xinxi_nz", "info_officer", NANZHUANG, "温塘镇人民政府")
    add_user("xinxi_town", "info_officer", WENTANG_TOWN, "温塘镇人民政府")
    add_user("xinxi_dg", "info_officer", DONGGUAN, "平山镇人民政府")
    add_user("xinxi_xbp", "info_officer", XIBAIPO, "西柏坡镇人民政府")
    return {name: device(name) for name in ("xinxi", "xinxi_nz", "xinxi_town", "xinxi_dg", "xinxi_xbp")}


def push_one(dev, data, record_id=None):
    rid = record_id or new_id()
    res = dev.push(dev.op("disaster_report", rid, data=data))["results"][0]
    return rid, res


def first_report(dev, code, **figures):
    rid = new_id()
    _, res = push_one(dev, report("初报", code, event_id=rid, **figures), rid)
    assert res["status"] == "applied", res
    return rid


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("figures, field, words", [
    ({"deaths": -1}, "deaths", "死亡人口不能为负数"),
    ({"affected_population": 20, "deaths": 25}, "deaths", "不能大于受灾人口"),
    ({"affected_population": 20, "deaths": 12, "missing": 10}, "missing", "死亡与失踪人口之和"),
    ({"affected_population": 100, "relocated": 300}, "relocated", "不能大于受灾人口"),
    ({"crop_affected_ha": 12.5, "crop_failed_ha": 30.0}, "crop_failed_ha", "绝收面积"),
    ({"collapsed_households": 5, "collapsed_rooms": 3}, "collapsed_rooms", "不能少于户数"),
    ({"collapsed_households": 2}, "collapsed_rooms", "请同时填写间数"),
    ({"deaths": 1.5}, "deaths", "应为整数"),
    ({"direct_loss_wan_yuan": -3.0}, "direct_loss_wan_yuan", "不能为负数"),
    ({"photos": ["IMG_20260720_0830.jpg"]}, "photos", "SHA-256"),
    ({"disaster_types": ["洪水"]}, "disaster_types", "灾种应为"),
    ({"disaster_types": ["其他"]}, "other_type", "说明是什么灾害"),
    ({"occurred_at": "2026-07-21T09:00:00Z"}, "occurred_at", "晚于当前时间"),
    ({"learned_at": "2026-07-19T23:00:00Z"}, "learned_at", "不能早于灾害发生时间"),
    ({"location": {"lat": 0, "lon": 0}}, "location", "(0, 0)"),
    ({"emergency_response": True, "photos": ["a" * 64]}, "photos", "至少需要 3 张"),
])
def test_report_mistakes_are_rejected_in_words_an_officer_understands(officers, clock, figures, field, words):
    data = report("初报", WENTANG_VILLAGE, **figures)
    _, res = push_one(officers["xinxi"], data)
    assert res["status"] == "rejected", res
    assert words in str(res["errors"][field]), res["errors"]


def test_county_level_report_is_refused(demo, device, clock):
    _, res = push_one(device("zhuren"), report("初报", "130131000000", affected_population=5))
    assert res["status"] == "rejected" and "村（社区）或乡镇" in res["errors"]["jurisdiction_code"][0]


def test_a_correct_first_report_is_accepted_and_starts_an_event(officers, clock):
    rid, res = push_one(officers["xinxi"], report("初报", WENTANG_VILLAGE, affected_population=120, deaths=1))
    assert res["status"] == "applied"
    rec = engine.get_record("disaster_report", rid)
    assert rec.data["event_id"] == rid and rec.event_id == rid  # no event_id given: the report names the event
    assert rec.status == "初报" and rec.title == "暴雨洪涝初报"


def test_followup_for_an_unknown_event_is_refused(officers, clock):
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=new_id(), affected_population=10))
    assert res["status"] == "rejected" and "没有找到这份续报所属的灾害事件" in res["errors"]["event_id"][0]
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, affected_population=10))
    assert res["status"] == "rejected" and "须注明所属灾害事件" in res["errors"]["event_id"][0]


def test_verified_report_before_any_first_report_is_refused(officers, clock):
    event = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10)
    # 南庄村 never filed a 初报 for this event.
    _, res = push_one(officers["xinxi_nz"], report("核报", NANZHUANG, event_id=event, **FULL))
    assert res["status"] == "rejected" and "核报前须先有初报" in res["errors"]["stage"][0]
    _, res = push_one(officers["xinxi_nz"], report("核报", NANZHUANG, event_id=new_id(), **FULL))
    assert res["status"] == "rejected" and "没有找到这份核报所属的灾害事件" in res["errors"]["event_id"][0]


def test_chain_rules_second_first_report_followup_after_verified_and_incomplete_verified(officers, clock):
    dev = officers["xinxi"]
    event = first_report(dev, WENTANG_VILLAGE, affected_population=10)
    _, res = push_one(dev, report("初报", WENTANG_VILLAGE, event_id=event))
    assert res["status"] == "rejected" and "已就这次灾害报过初报" in res["errors"]["stage"][0]
    _, res = push_one(dev, report("核报", WENTANG_VILLAGE, event_id=event, affected_population=12))
    assert res["status"] == "rejected" and "核报须填写全部核心指标" in res["errors"]["stage"][0]
    _, res = push_one(dev, report("核报", WENTANG_VILLAGE, event_id=event, **FULL))
    assert res["status"] == "applied"
    _, res = push_one(dev, report("续报", WENTANG_VILLAGE, event_id=event, affected_population=15))
    assert res["status"] == "rejected" and "已核报" in res["errors"]["stage"][0]


def test_stage_and_event_cannot_change_after_submission(officers, clock):
    dev = officers["xinxi"]
    event = first_report(dev, WENTANG_VILLAGE, affected_population=10)
    res = dev.push(dev.op("disaster_report", event, base_version=1, data={"stage": "核报", **FULL}))["results"][0]
    assert res["status"] == "rejected" and "提交后不能修改" in res["errors"]["stage"][0]
    # Correcting a figure of the same report is fine.
    res = dev.push(dev.op("disaster_report", event, base_version=1, data={"affected_population": 11}))["results"][0]
    assert res["status"] == "applied"


def test_first_report_cannot_be_deleted_under_its_followups(officers, clock):
    dev = officers["xinxi"]
    event = first_report(dev, WENTANG_VILLAGE, affected_population=10)
    _, res = push_one(dev, report("续报", WENTANG_VILLAGE, event_id=event, affected_population=12))
    assert res["status"] == "applied"
    res = dev.push(dev.op("disaster_report", event, op="delete", base_version=1))["results"][0]
    assert res["status"] == "rejected" and "不能只删除初报" in res["errors"]["stage"][0]


def test_offline_batch_with_first_report_and_followup_is_accepted(officers, clock):
    dev = officers["xinxi"]
    event = new_id()
    out = dev.push(dev.op("disaster_report", event, data=report("初报", WENTANG_VILLAGE, event_id=event, affected_population=5)),
                   dev.op("disaster_report", new_id(), data=report("续报", WENTANG_VILLAGE, event_id=event, affected_population=9)))
    assert [r["status"] for r in out["results"]] == ["applied", "applied"], out


# --------------------------------------------------------------------------- aggregation

def test_chain_aggregates_to_the_county_without_double_counting(officers, clock, auth, client):
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=100, deaths=1, collapsed_households=2,
                      collapsed_rooms=5, crop_affected_ha=10.5)
    _, res = push_one(officers["xinxi_nz"], report("初报", NANZHUANG, event_id=ev, affected_population=50, injured=3))
    assert res["status"] == "applied"
    clock.advance(hours=3)
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=ev, affected_population=150, deaths=2,
                                                collapsed_households=3, collapsed_rooms=7, crop_affected_ha=12.0))
    assert res["status"] == "applied"
    _, res = push_one(officers["xinxi_xbp"], report("初报", XIBAIPO, event_id=ev, affected_population=7))
    assert res["status"] == "applied"
    h = auth.headers("zhuren")

    def summary(level="county"):
        r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=h, query_string={"level": level})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    s = summary()
    # 温塘村 counts with its 续报 only (150, not 100 + 150); 南庄村 50; 西柏坡村 7.
    assert s["totals"]["affected_population"] == 207 and s["totals"]["deaths"] == 2
    assert s["totals"]["injured"] == 3 and s["totals"]["crop_affected_ha"] == 12.0
    assert s["totals"]["missing"] is None  # nobody reported it: unknown, not zero
    assert s["reports"] == 4 and s["places_reporting"] == 3
    [county] = s["units"]
    assert county["code"] == "130131000000" and county["name"] == "平山县"
    towns = {t["code"]: t for t in county["townships"]}
    assert towns[WENTANG_TOWN]["figures"]["affected_population"] == 200
    assert towns["130131102000"]["figures"]["affected_population"] == 7

    clock.advance(hours=20)
    _, res = push_one(officers["xinxi"], report("核报", WENTANG_VILLAGE, event_id=ev, **{**FULL, "affected_population": 160,
                                                                                          "deaths": 2, "collapsed_households": 3,
                                                                                          "collapsed_rooms": 7}))
    assert res["status"] == "applied"
    s = summary("village")
    places = {p["code"]: p for p in s["units"]}
    assert places[WENTANG_VILLAGE]["stage"] == "核报" and places[WENTANG_VILLAGE]["reports"] == 3
    assert s["totals"]["affected_population"] == 217 and s["stage"] == "初报"

    # The township files its own statistical report: it supersedes its villages, never added to them.
    _, res = push_one(officers["xinxi_town"], report("初报", WENTANG_TOWN, event_id=ev, affected_population=230, deaths=2))
    assert res["status"] == "applied"
    s = summary("township")
    towns = {t["code"]: t for t in s["units"]}
    assert towns[WENTANG_TOWN]["figures"]["affected_population"] == 230
    assert towns[WENTANG_TOWN]["source"] == "township_report"
    assert all(v["superseded"] for v in towns[WENTANG_TOWN]["villages"])
    assert s["totals"]["affected_population"] == 237 and s["totals"]["deaths"] == 2

    # A deleted report stops counting.
    dev = officers["xinxi_xbp"]
    xbp = [p for p in summary("village")["units"] if p["code"] == XIBAIPO][0]
    dev.push(dev.op("disaster_report", xbp["report_id"], op="delete", base_version=1))
    assert summary()["totals"]["affected_population"] == 230


def test_summary_is_limited_to_the_callers_jurisdiction(officers, clock, auth, client):
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=100)
    _, res = push_one(officers["xinxi_dg"], report("初报", DONGGUAN, event_id=ev, affected_population=40))
    assert res["status"] == "applied"
    r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=auth.headers("xinxi_dg"))
    assert r.status_code == 200 and r.get_json()["totals"]["affected_population"] == 40
    r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=auth.headers("yuanshi"))
    assert r.status_code == 404
    r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=auth.headers("zhuren"),
                   query_string={"level": "province"})
    assert r.status_code == 400


# --------------------------------------------------------------------------- lateness

def test_lateness_first_report_forward_and_daily_followups(officers, clock, auth, client):
    # 10:00 CST (02:00 UTC): the disaster was learned of at 09:30 CST.
    learned = "2026-07-20T01:30:00Z"
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10, learned_at=learned)  # on time (30 min)
    clock.advance(minutes=45)  # 10:45 CST: 平山镇's first report 75 minutes after learning -> late
    _, res = push_one(officers["xinxi_dg"], report("初报", DONGGUAN, event_id=ev, learned=learned, affected_population=3))
    assert res["status"] == "applied"
    h = auth.headers("zhuren")

    def lateness():
        r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=h)
        return r.get_json()["lateness"]

    late = lateness()
    towns = {t["code"]: t for t in late["townships"]}
    assert towns[WENTANG_TOWN]["first_report_late"] is False
    assert towns["130131100000"]["first_report_late"] is True
    assert towns["130131100000"]["first_report_late_by_s"] == 15 * 60
    [county] = late["counties"]
    assert county["forward_due_at"] == "2026-07-20T04:00:00Z" and county["forward_late"] is False

    clock.set(clock.now.replace(hour=4, minute=1))  # 2 h 1 min after the county's first report
    late = lateness()
    assert late["counties"][0]["forward_late"] is True and late["counties"][0]["forward_overdue_open"] is True
    r = client.post(f"/api/v1/disasters/events/{ev}/forward", headers=h, json={"note": "已报市局"})
    assert r.status_code == 201
    late = lateness()
    assert late["counties"][0]["forwarded_at"] == "2026-07-20T04:01:00Z"
    assert late["counties"][0]["forward_late"] is True and late["counties"][0]["forward_overdue_open"] is False
    assert client.post(f"/api/v1/disasters/events/{ev}/forward", headers=h, json={}).status_code == 409

    # Next morning 07:00 CST (23:00 UTC): 温塘村 sends its daily 续报; 东关村 (平山镇) does not.
    clock.set(clock.now.replace(hour=23, minute=0))
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=ev, affected_population=12))
    assert res["status"] == "applied"
    late = lateness()
    assert not any(t["followup_late"] for t in late["townships"])  # 08:00 not reached yet
    clock.advance(hours=1, minutes=30)  # 08:30 CST on the 21st
    late = lateness()
    towns = {t["code"]: t for t in late["townships"]}
    assert towns[WENTANG_TOWN]["followup_late"] is False
    assert towns["130131100000"]["followup_late"] is True
    assert towns["130131100000"]["followups_missed"] == ["2026-07-21T00:00:00Z"]

    r = client.get("/api/v1/disasters/events", headers=h, query_string={"late": "1"})
    assert r.status_code == 200
    [item] = r.get_json()["items"]
    assert item["event_id"] == ev and item["late"] is True and item["totals"]["affected_population"] == 15

    # Once 平山镇's place is verified (核报) the township is stable: no more daily follow-ups are due.
    _, res = push_one(officers["xinxi_dg"], report("核报", DONGGUAN, event_id=ev, **{**FULL, "affected_population": 3}))
    assert res["status"] == "applied"
    clock.advance(days=1)
    towns = {t["code"]: t for t in lateness()["townships"]}
    assert towns["130131100000"]["stable"] is True and towns["130131100000"]["followup_late"] is False
    assert towns[WENTANG_TOWN]["followup_late"] is True
    # 温塘村 reports the disaster has stopped developing: no more daily follow-ups, the 核报 is next.
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=ev, affected_population=12,
                                                developing=False))
    assert res["status"] == "applied"
    clock.advance(days=1)
    towns = {t["code"]: t for t in lateness()["townships"]}
    assert towns[WENTANG_TOWN]["stable"] is True and towns[WENTANG_TOWN]["followup_late"] is False


def test_forward_on_time_and_only_by_county_command(officers, clock, auth, client):
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10)
    assert client.post(f"/api/v1/disasters/events/{ev}/forward", headers=auth.headers("xinxi"), json={}).status_code == 403
    clock.advance(minutes=50)
    r = client.post(f"/api/v1/disasters/events/{ev}/forward", headers=auth.headers("zhuren"), json={})
    assert r.status_code == 201
    r = client.get("/api/v1/disasters/events", headers=auth.headers("zhuren"))
    [item] = r.get_json()["items"]
    assert item["lateness"]["counties"][0]["forward_late"] is False
    # No learned_at: the deadline runs from the occurrence (00:30 UTC), and the report came at 02:00.
    assert item["late"] is True and item["lateness"]["townships"][0]["first_report_late"] is True
    assert client.get("/api/v1/disasters/events", headers=auth.headers("xinxi")).status_code == 403


# --------------------------------------------------------------------------- the county's 续报 and 核报

def forward(client, auth, ev, stage=None, user="zhuren", **body):
    if stage is not None:
        body["stage"] = stage
    return client.post(f"/api/v1/disasters/events/{ev}/forward", headers=auth.headers(user), json=body)


def county_lateness(client, auth, ev):
    r = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=auth.headers("zhuren"))
    assert r.status_code == 200, r.get_json()
    late = r.get_json()["lateness"]
    [county] = late["counties"]
    return county, late


def test_county_daily_followup_is_due_at_nine_on_time_late_and_not_once_stable(officers, clock, auth, client):
    # Monday 20 July, 10:00 CST: 温塘村's 初报; the county passes it on at 10:30.
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10)
    clock.advance(minutes=30)
    assert forward(client, auth, ev, note="已报市局").status_code == 201
    county, _ = county_lateness(client, auth, ev)
    # The first county 续报 is due the next morning at 09:00 CST (01:00 UTC).
    assert county["stable"] is False and county["followup_next_due_at"] == "2026-07-21T01:00:00Z"
    assert county["followup_late"] is False and county["followups_missed"] == []

    # Tuesday 08:30 CST: today's 续报 goes up within the 00:00–09:00 window.
    clock.set(datetime(2026, 7, 21, 0, 30))
    r = forward(client, auth, ev, "续报", note="截至昨日24时")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["stage"] == "续报" and r.get_json()["report_date"] == "2026-07-21"
    clock.set(datetime(2026, 7, 21, 1, 30))  # 09:30 CST: the deadline has passed, and was met
    county, _ = county_lateness(client, auth, ev)
    assert county["followup_late"] is False and county["followups_missed"] == []
    assert county["followup_forwarded_today"] is True and county["followup_last_report_date"] == "2026-07-21"
    assert county["followup_next_due_at"] == "2026-07-22T01:00:00Z"

    # Wednesday 09:01 CST: nothing went up this morning -> the county's 续报 is late.
    clock.set(datetime(2026, 7, 22, 1, 1))
    county, late = county_lateness(client, auth, ev)
    assert county["followup_late"] is True and county["followups_missed"] == ["2026-07-22T01:00:00Z"]
    assert county["followup_forwarded_today"] is False and late["late"] is True
    # Sent at 10:00 it is still that day's 续报, but it came after 09:00: the miss stays on record.
    clock.set(datetime(2026, 7, 22, 2, 0))
    r = forward(client, auth, ev, "续报")
    assert r.status_code == 201 and r.get_json()["report_date"] == "2026-07-22"
    county, _ = county_lateness(client, auth, ev)
    assert county["followup_late"] is True and county["followups_missed"] == ["2026-07-22T01:00:00Z"]

    # Thursday 08:00 CST: 温塘村 files its 核报 -> every place is stable, no county 续报 is due any more.
    clock.set(datetime(2026, 7, 23, 0, 0))
    _, res = push_one(officers["xinxi"], report("核报", WENTANG_VILLAGE, event_id=ev, **{**FULL, "affected_population": 12}))
    assert res["status"] == "applied"
    clock.set(datetime(2026, 7, 24, 3, 0))  # Friday 11:00 CST, no 续报 on Thursday or Friday
    county, _ = county_lateness(client, auth, ev)
    assert county["stable"] is True and county["followup_late"] is False
    assert county["followups_missed"] == [] and county["followup_next_due_at"] is None


def test_county_final_report_due_two_working_days_after_the_disaster_became_stable(officers, clock, auth, client):
    # Monday 10:00 CST: reports from 温塘镇 (温塘村) and 平山镇 (东关村); the county forwards the 初报.
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10)
    _, res = push_one(officers["xinxi_dg"], report("初报", DONGGUAN, event_id=ev, affected_population=4))
    assert res["status"] == "applied"
    assert forward(client, auth, ev).status_code == 201

    clock.set(datetime(2026, 7, 21, 0, 0))  # Tuesday 08:00 CST: 温塘村 verified, 东关村 still developing
    _, res = push_one(officers["xinxi"], report("核报", WENTANG_VILLAGE, event_id=ev, **{**FULL, "affected_population": 11}))
    assert res["status"] == "applied"
    county, _ = county_lateness(client, auth, ev)
    assert county["stable"] is False and county["final_due_at"] is None and county["final_late"] is False

    # Wednesday 15:00 CST: 东关村 reports the disaster stopped developing -> stable since then,
    # 核报 due two working days later: Friday 15:00 CST.
    clock.set(datetime(2026, 7, 22, 7, 0))
    _, res = push_one(officers["xinxi_dg"], report("续报", DONGGUAN, event_id=ev, affected_population=5, developing=False))
    assert res["status"] == "applied"
    county, _ = county_lateness(client, auth, ev)
    assert county["stable"] is True and county["stable_since"] == "2026-07-22T07:00:00Z"
    assert county["final_due_at"] == "2026-07-24T07:00:00Z" and county["final_late"] is False
    assert county["final_forwarded_at"] is None

    clock.set(datetime(2026, 7, 24, 7, 1))  # Friday 15:01 CST: no 核报 yet -> late
    county, late = county_lateness(client, auth, ev)
    assert county["final_late"] is True and late["late"] is True
    r = forward(client, auth, ev, "核报", note="核报表已报市局")
    assert r.status_code == 201 and r.get_json()["stage"] == "核报" and r.get_json()["report_date"] is None
    county, _ = county_lateness(client, auth, ev)
    assert county["final_forwarded_at"] == "2026-07-24T07:01:00Z" and county["final_late"] is True  # one minute over


def test_county_final_report_after_a_friday_is_due_on_tuesday(officers, clock, auth, client):
    clock.set(datetime(2026, 7, 24, 2, 0))  # Friday 24 July, 10:00 CST
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10, occurred="2026-07-24T01:30:00Z")
    assert forward(client, auth, ev).status_code == 201
    clock.set(datetime(2026, 7, 24, 7, 0))  # Friday 15:00 CST: stable
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=ev, occurred="2026-07-24T01:30:00Z",
                                                affected_population=10, developing=False))
    assert res["status"] == "applied"
    county, _ = county_lateness(client, auth, ev)
    # Saturday and Sunday do not count: Monday is the first working day, Tuesday 15:00 CST the deadline.
    assert county["final_due_at"] == "2026-07-28T07:00:00Z" and county["followup_next_due_at"] is None
    clock.set(datetime(2026, 7, 27, 2, 0))  # Monday 10:00 CST
    assert forward(client, auth, ev, "核报").status_code == 201
    clock.set(datetime(2026, 7, 29, 2, 0))
    county, late = county_lateness(client, auth, ev)
    assert county["final_late"] is False and county["final_forwarded_at"] == "2026-07-27T02:00:00Z"
    assert late["late"] is False


@pytest.mark.parametrize("start, due", [
    (datetime(2026, 7, 20, 2, 0), datetime(2026, 7, 22, 2, 0)),     # Monday 10:00 CST -> Wednesday 10:00
    (datetime(2026, 7, 23, 7, 0), datetime(2026, 7, 27, 7, 0)),     # Thursday 15:00 -> Monday 15:00
    (datetime(2026, 7, 24, 15, 30), datetime(2026, 7, 28, 15, 30)),  # Friday 23:30 CST -> Tuesday 23:30
    # Saturday 01:00 CST is still Friday in UTC: the China date counts. A weekend start counts
    # from Monday 00:00, so two working days end Tuesday 24:00 (Wednesday 00:00 CST).
    (datetime(2026, 7, 24, 17, 0), datetime(2026, 7, 28, 16, 0)),
    (datetime(2026, 7, 26, 15, 0), datetime(2026, 7, 28, 16, 0)),   # Sunday 23:00 CST
])
def test_two_working_days_skip_the_weekend_in_china_time(start, due):
    assert add_working_days(start, 2) == due


def test_forwarding_mistakes_are_refused_with_the_reason(officers, clock, auth, client):
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=10)
    r = forward(client, auth, ev, "复报")
    assert r.status_code == 422 and "初报、续报 或 核报" in r.get_json()["detail"]
    r = forward(client, auth, ev, "续报")
    assert r.status_code == 409 and "请先转报初报" in r.get_json()["detail"]
    assert forward(client, auth, ev, "续报", user="xinxi").status_code == 403

    clock.advance(minutes=50)  # 10:50 CST
    assert forward(client, auth, ev, "初报").status_code == 201
    r = forward(client, auth, ev)
    assert r.status_code == 409 and "2026-07-20 10:50（北京时间）" in r.get_json()["detail"]
    assert r.get_json()["forwarded_at"] == "2026-07-20T02:50:00Z"

    # 温塘村 is still developing: no 核报 yet (the place is named).
    r = forward(client, auth, ev, "核报")
    assert r.status_code == 409 and "灾情仍在发展" in r.get_json()["detail"] and "温塘村" in r.get_json()["detail"]

    clock.set(datetime(2026, 7, 20, 23, 0))  # Tuesday 07:00 CST
    assert forward(client, auth, ev, "续报").status_code == 201
    clock.advance(hours=3)  # 10:00 CST, same day
    r = forward(client, auth, ev, "续报")
    assert r.status_code == 409 and "2026-07-21 的续报已于 2026-07-21 07:00（北京时间）报送过" in r.get_json()["detail"]
    clock.advance(hours=16)  # Wednesday 02:00 CST: a new day, a new 续报
    assert forward(client, auth, ev, "续报").status_code == 201

    # 温塘村 stops developing: the 核报 is due, not another 续报.
    _, res = push_one(officers["xinxi"], report("续报", WENTANG_VILLAGE, event_id=ev, affected_population=12, developing=False))
    assert res["status"] == "applied"
    clock.advance(days=1)
    r = forward(client, auth, ev, "续报")
    assert r.status_code == 409 and r.get_json()["detail"] == "灾情已稳定，应报核报。"
    assert forward(client, auth, ev, "核报").status_code == 201
    r = forward(client, auth, ev, "核报")
    assert r.status_code == 409 and "报送过该事件的核报" in r.get_json()["detail"]


def test_ten_dead_or_missing_goes_straight_up(officers, clock, auth, client):
    ev = first_report(officers["xinxi"], WENTANG_VILLAGE, affected_population=300, deaths=6, missing=4)
    s = client.get(f"/api/v1/disasters/events/{ev}/summary", headers=auth.headers("zhuren")).get_json()
    assert s["direct_report_required"] is True


def test_schema_names_carry_the_chinese_terms():
    from field.disasters import DisasterReportSchema
    f = DisasterReportSchema().fields
    assert f["affected_population"].metadata["zh"] == "受灾人口"
    assert f["crop_failed_ha"].metadata == {"zh": "农作物绝收面积", "unit": "公顷"}
    assert f["direct_loss_wan_yuan"].metadata["unit"] == "万元"

