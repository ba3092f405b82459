"""The field PWA in real headless Chromium (issue #9) and its push handling (issue #11).

The app runs on a free loopback port from a thread (pwa/testing.py); Chromium gets a fake
camera and microphone and a GPS fix in 平山县. Screenshots go to artifacts/.
"""
import io
import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pwa import testing as pt

pytestmark = pytest.mark.skipif(not pt.chromium_available(),
                                reason=f"{pt.CHROMIUM} is missing: run scripts/install.sh to install Chromium")

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pwa-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = pt.launch(p)
        yield b
        b.close()


@pytest.fixture
def live(app, demo):
    with pt.LiveServer(app) as server:
        yield server


@pytest.fixture
def context(browser, live):
    ctx = pt.new_context(browser, live.url)
    errors = []
    ctx.on("weberror", lambda e: errors.append(str(e.error)))
    ctx.on("console", lambda m: m.type in ("error", "warning") and print("console:", m.type, m.text))
    ctx.errors = errors
    yield ctx
    ctx.close()


def records(entity):
    from sync.models import SyncRecord
    from server.extensions import db
    db.session.expire_all()
    return db.session.scalars(select(SyncRecord).where(SyncRecord.entity == entity, SyncRecord.deleted.is_(False))).all()


def blob_count(sha=None):
    from media.models import Blob
    from server.extensions import db
    stmt = select(func.count()).select_from(Blob)
    if sha:
        stmt = stmt.where(Blob.sha256 == sha)
    return db.session.scalar(stmt)


def fill_hazard(page, title):
    page.goto("/#/hazard/new")
    page.wait_for_selector("form.record-form[data-entity=hazard]")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "配电箱门未上锁，内部线路裸露")
    page.select_option("select[name=risk_level]", "橙")
    page.click("[data-action=camera]")
    page.wait_for_function("document.querySelector('video.camera').videoWidth > 0")
    page.click("[data-action=snap]")
    page.wait_for_selector("[data-list=photos] .thumb img")
    page.click("[data-action=record]")
    page.wait_for_timeout(1200)
    page.click("[data-action=record]")
    page.wait_for_selector("[data-list=voice_notes] .thumb audio")
    page.wait_for_function("!document.querySelector('.loc').textContent.includes('定位中')")
    assert "±" in page.inner_text(".loc")


def test_offline_capture_reload_and_sync_once(context, live):
    page = context.new_page()
    pt.login(page, "wangge")
    shot(page, "home")
    context.set_offline(True)

    fill_hazard(page, "配电箱未上锁")
    shot(page, "hazard-form")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")

    page.goto("/#/disaster?stage=初报")
    page.wait_for_selector("form.record-form[data-entity=disaster_report]")
    page.check("input[name=disaster_types][value=暴雨洪涝]")
    page.fill("input[name=affected_population]", "120")
    page.fill("input[name=deaths]", "200")  # more deaths than affected: the form says so
    page.click("[data-action=save]")
    page.wait_for_selector(".errors li")
    assert "不能大于受灾人口" in page.inner_text(".errors")
    shot(page, "disaster-validation")
    page.fill("input[name=deaths]", "0")
    page.fill("input[name=relocated]", "35")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")
    # The next day's 续报, still offline, chained to the 初报 made on this phone.
    page.click("a.btn:text('续报')")
    page.wait_for_selector("form.record-form[data-entity=disaster_report]")
    assert page.input_value("select[name=stage]") == "续报" and page.input_value("input[name=affected_population]") == "120"
    page.fill("input[name=affected_population]", "150")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")

    # A reload with no network opens the app from the service worker, with both records.
    page.evaluate("location.hash = '#/'")
    page.reload()
    page.wait_for_selector("#mine .item")
    text = page.inner_text("#mine")
    assert "配电箱未上锁" in text and "暴雨洪涝初报" in text and "暴雨洪涝续报" in text and "待同步" in text
    assert page.get_attribute("#sync-pill", "data-pending") == "3"
    shot(page, "offline-reloaded")

    # The last resort: everything unsent as one file.
    page.goto("/#/sync")
    page.wait_for_selector("#export")
    assert page.inner_text("#ops-waiting") == "3" and page.inner_text("#uploads-waiting") == "2"
    with page.expect_download() as dl:
        page.click("#export")
    doc = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert doc["format"] == "danbing-unsent/1" and len(doc["ops"]) == 3 and len(doc["records"]) == 3
    assert sorted(f["kind"] for f in doc["files"]) == ["photo", "voice"] and all(f["base64"] for f in doc["files"])
    shot(page, "sync-panel-offline")

    assert records("hazard") == [] and records("disaster_report") == []
    context.set_offline(False)
    page.click("#sync-now")
    pt.wait_synced(page)
    page.goto("/#/")
    page.wait_for_selector("#mine .item")
    assert "待同步" not in page.inner_text("#mine")
    shot(page, "synced")

    hazards, reports = records("hazard"), sorted(records("disaster_report"), key=lambda r: r.data["stage"])
    assert len(hazards) == 1 and [r.data["stage"] for r in reports] == ["初报", "续报"]
    assert reports[1].data["event_id"] == reports[0].id == reports[0].data["event_id"]
    assert reports[1].data["affected_population"] == 150
    h = hazards[0].data
    assert h["title"] == "配电箱未上锁" and h["risk_level"] == "橙" and h["location"]["accuracy"] > 0
    assert len(h["photos"]) == 1 and len(h["voice_notes"]) == 1
    assert reports[0].data["stage"] == "初报" and reports[0].data["relocated"] == 35
    # Each blob once on the server, and the stored bytes are the phone's original.
    from media.storage import get_store
    store = get_store()
    for sha in h["photos"] + h["voice_notes"]:
        assert blob_count(sha) == 1
        with store.open(sha) as f:
            import hashlib
            assert hashlib.sha256(f.read()).hexdigest() == sha
    assert blob_count() == 2

    # Syncing again sends nothing twice.
    pt.outbox_call(page, "outbox.sync('again')")
    assert len(records("hazard")) == 1 and blob_count() == 2
    assert not context.errors, context.errors


def _big_jpeg():
    from PIL import Image
    im = Image.frombytes("RGB", (2000, 1500), os.urandom(2000 * 1500 * 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    return buf.getvalue()


class UploadLink:
    """WSGI middleware on the live server: logs tus requests and, when ``cut_after`` is set,
    drops the link (503, as a failing proxy would) for every PATCH after that many."""

    def __init__(self):
        self.log, self.cut_after, self.patches = [], None, 0

    def __call__(self, app):
        def wrapped(environ, start_response):
            if environ["PATH_INFO"].startswith("/api/v1/uploads"):
                method = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE") or environ["REQUEST_METHOD"]
                if method == "PATCH":
                    self.patches += 1
                    if self.cut_after is not None and self.patches > self.cut_after:
                        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                        self.log.append((method, environ.get("HTTP_UPLOAD_OFFSET"), "cut"))
                        return [b"link down"]
                self.log.append((method, environ.get("HTTP_UPLOAD_OFFSET"), "ok"))
            return app(environ, start_response)
        return wrapped


def test_interrupted_upload_resumes_after_restart(browser, app, demo):
    link = UploadLink()
    link.cut_after = 2  # two chunks arrive, then the link fails
    with pt.LiveServer(app, middleware=link) as live:
        context = pt.new_context(browser, live.url)
        page = context.new_page()
        pt.login(page, "wangge")
        data = _big_jpeg()
        assert len(data) > 4 * 512 * 1024
        page.goto("/#/hazard/new")
        page.wait_for_selector("form.record-form")
        page.fill("input[name=title]", "仓库消防通道堵塞")
        page.set_input_files("input[type=file]", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": data}])
        page.wait_for_selector("[data-list=photos] .thumb img")
        page.click("[data-action=save]")
        for _ in range(100):
            if any(r[2] == "cut" for r in link.log):
                break
            page.wait_for_timeout(200)
        assert any(r[2] == "cut" for r in link.log), link.log
        page.goto("/#/sync")
        page.wait_for_selector("#uploads .upload")
        shot(page, "upload-interrupted")
        offset = pt.outbox_call(page, "outbox.status().then(s => s.uploads[0].offset)")
        assert offset == 2 * 512 * 1024
        page.close()  # the app is killed mid-upload

        link.cut_after, before = None, len(link.log)
        page = context.new_page()
        page.goto("/#/sync")
        page.wait_for_selector("#sync-summary")
        pt.wait_synced(page, timeout=60000)
        resumed = link.log[before:]
        # Resumed where it stopped: no new upload created, the first PATCH starts at 1 MiB.
        assert [m for m, _, _ in resumed if m == "POST"] == [], resumed
        patches = [int(o) for m, o, _ in resumed if m == "PATCH"]
        assert patches[0] == 2 * 512 * 1024, resumed
        sha = records("hazard")[0].data["photos"][0]
        import hashlib
        assert hashlib.sha256(data).hexdigest() == sha
        assert blob_count(sha) == 1 and blob_count() == 1
        context.close()


def test_rejected_op_is_shown_and_fixed(context, live):
    page = context.new_page()
    pt.login(page, "wangge")
    rid = str(uuid.uuid4())
    # An op the server refuses (as from an older app version without the title limit).
    pt.outbox_call(page, f"outbox.save('hazard', '{rid}', {{title: '长'.repeat(201), risk_level: '黄'}}).then(() => outbox.sync('t'))")
    page.goto("/#/sync")
    page.wait_for_selector(f"#rejected .reject[data-record='{rid}']")
    assert "200" in page.inner_text("#rejected")
    shot(page, "rejected")
    page.click(f"#rejected .reject[data-record='{rid}'] a.btn")
    page.wait_for_selector(".rejected-box")
    page.fill("input[name=title]", "楼道堆放易燃物")
    page.click("[data-action=save]")
    page.wait_for_selector(f"section.card[data-id='{rid}']")  # resent: queued, then synced
    status = pt.wait_synced(page)
    assert not status["rejected"], status["rejected"]
    page.goto("/#/sync")
    page.wait_for_selector("#rejected")
    assert page.locator("#rejected .reject").count() == 0
    recs = records("hazard")
    assert [r.id for r in recs] == [rid] and recs[0].data["title"] == "楼道堆放易燃物"


def test_conflict_shows_both_versions(context, live, client, auth):
    page = context.new_page()
    pt.login(page, "wangge")
    rid = str(uuid.uuid4())
    pt.outbox_call(page, f"outbox.save('hazard', '{rid}', {{title: '河道护栏缺失', description: '原描述', risk_level: '黄'}}).then(() => outbox.sync('t'))")
    pt.wait_synced(page)
    assert records("hazard")[0].version == 1

    context.set_offline(True)
    page.goto(f"/#/hazard/{rid}/edit")
    page.wait_for_selector("form.record-form")
    page.fill("textarea[name=description]", "手机上的描述：护栏缺失约 30 米")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")

    # Meanwhile the supervisor changes the same field on the server.
    token = auth.login("zhuren")
    r = client.post("/api/v1/sync/push", headers={"Authorization": f"Bearer {token['access_token']}"}, json={
        "device_id": token["device_id"], "ops": [{"op_id": str(uuid.uuid4()), "entity": "hazard", "id": rid,
                                                 "op": "upsert", "base_version": 1, "data": {"description": "审核人员的描述"}}]})
    assert r.get_json()["results"][0]["status"] == "applied", r.get_json()

    context.set_offline(False)
    pt.outbox_call(page, "outbox.sync('t')")
    pt.wait_synced(page)
    page.goto("/#/sync")
    page.wait_for_selector(f"#conflicts .conflict[data-record='{rid}'] .server table")
    text = page.inner_text("#conflicts")
    assert "手机上的描述" in text and "审核人员的描述" in text
    shot(page, "conflict")


def test_shared_phone_keeps_each_users_work_apart(context, live):
    page = context.new_page()
    pt.login(page, "wangge")
    context.set_offline(True)
    pt.outbox_call(page, "outbox.save('hazard', null, {title: '网格员未发送的隐患', risk_level: '蓝'})")
    context.set_offline(False)
    pt.outbox_call(page, "outbox.stop()")
    # Log out before it syncs (the route to push is held): nothing is deleted.
    context.route("**/api/v1/sync/push", lambda route: route.abort())
    page.goto("/#/")
    page.click("text=退出登录")
    page.wait_for_selector("form.login")
    pt.login(page, "xinxi")
    assert "网格员未发送的隐患" not in page.inner_text("body")
    assert pt.outbox_call(page, "outbox.all().then(a => a.length)") == 0
    page.click("text=退出登录")
    context.unroute("**/api/v1/sync/push")
    pt.login(page, "wangge")
    assert "网格员未发送的隐患" in page.inner_text("#mine")
    pt.wait_synced(page)
    assert [r.data["title"] for r in records("hazard")] == ["网格员未发送的隐患"]


def device_value(page, key):
    """A value in the phone's device store (danbing-device), as JSON (typed arrays as lists)."""
    return page.evaluate("""(key) => new Promise((res, rej) => { const q = indexedDB.open('danbing-device');
        q.onsuccess = () => { const t = q.result.transaction('kv').objectStore('kv').get(key);
          t.onsuccess = () => { const v = t.result; q.result.close();
            res(v && v.salt ? {...v, salt: [...v.salt], hash: [...v.hash]} : v ?? null); }; };
        q.onerror = () => rej(q.error); })""", key)


def submit_login(page, username, password):
    """Fill the login form and wait for its answer (an error; this helper is for refusals)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("form.login button[type=submit]:not([disabled])")
    return page.inner_text("form.login .errors")


def wait_sent(page, timeout=45):
    """Until the outbox has sent everything, without starting a sync (the app must do it)."""
    import time
    end = time.monotonic() + timeout
    while True:
        s = pt.outbox_call(page, "outbox.status().then(s => ({pending: s.pending.length, uploads: s.uploads.length, "
                                 "syncing: s.syncing, lastSync: s.lastSync, lastError: s.lastError}))")
        if not s["syncing"] and not s["pending"] and not s["uploads"] and s["lastSync"]:
            return s
        assert time.monotonic() < end, f"the app did not sync by itself: {s}"
        page.wait_for_timeout(400)


def go_offline_logged_out(page, context, username="wangge"):
    """A user who has logged in on this phone before logs out, then the network goes."""
    pt.login(page, username)
    page.click("text=退出登录")
    page.wait_for_selector("form.login")
    context.set_offline(True)
    page.wait_for_selector("form.login .offline-hint:not([hidden])")


def test_offline_login_records_and_syncs_once_when_back_online(context, live):
    page = context.new_page()
    go_offline_logged_out(page, context)
    # The online login left a verifier on the phone, not the password.
    v = device_value(page, "offline_login:wangge")
    assert v["username"] == "wangge" and v["user"]["role"] == "grid_member" and "Danbing@2026" not in json.dumps(v)
    assert len(v["salt"]) == 16 and len(v["hash"]) == 32 and v["iterations"] >= 200000
    shot(page, "offline-login")

    pt.login(page, "wangge")  # no network: checked against the verifier
    assert page.inner_text("#session-note") == "离线登录：联网后自动验证"
    assert pt.outbox_call(page, "import('/js/api.js').then(api => api.tokens())") is None
    fill_hazard(page, "离线登录后发现的隐患")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")
    shot(page, "offline-login-recorded")
    assert records("hazard") == []

    # The network comes back: the app logs in online by itself and sends the hazard.
    context.set_offline(False)
    wait_sent(page)
    page.wait_for_selector("#session-note", state="hidden")
    assert pt.outbox_call(page, "import('/js/session.js').then(s => s.state())") == "online"
    assert pt.outbox_call(page, "import('/js/api.js').then(api => api.tokens()).then(t => !!t.access_token)")
    hazards = records("hazard")
    assert [h.data["title"] for h in hazards] == ["离线登录后发现的隐患"]
    assert len(hazards[0].data["photos"]) == 1 and len(hazards[0].data["voice_notes"]) == 1 and blob_count() == 2
    assert device_value(page, "offline_login:wangge")["salt"] != v["salt"]  # renewed by that login
    pt.outbox_call(page, "outbox.sync('again')")
    assert len(records("hazard")) == 1 and blob_count() == 2
    assert not context.errors, context.errors


def test_offline_login_refuses_wrong_password_and_new_user(context, live):
    page = context.new_page()
    go_offline_logged_out(page, context)
    assert submit_login(page, "wangge", "Danbing@2025").startswith("密码错误（离线登录）")
    shot(page, "offline-login-refused")
    assert submit_login(page, "xinxi", "Danbing@2026") == "本机尚未联网登录过该账号，首次登录需要联网"
    # Five wrong passwords lock the offline login, the right one included, until an online login.
    for _ in range(4):
        assert "密码错误（离线登录）" in submit_login(page, "wangge", "guess")
    assert "离线登录已锁定" in submit_login(page, "wangge", "Danbing@2026")
    assert page.is_hidden("#mine")
    context.set_offline(False)
    pt.login(page, "wangge")
    page.click("text=退出登录")
    page.wait_for_selector("form.login")
    context.set_offline(True)
    pt.login(page, "wangge")
    assert page.inner_text("#session-note") == "离线登录：联网后自动验证"


def test_offline_login_refused_by_server_keeps_unsent_work(context, live, demo):
    from server.extensions import db
    page = context.new_page()
    go_offline_logged_out(page, context)
    pt.login(page, "wangge")
    pt.outbox_call(page, "outbox.save('hazard', null, {title: '改密码前离线上报', risk_level: '黄'})")
    # Meanwhile the password is changed on the server (the old one leaked, say).
    demo["wangge"].set_password("Danbing@2027")
    db.session.commit()

    context.set_offline(False)
    page.wait_for_selector("form.login", timeout=30000)
    assert page.inner_text("form.login .errors") == "密码已变更或账号已停用，请联网重新登录"
    assert page.input_value("input[name=username]") == "wangge"
    shot(page, "offline-login-expired")
    assert device_value(page, "offline_login:wangge") is None and records("hazard") == []

    pt.login(page, "wangge", "Danbing@2027")
    assert "改密码前离线上报" in page.inner_text("#mine")
    pt.wait_synced(page)
    assert [r.data["title"] for r in records("hazard")] == ["改密码前离线上报"]


def test_reload_after_offline_login_asks_to_log_in_again(context, live):
    page = context.new_page()
    go_offline_logged_out(page, context)
    pt.login(page, "wangge")
    pt.outbox_call(page, "outbox.save('hazard', null, {title: '重开页面前的隐患', risk_level: '蓝'})")
    page.reload()  # the password held in memory is gone; the user and the work stay
    page.wait_for_selector("#mine .item")
    assert "联网后需重新登录" in page.inner_text("#session-note")

    context.set_offline(False)
    page.wait_for_selector("#session-note button:not([hidden])")
    status = pt.outbox_call(page, "outbox.sync('t').then(() => outbox.status())")
    assert "请重新登录" in status["lastError"] and len(status["pending"]) == 1 and records("hazard") == []
    shot(page, "offline-login-reloaded")
    page.click("#session-note button")
    page.wait_for_selector("form.login")
    assert page.input_value("input[name=username]") == "wangge"
    pt.login(page, "wangge")
    pt.wait_synced(page)
    assert [r.data["title"] for r in records("hazard")] == ["重开页面前的隐患"]


def wait_notifications(page, n, redeliver):
    # Now and then (1 run in 10 here, on any of the pushes) Chromium leaves a push delivered
    # through DevTools to a running, activated worker unhandled: the worker's push handler does
    # not run for 10 s and more, then runs at once when another push arrives (seen 2026-12-07
    # with the CDP worker events and a server request log: no error, no state change, no
    # request). So a push not shown within 5 s is delivered again, as a push service redelivers
    # an unacknowledged message. The late original may show as well: tagged notifications
    # replace each other, so counts stay exact, but the worker's log can hold extra "shown".
    for attempt in range(4):
        for _ in range(25):
            if page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => n.length)") >= n:
                return
            page.wait_for_timeout(200)
        redeliver()
    raise AssertionError("no notification shown")


def test_push_message_shown_in_chinese_and_click_routed(context, live):
    page = context.new_page()
    pt.login(page, "wangge")
    cdp = context.new_cdp_session(page)
    regs = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: regs.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    # A push delivered before the worker is active is dropped: wait for an active worker.
    page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    for _ in range(50):
        if any(not r.get("isDeleted") for r in regs):
            break
        page.wait_for_timeout(100)
    reg = next(r for r in regs if not r.get("isDeleted"))
    rid = str(uuid.uuid4())
    payload = {"kind": "warning", "title": "【红色预警】暴雨红色预警", "body": "未来3小时平山县有特大暴雨，请做好防范",
               "url": f"/#/warnings/{rid}", "severity": "high", "level": "red", "tag": f"warning-{rid}"}
    def deliver():
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": live.url, "registrationId": reg["registrationId"],
                                                      "data": json.dumps(payload, ensure_ascii=False)})
    deliver()
    wait_notifications(page, 1, redeliver=deliver)
    shown = page.evaluate("""navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({
        title: n.title, body: n.body, icon: n.icon, tag: n.tag, lang: n.lang, requireInteraction: n.requireInteraction,
        data: n.data})))""")
    assert len(shown) == 1
    n = shown[0]
    assert n["title"] == "【红色预警】暴雨红色预警" and "特大暴雨" in n["body"] and n["lang"] == "zh-CN"
    assert n["icon"].endswith("/icons/level-red.png") and n["requireInteraction"] is True
    assert n["data"]["url"] == f"/#/warnings/{rid}" and n["data"]["color"] == "#d32f2f"

    # An assignment with no level gets the default icon and a Chinese prefix.
    def deliver_assignment():
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": live.url, "registrationId": reg["registrationId"],
                                                      "data": json.dumps({"kind": "assignment", "title": "处置单指派给您",
                                                                          "body": "配电箱未上锁", "url": "/#/hazard/x",
                                                                          "severity": "normal"}, ensure_ascii=False)})
    deliver_assignment()
    wait_notifications(page, 2, redeliver=deliver_assignment)
    titles = page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title))")
    assert "【新任务】处置单指派给您" in titles

    # A click on the warning (the browser's own event, dispatched in the worker) opens its screen.
    sw = context.service_workers[0]
    sw.evaluate("""(tag) => self.registration.getNotifications({tag}).then(ns =>
        self.dispatchEvent(new NotificationEvent('notificationclick', {notification: ns[0]})))""", f"warning-{rid}")
    page.wait_for_function(f"location.hash === '#/warnings/{rid}'")
    page.wait_for_selector("main p.muted")
    log = page.evaluate("""new Promise(res => { const q = indexedDB.open('danbing-sw'); q.onsuccess = () => {
        const t = q.result.transaction('log').objectStore('log').getAll(); t.onsuccess = () => res(t.result); }; })""")
    assert [e["event"] for e in log][-1] == "clicked" and log[-1]["url"] == f"/#/warnings/{rid}"
    shown_log = [e for e in log if e["event"] == "shown"]
    assert {e["title"] for e in shown_log} == {"【红色预警】暴雨红色预警", "【新任务】处置单指派给您"}
    assert len(log) - 1 == len(shown_log)
    shot(page, "push-routed")


def _push_as(client, auth, username, entity, data, record_id=None):
    token = auth.login(username)
    rid = record_id or str(uuid.uuid4())
    r = client.post("/api/v1/sync/push", headers={"Authorization": f"Bearer {token['access_token']}"}, json={
        "device_id": token["device_id"], "ops": [{"op_id": str(uuid.uuid4()), "entity": entity, "id": rid,
                                                 "op": "upsert", "base_version": None, "data": data}]})
    res = r.get_json()["results"][0]
    assert res["status"] == "applied", res
    return rid


def test_inspector_checklist_evidence_findings_submit(context, live, client, auth, demo):
    from datetime import datetime, timezone
    ids = [demo["zhifa1"].id, demo["zhifa2"].id]
    rid = _push_as(client, auth, "zhifa1", "inspection", {
        "title": "平山县华兴化工有限公司 例行检查", "inspector_ids": ids, "status": "draft",
        "planned_at": datetime.now(timezone.utc).isoformat(),
        "items": [{"code": "A1", "title": "安全出口畅通"}, {"code": "A2", "title": "配电箱上锁"}]})
    page = context.new_page()
    pt.login(page, "zhifa1")
    page.goto("/#/inspections")
    page.wait_for_selector(f".item[data-id='{rid}']")
    shot(page, "inspections")
    page.click(f".item[data-id='{rid}']")
    page.wait_for_selector(".check-item[data-code=A1]")
    page.click("text=开始检查")
    page.wait_for_selector("text=开始检查", state="detached")  # started and redrawn
    page.check(".check-item[data-code=A1] input[value=合格]")
    page.check(".check-item[data-code=A2] input[value=不合格]")
    page.click(".check-item[data-code=A2] [data-action=camera]")
    page.wait_for_function("[...document.querySelectorAll('video.camera')].some(v => v.videoWidth > 0)")
    page.click(".check-item[data-code=A2] [data-action=snap]")
    page.wait_for_selector(".check-item[data-code=A2] .thumb img")
    page.fill("textarea[placeholder=违法事实]", "配电箱未上锁，违反安全生产法第三十六条")
    page.set_input_files(".card:has(textarea[placeholder=违法事实]) input[type=file]",
                         files=[{"name": "f.jpg", "mimeType": "image/jpeg", "buffer": _small_jpeg()}])
    page.wait_for_selector(".card:has(textarea[placeholder=违法事实]) .thumb img")
    page.click("text=添加违法事实")
    page.wait_for_selector(".finding")
    page.check(".check-item[data-code=A1] input[value=合格]")
    page.check(".check-item[data-code=A2] input[value=不合格]")
    shot(page, "inspection")
    page.click("text=完成并提交")
    page.wait_for_selector("p.muted:has-text('已提交')")  # queued locally (then synced)
    status = pt.wait_synced(page)
    assert not status["rejected"], status["rejected"]
    rec = next(r for r in records("inspection") if r.id == rid)
    assert rec.data["status"] == "submitted", rec.data
    items = {i["code"]: i for i in rec.data["items"]}
    assert items["A1"]["result"] == "合格" and items["A2"]["result"] == "不合格" and len(items["A2"]["evidence"]) == 1
    assert len(rec.data["findings"]) == 1 and rec.data["findings"][0]["evidence"]
    assert blob_count() == 2


def _small_jpeg():
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_grid_member_patrol_with_checkin(context, live, client, auth):
    point = _push_as(client, auth, "zhuren", "patrol_point", {
        "name": "东关村变电站", "jurisdiction_code": "130131100201", "risk_level": "橙",
        "location": {"lat": pt.GEO["latitude"], "lon": pt.GEO["longitude"]}})
    page = context.new_page()
    pt.login(page, "wangge")
    page.goto("/#/patrol")
    page.click("[data-action=start-patrol]")
    page.wait_for_selector("[data-action=stop-patrol]")
    page.click(f"[data-action=checkin][data-point='{point}']")
    page.wait_for_function("(document.querySelector('#patrol-info') || {textContent: ''}).textContent.includes('打卡 1 次')")
    shot(page, "patrol")
    page.click("[data-action=stop-patrol]")
    page.wait_for_selector("[data-action=start-patrol]")
    pt.wait_synced(page)
    patrols = records("patrol")
    assert len(patrols) == 1
    d = patrols[0].data
    assert d["ended_at"] and d["track"] and d["checkins"][0]["point_id"] == point


def test_rescuer_shares_location_offline_and_reports(context, live):
    from field.models import Position
    from server.extensions import db
    page = context.new_page()
    pt.login(page, "jiuyuan")
    page.goto("/#/rescue")
    page.wait_for_selector("#share-location")
    context.set_offline(True)
    page.check("#share-location")
    for _ in range(50):
        if pt.outbox_call(page, "outbox.status().then(s => s.positions)") >= 1:
            break
        page.wait_for_timeout(200)
    page.goto("/#/field_report/new")
    page.wait_for_selector("form.record-form[data-entity=field_report]")
    page.select_option("select[name=urgency]", "紧急")
    page.fill("textarea[name=text]", "东关村河堤出现管涌，已组织群众转移")
    page.click("[data-action=record]")
    page.wait_for_timeout(800)
    page.click("[data-action=record]")
    page.wait_for_selector("[data-list=voice_notes] audio")
    shot(page, "field-report")
    page.click("[data-action=save]")
    page.wait_for_selector("section.card[data-id]")
    context.set_offline(False)
    pt.wait_synced(page)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Position)) >= 1
    reports = records("field_report")
    assert len(reports) == 1 and reports[0].data["urgency"] == "紧急" and len(reports[0].data["voice_notes"]) == 1
    page.goto("/#/rescue")
    page.wait_for_selector("#team li")
    assert "孙队员" in page.inner_text("#team")
    shot(page, "rescue")


def test_new_shell_version_is_offered_and_taken(browser, app, demo, tmp_path, monkeypatch):
    import shutil
    from pwa import web
    copy = tmp_path / "static"
    shutil.copytree(web.STATIC, copy)
    monkeypatch.setattr(web, "STATIC", copy)
    monkeypatch.setattr(web, "_manifest_cache", {})
    with pt.LiveServer(app) as live:
        context = pt.new_context(browser, live.url)
        page = context.new_page()
        pt.login(page, "wangge")
        first = page.evaluate("caches.keys()")
        assert page.is_hidden("#update")
        # A deploy changes one shell file: the worker's bytes change with the version.
        css = copy / "css" / "app.css"
        css.write_text(css.read_text() + "\n.brand{letter-spacing:1px}\n")
        page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        page.wait_for_selector("#update:not([hidden])", timeout=30000)
        shot(page, "update-offered")
        with page.expect_navigation():
            page.click("#update-btn")
        page.wait_for_selector("#mine")
        for _ in range(50):
            keys = page.evaluate("caches.keys()")
            if len(keys) == 1 and keys != first:
                break
            page.wait_for_timeout(200)
        assert len(keys) == 1 and keys != first, (first, keys)  # the old shell is deleted
        assert "letter-spacing" in page.evaluate("fetch('/css/app.css').then(r => r.text())")
        context.close()
