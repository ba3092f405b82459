"""The supervisor console in headless Chromium against a live server (issue #10).

A field device (the inspector's phone, talking the sync protocol) submits an inspection;
the supervisor finds it in the console's queue, returns it with a comment; the phone pulls
the comment, fixes and resubmits; the supervisor approves; the document drafted for the case
is signed, issued and downloaded as a PDF; and the map's team positions move when new fixes
arrive. Screenshots go to artifacts/.
"""
import hashlib
import shutil
import uuid

import pytest

from tests.console_live import ARTIFACTS, chromium, login, screenshot, serve

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None and not __import__("os").path.exists("/usr/bin/chromium"),
                                reason="Chromium is not installed")


def _inspection(inspectors, enterprise_id, title):
    return {"title": title, "enterprise_id": enterprise_id, "inspector_ids": inspectors,
            "jurisdiction_code": "130131100000", "status": "submitted",
            "location": {"lat": 38.259, "lon": 114.186, "accuracy": 8},
            "items": [{"code": "XF-01", "title": "消防通道保持畅通", "result": "合格"},
                      {"code": "XF-02", "title": "灭火器配置", "result": "合格"}],
            "findings": []}


def test_supervisor_returns_then_approves_signs_issues_and_downloads(app, client, auth, device, law_library):
    inspector = device("zhifa1")
    partner = auth.login("zhifa2")["user"]["id"]
    enterprise = client.get("/api/v1/enterprises", headers=inspector.headers,
                            query_string={"q": "华兴化工"}).get_json()["items"][0]
    case_id = str(uuid.uuid4())
    title = "华兴化工 消防专项检查"
    res = inspector.push(inspector.op("inspection", case_id, data=_inspection(
        [inspector.user_id, partner], enterprise["id"], title)))["results"][0]
    assert res["status"] == "applied", res
    inspector.pull_all()

    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, base, "zhuren")

        # The synced inspection is waiting in the queue.
        row = page.locator(f"#queue-table tr.row[data-id='{case_id}']")
        row.wait_for()
        assert title in row.inner_text()
        assert "已提交" in row.inner_text() or "待" in row.inner_text()
        screenshot(page, "01-queue")

        # Keyboard: j/k move the cursor, Enter opens.
        page.keyboard.press("j")
        page.keyboard.press("k")
        page.keyboard.press("Enter")
        page.wait_for_selector("#case-title")
        assert title in page.inner_text("#case-title")
        page.wait_for_selector("#audit-verify.ok")

        # Return with a comment.
        comment = "现场检查表缺少消防水池检查项，请补充后重新提交。"
        page.fill("#review-text", comment)
        page.click("#act-return")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'returned'")
        assert comment in page.inner_text("#review-comment")
        screenshot(page, "02-returned")

        # The field device pulls and gets the comment.
        changes = [c for c in inspector.pull_all() if c["id"] == case_id]
        assert changes and changes[-1]["data"]["status"] == "returned"
        assert changes[-1]["data"]["review"]["comment"] == comment
        version = changes[-1]["version"]

        # The inspector adds the item and resubmits.
        fixed = _inspection([inspector.user_id, partner], enterprise["id"], title)
        fixed["items"].append({"code": "XF-03", "title": "消防水池水位", "result": "合格"})
        res = inspector.push(inspector.op("inspection", case_id, base_version=version,
                                          data={"items": fixed["items"], "status": "submitted"}))["results"][0]
        assert res["status"] == "applied", res

        # The supervisor sees the resubmission and approves it.
        page.goto(f"{base}/console/#/queue")
        page.locator(f"#queue-table tr.row[data-id='{case_id}']").click()
        page.wait_for_selector("#act-approve")
        page.fill("#review-text", "同意。")
        page.click("#act-approve")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'approved'")
        page.wait_for_function("!document.querySelector('#clauses').textContent.includes('匹配中')")
        history = page.inner_text("#history")
        assert "退回" in history and "审核通过" in history
        assert "审计链完整" in page.inner_text("#audit-verify")

        # The inspector drafts the 责令限期整改指令书 for the approved case (from the phone/API).
        r = client.post("/api/v1/documents", headers=inspector.headers, json={
            "kind": "rectification_order", "case_entity": "inspection", "case_id": case_id,
            "case_status": "approved", "enterprise_id": enterprise["id"],
            "inspectors": [inspector.user_id, partner], "facts": "消防通道被货物堵塞。",
            "findings": [{"hazard_code": "fire_exit_blocked"}], "measures": "立即清理消防通道。",
            "deadline": "2026-12-31"})
        assert r.status_code == 201, r.get_json()
        doc_id = r.get_json()["id"]

        # Suggested clauses for the case came from the law library.
        assert "中华人民共和国" in page.inner_text("#clauses")

        # The supervisor previews, signs and issues it, then downloads the PDF.
        page.reload()
        page.locator(f"#case-documents a.doc-link[data-id='{doc_id}']").click()
        page.wait_for_function("document.querySelector('.view-body').dataset.pdfReady === '1'")
        assert page.locator("#doc-preview").get_attribute("src").startswith("blob:")
        screenshot(page, "03-document-draft")
        page.click("#sign")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'signed'")
        page.click("#issue")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'issued'")
        page.wait_for_function("document.querySelector('.view-body').dataset.pdfReady === '1'")
        assert "〔" in page.inner_text("#doc-title")  # the 文号 was allocated
        assert page.locator("#sign").count() == 0 and page.locator("#issue").count() == 0
        assert page.locator("#doc-fields textarea[name=facts]").is_disabled()
        with page.expect_download() as dl:
            page.click("#doc-download")
        ARTIFACTS.mkdir(exist_ok=True)
        pdf_path = ARTIFACTS / "console-issued-document.pdf"
        dl.value.save_as(pdf_path)
        data = pdf_path.read_bytes()
        assert data.startswith(b"%PDF")
        issued = client.get(f"/api/v1/documents/{doc_id}", headers=inspector.headers).get_json()
        assert issued["status"] == "issued" and hashlib.sha256(data).hexdigest() == issued["pdf_sha256"]
        screenshot(page, "04-document-issued")
        assert not errors, errors


def test_map_shows_team_positions_that_move(app, client, auth, demo):
    app.config["CONSOLE_POSITIONS_POLL_MS"] = 500
    rescuer = auth.login("jiuyuan")
    headers = {"Authorization": f"Bearer {rescuer['access_token']}"}

    def fix(lat, lon, t):
        r = client.post("/api/v1/positions", headers=headers, json={"fixes": [
            {"device_time": t, "lat": lat, "lon": lon, "accuracy": 5}]})
        assert r.status_code == 200 and r.get_json()["accepted"] == 1, r.get_json()

    from server.clock import utcnow
    now = utcnow().replace(microsecond=0)
    from datetime import timedelta
    fix(38.2600, 114.1500, (now - timedelta(seconds=60)).isoformat() + "Z")
    uid = str(rescuer["user"]["id"])
    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()
        login(page, base, "zhuren")
        page.goto(f"{base}/console/#/map")
        item = page.locator(f"#team-list li[data-user-id='{uid}']")
        item.wait_for()
        assert item.get_attribute("data-lat") == "38.26"
        page.wait_for_selector("#map[data-ready='1']")
        assert page.locator("#map").get_attribute("data-tiles") == "none"  # no MAP_TILE_URL: plain background
        screenshot(page, "05-map-before")
        fix(38.2700, 114.1600, (now - timedelta(seconds=5)).isoformat() + "Z")
        page.wait_for_function(
            f"document.querySelector(\"#team-list li[data-user-id='{uid}']\").dataset.lat === '38.27'", timeout=10000)
        assert "38.27000, 114.16000" in item.inner_text()
        screenshot(page, "06-map-after")
        # Clicking a member draws their track.
        item.click()
        page.wait_for_function("document.querySelector('#map-status').textContent.includes('轨迹 2 点')")


def _wav(seconds=1, rate=8000):
    import io
    import wave
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * rate * seconds)
    return buf.getvalue()


def test_evidence_with_detection_boxes_voice_and_verdicts(app, client, auth, device, law_library):
    """A snapshot's photo analysed by the real detectors: the console draws the boxes over it
    (toggleable), plays the voice note, and the supervisor dismisses and confirms detections."""
    from media.blobs import store_bytes
    from sync import engine
    from tests.vision_helpers import BUS, read, run_worker, store_photo

    phone = device("wangge")
    photo = store_photo(read(BUS))
    voice = store_bytes(_wav(), kind="voice", mime="audio/wav").sha256
    rid = str(uuid.uuid4())
    res = phone.push(phone.op("hazard", rid, data={
        "title": "公交站旁施工人员未戴安全帽", "description": "东关村南街，随手拍", "risk_level": "橙",
        "jurisdiction_code": "130131100201", "location": {"lat": 38.262, "lon": 114.201, "accuracy": 8},
        "photos": [photo], "voice_notes": [voice], "source": "snapshot"}))["results"][0]
    assert res["status"] == "applied", res
    run_worker(app)
    heads = [d for d in engine.get_record("hazard", rid).data["detections"] if d["hazard_code"] == "no_helmet"]
    assert len(heads) >= 2

    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()
        login(page, base, "zhuren")
        page.goto(f"{base}/console/#/case/hazard/{rid}")
        page.wait_for_selector(f"figure.photo[data-sha256='{photo}'] svg.boxes")
        boxes = page.locator(f"figure.photo[data-sha256='{photo}'] rect.detection-box")
        assert boxes.count() == len(engine.get_record("hazard", rid).data["detections"])
        # Boxes sit inside the displayed photo.
        img = page.locator(f"figure.photo[data-sha256='{photo}'] img").bounding_box()
        box = boxes.first.bounding_box()
        assert img["x"] <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 1
        screenshot(page, "07-detections")
        page.click("#toggle-boxes")
        assert not page.locator("svg.boxes").first.is_visible()
        page.keyboard.press("b")
        assert page.locator("svg.boxes").first.is_visible()
        # The voice note plays from the server's bytes.
        page.wait_for_selector(f".voice[data-sha256='{voice}'] audio")
        duration = page.evaluate(f"""() => new Promise((done) => {{
            const a = document.querySelector(".voice[data-sha256='{voice}'] audio");
            if (a.readyState >= 1) done(a.duration); else a.addEventListener('loadedmetadata', () => done(a.duration)); }})""")
        assert 0.9 < duration < 1.1
        # The suggested finding from vision carries its clauses.
        page.wait_for_selector(".suggested-finding")
        assert "违法依据" in page.inner_text(".suggested-finding")
        # Dismiss one head, confirm the other.
        page.locator(f"#detections li[data-detection='{heads[0]['id']}'] .dismiss-detection").click()
        page.wait_for_selector(f"#detections li[data-detection='{heads[0]['id']}'][data-verdict='dismissed']")
        page.locator(f"#detections li[data-detection='{heads[1]['id']}'] .confirm-detection").click()
        page.wait_for_selector(f"#detections li[data-detection='{heads[1]['id']}'][data-verdict='confirmed']")
        screenshot(page, "08-detections-reviewed")
        # Verify the hazard and send a 处置单 with a deadline, then reassign it.
        page.select_option("#verify-level", "红")
        page.click("#act-verify")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'verified'")
        page.fill("#wo-unit", "东关村村民委员会")
        zhifa1 = auth.login("zhifa1")["user"]
        # The person is chosen from the jurisdiction's people (a datalist), or typed as an id.
        page.wait_for_selector(f"#wo-people option[value='{zhifa1['id']}']", state="attached")
        assert zhifa1["display_name"] in page.inner_html("#wo-people")
        page.fill("#wo-person", str(zhifa1["id"]))
        page.fill("#wo-deadline", "2026-12-31")
        page.click("#act-assign")
        page.wait_for_function("document.querySelector('.view-body').dataset.status === 'assigned'")
        assert "东关村村民委员会" in page.inner_text("#work-order") and "2026-12-31" in page.inner_text("#work-order")
        page.fill("#wo-unit", "平山镇安监站")
        page.click("#act-assign")  # now 改派
        page.wait_for_function("document.querySelector('#work-order').textContent.includes('平山镇安监站')")
    pulled = [c for c in phone.pull_all() if c["id"] == rid][-1]["data"]["detections"]
    verdicts = {d["id"]: d["review"] for d in pulled}
    assert verdicts[heads[0]["id"]] == "dismissed" and verdicts[heads[1]["id"]] == "confirmed"


def test_conflict_restore_disasters_and_dashboard(app, client, auth, device):
    """A value lost in a sync conflict is restored from the case page; the disaster page shows
    the figures up the tree and each village's chain; the dashboard draws the loops' figures."""
    phone_a, phone_b = device("wangge"), device("wangge")
    rid = str(uuid.uuid4())
    phone_a.push(phone_a.op("hazard", rid, data={"title": "东关村 护栏缺失", "risk_level": "黄",
                                                 "jurisdiction_code": "130131100201"}))
    phone_a.push(phone_a.op("hazard", rid, base_version=1, data={"description": "护栏缺失约 20 米"}))
    phone_b.push(phone_b.op("hazard", rid, base_version=1, data={"description": "护栏缺失约 5 米"}))

    info = device("xinxi")
    first = str(uuid.uuid4())
    base = {"disaster_types": ["暴雨洪涝"], "occurred_at": "2026-07-20T02:00:00Z", "jurisdiction_code": "130131101201",
            "affected_population": 120, "deaths": 0, "missing": 1, "relocated": 30}
    assert info.push(info.op("disaster_report", first, data={**base, "stage": "初报"}))["results"][0]["status"] == "applied"
    assert info.push(info.op("disaster_report", str(uuid.uuid4()), data={
        **base, "stage": "续报", "event_id": first, "affected_population": 300}))["results"][0]["status"] == "applied"

    with serve(app) as base_url, chromium() as ctx:
        page = ctx.new_page()
        login(page, base_url, "zhuren")
        page.goto(f"{base_url}/console/#/case/hazard/{rid}")
        page.wait_for_selector("#conflicts button.restore")
        assert "护栏缺失约 20 米" in page.inner_text("#conflicts")
        page.click("#conflicts button.restore")
        page.wait_for_selector("#conflicts .ok")
        assert client.get(f"/api/v1/console/records/hazard/{rid}", headers=auth.headers("zhuren")).get_json()[
            "data"]["description"] == "护栏缺失约 20 米"

        page.goto(f"{base_url}/console/#/disasters")
        page.wait_for_selector("#event-tree tr[data-code='130131101201']")
        tree = page.inner_text("#event-tree")
        assert "温塘镇" in tree and "温塘村" in tree and "300" in tree
        chain = page.locator("#chains tr[data-place='130131101201']")
        assert chain.count() == 2 and "初报" in chain.nth(0).inner_text() and "续报" in chain.nth(1).inner_text()
        assert "首报" in page.inner_text("#lateness") or "首报时限" in page.inner_text("#lateness")
        # The county passes the 初报 on, then today's 续报 (the place is still developing, so no 核报 yet).
        county = page.inner_text("#county-deadlines")
        assert "核报时限" in county and "灾情发展中" in county
        page.click("#county-deadlines button.forward")
        page.wait_for_selector("#county-deadlines button.forward-followup")
        page.click("#county-deadlines button.forward-followup")
        page.wait_for_selector("#county-deadlines td:has-text('今日已报')")  # survives the page's reload
        screenshot(page, "09-disasters")

        page.goto(f"{base_url}/console/#/dashboard")
        page.wait_for_selector("#dash-open")
        assert "黄" in page.inner_text("#dash-open")
        assert "续报" in page.inner_text("#dash-stages")
        screenshot(page, "10-dashboard")
