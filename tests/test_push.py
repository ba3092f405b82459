"""Web push through a real RQ worker to a push service on loopback that checks VAPID and
decrypts the payload with real RFC 8291 crypto."""
import pytest
from rq import SimpleWorker
from sqlalchemy import select

from push import delivery
from push.models import PushSubscription
from server.extensions import db
from server.queue import get_redis
from tests.conftest import assert_problem
from tests.push_service import PushService


@pytest.fixture
def push_service(app):
    app.config["PUSH_RETRY_BACKOFF"] = [0, 0, 0]
    get_redis().delete("rq:queue:push")
    with PushService() as service:
        yield service


def run_push_worker():
    SimpleWorker(["push"], connection=get_redis()).work(burst=True)


def subscribe(client, auth, service, username, name=None):
    sub = service.subscribe(name or username)
    r = client.post("/api/v1/push/subscriptions", json=sub.json(), headers=auth.headers(username))
    assert r.status_code == 201, r.get_json()
    return sub


def test_vapid_public_key_is_served_and_stable(client):
    k1 = client.get("/api/v1/push/vapid-public-key").get_json()["public_key"]
    k2 = client.get("/api/v1/push/vapid-public-key").get_json()["public_key"]
    assert k1 == k2 and len(k1) == 87  # 65-byte uncompressed P-256 point, base64url


def test_notification_arrives_signed_and_encrypted(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1")
    msg = delivery.message("assignment", "新的处置单", "平山县华兴化工有限公司 储罐区隐患，限期 2026-12-01", "/#/hazards/x",
                           severity="high")
    assert delivery.notify([demo["zhifa1"].id], msg) == 1
    run_push_worker()
    assert push_service.rejected == []
    [got] = push_service.received
    assert got["payload"]["title"] == "新的处置单" and got["payload"]["kind"] == "assignment"
    assert got["urgency"] == "high" and int(got["ttl"]) > 0


def test_resubscribe_replaces_the_device_subscription(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1", "old")
    subscribe(client, auth, push_service, "zhifa1", "new")
    endpoints = db.session.scalars(select(PushSubscription.endpoint)).all()
    assert [e.rsplit("/", 1)[-1] for e in endpoints] == ["new"]


def test_gone_subscriptions_are_removed(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1")
    subscribe(client, auth, push_service, "zhifa2")
    push_service.answer("zhifa1", 410)
    push_service.answer("zhifa2", 404)
    delivery.notify([demo["zhifa1"].id, demo["zhifa2"].id], delivery.message("warning", "预警", "测试", "/"))
    run_push_worker()
    assert db.session.scalars(select(PushSubscription)).all() == []


def test_429_and_5xx_are_retried_until_delivered(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1")
    push_service.answer("zhifa1", 429, 503)
    delivery.notify([demo["zhifa1"].id], delivery.message("overdue", "处置单逾期", "已逾期 1 天", "/"))
    run_push_worker()
    assert len(push_service.received) == 1
    assert db.session.scalars(select(PushSubscription)).one().last_success_at is not None


def test_retries_are_bounded(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1")
    push_service.answer("zhifa1", *([500] * 10))
    delivery.notify([demo["zhifa1"].id], delivery.message("overdue", "处置单逾期", "x", "/"))
    run_push_worker()
    assert push_service.received == []
    assert push_service.answers["zhifa1"] == [500] * (10 - delivery.MAX_ATTEMPTS)


def test_opted_out_kind_is_not_sent(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "zhifa1")
    r = client.put("/api/v1/push/preferences", json={"enabled": {"warning": False}}, headers=auth.headers("zhifa1"))
    assert r.get_json()["preferences"]["warning"]["enabled"] is False
    assert delivery.notify([demo["zhifa1"].id], delivery.message("warning", "预警", "x", "/")) == 0
    assert delivery.notify([demo["zhifa1"].id], delivery.message("assignment", "处置单", "x", "/")) == 1


def test_area_notification_reaches_nobody_in_another_jurisdiction(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "wangge")     # 平山县 东关村
    subscribe(client, auth, push_service, "yuanshi")    # 元氏县
    n = delivery.notify_jurisdiction("130131", delivery.message("warning", "暴雨红色预警", "请立即转移", "/", "high",
                                                                 level="red"))
    run_push_worker()
    assert n == 1 and [m["name"] for m in push_service.received] == ["wangge"]


def test_revoked_device_loses_its_subscription(client, auth, demo, push_service):
    body = auth.login("zhifa1", device_id="lost-phone-9")
    sub = push_service.subscribe("lost")
    client.post("/api/v1/push/subscriptions", json=sub.json(),
                headers={"Authorization": f"Bearer {body['access_token']}"})
    client.post("/api/v1/devices/lost-phone-9/revoke", headers=auth.headers("admin"))
    assert db.session.scalars(select(PushSubscription)).all() == []


def test_bad_subscription_and_preferences_are_422(client, auth, demo):
    h = auth.headers("zhifa1")
    assert_problem(client.post("/api/v1/push/subscriptions", json={"endpoint": "not a url"}, headers=h), 422)
    assert_problem(client.put("/api/v1/push/preferences", json={"enabled": {"spam": True}}, headers=h), 422)


def test_warning_reaches_the_area_by_push_and_by_pull(client, auth, demo, push_service):
    subscribe(client, auth, push_service, "wangge")     # a village of 平山县
    subscribe(client, auth, push_service, "yuanshi")    # 元氏县: outside the area
    r = client.post("/api/v1/push/warnings", headers=auth.headers("zhuren"), json={
        "level": "red", "title": "暴雨红色预警", "text": "未来 6 小时降雨量将达 100 毫米以上，请危险区域人员立即转移。",
        "jurisdiction_code": "130131000000", "valid_until": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["devices_notified"] == 1
    run_push_worker()
    [got] = push_service.received
    assert got["name"] == "wangge" and got["payload"]["level"] == "red" and got["urgency"] == "high"
    assert "暴雨红色预警" in got["payload"]["title"]
    # A phone that missed the push still gets the warning on its next pull...
    changes = client.get("/api/v1/sync/pull", headers=auth.headers("wangge")).get_json()["changes"]
    assert [c["data"]["title"] for c in changes if c["entity"] == "warning"] == ["暴雨红色预警"]
    # ...and the next county sees nothing.
    changes = client.get("/api/v1/sync/pull", headers=auth.headers("yuanshi")).get_json()["changes"]
    assert [c for c in changes if c["entity"] == "warning"] == []
    assert len(client.get("/api/v1/push/warnings", headers=auth.headers("wangge")).get_json()["items"]) == 1


def test_only_supervisors_issue_warnings_and_only_in_their_area(client, auth, demo):
    body = {"level": "blue", "title": "大风蓝色预警", "text": "注意防范", "jurisdiction_code": "130131000000",
            "valid_until": "2099-01-01T00:00:00Z"}
    assert_problem(client.post("/api/v1/push/warnings", json=body, headers=auth.headers("wangge")), 403)
    outside = {**body, "jurisdiction_code": "130132000000"}
    assert_problem(client.post("/api/v1/push/warnings", json=outside, headers=auth.headers("zhuren")), 403)
    bad = {**body, "level": "purple", "valid_until": "soon"}
    errors = assert_problem(client.post("/api/v1/push/warnings", json=bad, headers=auth.headers("zhuren")), 422)["errors"]
    assert set(errors) == {"level", "valid_until"}


def test_document_waiting_for_signature_tells_the_supervisors_above(client, auth, demo, push_service, law_library):
    from tests.test_legal_documents import _draft, _post
    zhuren = subscribe(client, auth, push_service, "zhuren")
    subscribe(client, auth, push_service, "fazhi")
    subscribe(client, auth, push_service, "zhifa2")  # an inspector is not asked to sign
    doc = _draft(client, auth, "rectification_order")
    run_push_worker()
    got = sorted(m["name"] for m in push_service.received)
    assert got == ["fazhi", "zhuren"], got
    payload = push_service.received[0]["payload"]
    assert payload["kind"] == "signature_needed" and payload["title"] == "文书待签批"
    assert payload["url"] == f"/console/#/documents/{doc['id']}"
    # 法制审核 passed by fazhi: only the other supervisor is asked to sign.
    push_service.received.clear()
    major = _draft(client, auth, "penalty_decision", case_id="insp-2", penalty="罚款人民币三万元")
    assert _post(client, auth, major["id"], "legal-review", "zhifa1", action="submit").status_code == 200
    run_push_worker()
    assert {m["payload"]["title"] for m in push_service.received} == {"文书待法制审核"}
    push_service.received.clear()
    assert _post(client, auth, major["id"], "legal-review", "fazhi", action="approve").status_code == 200
    run_push_worker()
    assert [m["name"] for m in push_service.received] == ["zhuren"] and zhuren
