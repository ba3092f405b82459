"""The console's read models (/api/v1/console/...) and its place in the web app (issue #10)."""
import uuid
from datetime import timedelta

import pytest

from server.config import ConfigError, from_env
from tests.conftest import assert_problem


def _hazard(title, level, code="130131100201", lat=38.262, lon=114.201, **extra):
    return {"title": title, "risk_level": level, "jurisdiction_code": code,
            "location": {"lat": lat, "lon": lon, "accuracy": 6}, **extra}


@pytest.fixture
def hazards(device):
    """Three hazards snapped by the grid member in his village, and one in the next county."""
    wangge = device("wangge")
    ids = {}
    for title, level in (("液化气站 消防通道堵塞", "红"), ("仓库 电线私拉乱接", "黄"), ("路边 护栏缺失", "蓝")):
        rid = str(uuid.uuid4())
        res = wangge.push(wangge.op("hazard", rid, data=_hazard(title, level)))["results"][0]
        assert res["status"] == "applied", res
        ids[title] = rid
    other = device("yuanshi")
    rid = str(uuid.uuid4())
    other.push(other.op("hazard", rid, data=_hazard("元氏县 隐患", "红", code="130132100201",
                                                    lat=37.766, lon=114.525)))
    ids["other county"] = rid
    return ids


def test_console_is_served_at_console(client):
    r = client.get("/console/")
    assert r.status_code == 200 and b"console.css" in r.data
    assert "max-age=0" in r.headers["Cache-Control"]  # a new console is picked up on the next load
    assert client.get("/console").status_code == 308
    assert client.get("/console/api.js").status_code == 200
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/vendor/leaflet.markercluster/leaflet.markercluster.js").status_code == 200


def test_config_gives_tiles_from_settings(app, client, auth):
    body = client.get("/api/v1/console/config", headers=auth.headers("zhuren")).get_json()
    assert body["map"]["tile_url"] == "" and body["map"]["center"] == [38.26, 114.15]
    assert body["user"]["username"] == "zhuren"
    app.config["MAP_TILE_URL"] = "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}"
    body = client.get("/api/v1/console/config", headers=auth.headers("zhuren")).get_json()
    assert "tianditu" in body["map"]["tile_url"]


def test_map_settings_are_parsed_strictly(tmp_path):
    cfg = from_env({"MAP_CENTER": "38.3, 114.2", "MAP_ZOOM": "12"}, instance_dir=tmp_path)
    assert cfg["MAP_CENTER"] == [38.3, 114.2] and cfg["MAP_ZOOM"] == 12
    with pytest.raises(ConfigError):
        from_env({"MAP_CENTER": "somewhere"}, instance_dir=tmp_path)
    with pytest.raises(ConfigError):
        from_env({"MAP_CENTER": "138,114"}, instance_dir=tmp_path)
    with pytest.raises(ConfigError):
        from_env({"CONSOLE_POSITIONS_POLL_MS": "10"}, instance_dir=tmp_path)


def test_queue_filters_sorts_counts_and_scope(client, auth, hazards):
    h = auth.headers("zhuren")
    body = client.get("/api/v1/console/queue", headers=h, query_string={"status": ""}).get_json()
    titles = [i["title"] for i in body["items"]]
    assert len(titles) == 3 and "元氏县 隐患" not in titles  # the next county is out of scope
    assert body["counts"]["type"] == {"hazard": 3} and body["counts"]["level"] == {"红": 1, "黄": 1, "蓝": 1}
    assert body["counts"]["status"] == {"reported": 3} and body["total"] == 3

    risk = client.get("/api/v1/console/queue", headers=h, query_string={"sort": "risk"}).get_json()
    assert [i["level"] for i in risk["items"]] == ["红", "黄", "蓝"]
    one = client.get("/api/v1/console/queue", headers=h, query_string={"level": "黄,蓝", "per_page": 1, "page": 2}).get_json()
    assert one["total"] == 2 and len(one["items"]) == 1 and one["page"] == 2
    assert client.get("/api/v1/console/queue", headers=h, query_string={"jurisdiction": "130131101000"}).get_json()["total"] == 0
    assert client.get("/api/v1/console/queue", headers=h, query_string={"type": "inspection"}).get_json()["total"] == 0
    found = client.get("/api/v1/console/queue", headers=h, query_string={"q": "护栏"}).get_json()
    assert [i["title"] for i in found["items"]] == ["路边 护栏缺失"]
    assert found["items"][0]["has_location"] is True
    assert client.get("/api/v1/console/queue", headers=h, query_string={"date_from": "2000-01-01", "date_to": "2000-01-02"}).get_json()["total"] == 0

    assert_problem(client.get("/api/v1/console/queue", headers=h, query_string={"type": "weather"}), 422)
    assert_problem(client.get("/api/v1/console/queue", headers=h, query_string={"sort": "colour"}), 422)
    assert_problem(client.get("/api/v1/console/queue", headers=h, query_string={"date_from": "yesterday"}), 422)
    assert_problem(client.get("/api/v1/console/queue", headers=auth.headers("wangge")), 403)


def test_overdue_follows_the_work_order(app, client, auth, hazards):
    """A hazard is overdue while its 处置单 runs past the deadline, as the review module counts it."""
    h = auth.headers("zhuren")
    rid = hazards["液化气站 消防通道堵塞"]
    zhifa = auth.login("zhifa1")["user"]["id"]
    r = client.post(f"/api/v1/review/items/hazard/{rid}/verify", headers=h, json={"comment": "属实"})
    assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/v1/review/items/hazard/{rid}/assign", headers=h, json={
        "unit": "平山县冀中液化气站", "person_id": zhifa, "deadline": "2026-01-01T00:00:00Z"})
    assert r.status_code == 200, r.get_json()
    body = client.get("/api/v1/console/queue", headers=h, query_string={"overdue": "1", "status": ""}).get_json()
    assert [i["id"] for i in body["items"]] == [rid] and body["items"][0]["overdue"] is True
    assert body["counts"]["overdue"] == 1
    # "waiting" (the default view) holds what needs a supervisor, and the overdue 处置单.
    waiting = client.get("/api/v1/console/queue", headers=h, query_string={"status": "waiting"}).get_json()
    assert {i["id"] for i in waiting["items"]} == {hazards["仓库 电线私拉乱接"], hazards["路边 护栏缺失"], rid}


def test_record_with_conflicts_and_scope(client, auth, device, hazards):
    h = auth.headers("zhuren")
    rid = hazards["路边 护栏缺失"]
    phone_a, phone_b = device("wangge"), device("wangge")
    phone_a.push(phone_a.op("hazard", rid, base_version=1, data={"description": "护栏缺失约 20 米"}))
    phone_b.push(phone_b.op("hazard", rid, base_version=1, data={"description": "护栏缺失约 5 米"}))
    body = client.get(f"/api/v1/console/records/hazard/{rid}", headers=h).get_json()
    assert body["data"]["title"] == "路边 护栏缺失" and body["owner_name"] == "刘网格（东关村）"
    assert body["jurisdiction_name"] == "东关村"
    assert [c["field"] for c in body["conflicts"]] == ["description"]
    assert_problem(client.get(f"/api/v1/console/records/hazard/{hazards['other county']}", headers=h), 404)
    assert_problem(client.get(f"/api/v1/console/records/inspection/{rid}", headers=h), 404)


def test_map_layers_are_compact_points(client, auth, hazards):
    h = auth.headers("zhuren")
    body = client.get("/api/v1/console/map/hazard", headers=h).get_json()
    assert len(body["points"]) == 3
    rid, lat, lon, level, status, overdue = body["points"][0]
    assert isinstance(lat, float) and level in ("红", "黄", "蓝") and status == "reported" and overdue is False
    ent = client.get("/api/v1/console/map/enterprise", headers=h).get_json()
    assert len(ent["points"]) == 12  # the county's enterprises; the next county's one is out of scope
    assert_problem(client.get("/api/v1/console/map/weather", headers=h), 404)


def test_disaster_chain_per_place(client, auth, device):
    phone = device("xinxi")
    first = str(uuid.uuid4())
    base = {"disaster_types": ["暴雨洪涝"], "occurred_at": "2026-07-20T02:00:00Z", "jurisdiction_code": "130131101201",
            "affected_population": 120, "deaths": 0, "missing": 0, "relocated": 30}
    res = phone.push(phone.op("disaster_report", first, data={**base, "stage": "初报", "title": "温塘村 暴雨"}))["results"][0]
    assert res["status"] == "applied", res
    second = str(uuid.uuid4())
    res = phone.push(phone.op("disaster_report", second, data={**base, "stage": "续报", "event_id": first,
                                                                 "affected_population": 300, "relocated": 80}))["results"][0]
    assert res["status"] == "applied", res
    body = client.get(f"/api/v1/console/disasters/{first}/chain", headers=auth.headers("zhuren")).get_json()
    assert [p["name"] for p in body["places"]] == ["温塘村"]
    chain = body["places"][0]["reports"]
    assert [r["stage"] for r in chain] == ["初报", "续报"]
    assert chain[1]["figures"]["affected_population"] == 300
    assert_problem(client.get("/api/v1/console/disasters/nope/chain", headers=auth.headers("zhuren")), 404)


def test_dashboard_counts_what_loops_does_not(client, auth, hazards):
    body = client.get("/api/v1/console/dashboard", headers=auth.headers("zhuren")).get_json()
    assert set(body) == {"inspection_items_by_result", "inspections_by_status", "disaster_reports_by_stage",
                         "field_reports_by_status"}
