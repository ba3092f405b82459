"""Vision end to end: photos arrive, RQ workers (real Redis) run the real models, results
reach the records and the phones; outages, crashes and bad files lose nothing."""
import io
import json
import os
import signal
import subprocess
import sys
import uuid
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.clock import utcnow
from server.extensions import db
from server.queue import get_queue, get_redis
from sync import engine
from tests.conftest import SyncDevice, assert_problem
from tests.vision_helpers import BUS, read, requests_of, run_worker, store_photo, wait_for
from vision import detectors, pipeline
from vision.models import Detection

OP = SyncDevice.op
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapshot(photos, **extra):
    return {"title": "脚手架作业人员未戴安全帽", "description": "东关村南街工地，现场随手拍",
            "category": "建筑施工", "location": {"lat": 38.262, "lon": 114.201, "accuracy": 8},
            "photos": photos, "risk_level": "橙", "grade": "一般", "handling": "限期整改",
            "source": "snapshot", "device_time": "2026-05-01T08:30:00+08:00", **extra}


def pulled(phone, rid):
    return [c for c in phone.pull_all() if c["id"] == rid][-1]


def detections_count():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Detection))


@pytest.fixture(autouse=True)
def _empty_vision_queue(app):
    get_queue("vision").empty()  # Redis outlives each test's tables


@pytest.fixture(scope="module")
def bus():
    return read(BUS)


def report_with_photo(device, data, **extra):
    """wangge stores the photo (media) and pushes a snapshot that shows it."""
    phone = device("wangge")
    sha = store_photo(data, user=None)
    op = OP(data=snapshot([sha], **extra))
    assert phone.push(op)["results"][0]["status"] == "applied"
    return phone, sha, op["id"]


# ---------------------------------------------------------------------------- end to end

def test_snapshot_photo_is_analysed_by_a_worker_and_the_next_pull_shows_it(app, client, auth, device, live_server, bus):
    from tests.test_media_uploads import uploader
    phone = device("wangge")
    # The phone uploads the photo (tus, through media), then pushes the snapshot that shows it.
    up = uploader(live_server, phone.headers, bus, kind="photo")
    up.upload()
    sha = up.metadata["sha256"]
    op = OP(data=snapshot([sha]))
    assert phone.push(op)["results"][0]["status"] == "applied"
    reqs = requests_of(sha)
    assert {(r.detector, r.state) for r in reqs} == {("helmet", "pending"), ("fire", "pending"), ("fall", "pending")}
    assert get_queue("vision").count == 1  # one job per photo, however many triggers

    run_worker(app)  # a real RQ worker on the test's Redis

    assert {(r.detector, r.state, r.attempts) for r in requests_of(sha)} == {
        ("helmet", "done", 1), ("fire", "done", 1), ("fall", "done", 1)}
    change = pulled(phone, op["id"])
    data = change["data"]
    heads = [d for d in data["detections"] if d["hazard_code"] == "no_helmet"]
    assert len(heads) >= 1 and all(d["name"] == "未按规定佩戴安全帽" and d["confidence"] >= 0.5 for d in heads)
    assert heads[0]["photo"] == sha and heads[0]["model_version"] == detectors.by_name("helmet").version
    assert heads[0]["review"] == "suggested" and len(heads[0]["box"]) == 4
    assert not [d for d in data["detections"] if d["hazard_code"] in ("open_fire", "smoke", "person_down")]
    (finding,) = data["suggested_findings"]
    assert finding["hazard_code"] == "no_helmet" and finding["source"] == "vision"
    assert finding["violated"] == ["《中华人民共和国安全生产法》第四十五条"]
    assert "《中华人民共和国安全生产法》第九十九条第（五）项" in finding["penalty"]
    assert data["vision"]["state"] == "done"
    # The annotated evidence image is a new blob the reporter may fetch.
    annotated = data["annotated_image"]
    assert annotated and annotated != sha
    r = client.get(f"/api/v1/blobs/{annotated}", headers=phone.headers)
    assert r.status_code == 200 and r.data[:3] == b"\xff\xd8\xff"
    from PIL import Image
    assert Image.open(io.BytesIO(r.data)).size == Image.open(io.BytesIO(bus)).size

    # Never analysed twice: a second record with the same photo and a re-queued job reuse the result.
    before = detections_count()
    op2 = OP(data=snapshot([sha], title="同一张照片的另一条隐患"))
    assert device("wangge").push(op2)["results"][0]["status"] == "applied"
    pipeline.try_enqueue([sha])
    run_worker(app)
    assert detections_count() == before
    assert {r.attempts for r in requests_of(sha)} == {1}
    data2 = engine.get_record("hazard", op2["id"]).data
    assert [d["id"] for d in data2["detections"]] == [d["id"] for d in data["detections"]]
    assert data2["annotated_image"] == annotated
    # An inspection's checklist evidence is analysed too (here: the same photo, no new analysis).
    zhifa1 = device("zhifa1")
    op3 = OP(entity="inspection", data={"title": "工地安全检查", "items": [
        {"code": "ppe-01", "title": "作业人员正确佩戴安全帽", "result": "不合格", "evidence": [sha]}]})
    assert zhifa1.push(op3)["results"][0]["status"] == "applied"
    run_worker(app)
    insp = pulled(zhifa1, op3["id"])["data"]
    assert insp["suggested_findings"][0]["hazard_code"] == "no_helmet" and insp["annotated_image"] == annotated
    assert detections_count() == before
    # The photo taken off the record: its detections go with it.
    phone.push(OP(record_id=op["id"], base_version=change["version"], data={"photos": []}))
    run_worker(app)
    data = pulled(phone, op["id"])["data"]
    assert data["detections"] == [] and data["suggested_findings"] == [] and data["annotated_image"] is None


def test_a_record_synced_before_its_photo_is_analysed_when_the_photo_arrives(app, device, bus):
    import hashlib
    bus = bus + uuid.uuid4().bytes  # bytes after the JPEG's end: a photo no test has stored yet
    sha = hashlib.sha256(bus).hexdigest()
    phone = device("wangge")
    op = OP(data=snapshot([sha]))
    phone.push(op)  # offline-first: the record travels before the photo's upload finishes
    run_worker(app)
    assert {(r.state, r.attempts) for r in requests_of(sha)} == {("pending", 0)}
    assert "尚未上传" in requests_of(sha)[0].reason
    assert engine.get_record("hazard", op["id"]).data.get("detections") in (None, [])
    assert store_photo(bus) == sha
    run_worker(app)
    assert {(r.state, r.attempts) for r in requests_of(sha)} == {("done", 1)}
    data = pulled(phone, op["id"])["data"]
    assert any(d["hazard_code"] == "no_helmet" for d in data["detections"]) and data["annotated_image"]


# ---------------------------------------------------------------------------- bad files

def test_a_corrupt_photo_fails_with_a_clear_reason_on_the_record(app, device, bus):
    from media.storage import get_store
    import hashlib
    broken = bus[: len(bus) // 3]  # a photo cut short in storage
    sha = hashlib.sha256(broken).hexdigest()
    get_store().put_bytes(sha, broken)
    phone = device("wangge")
    op = OP(data=snapshot([sha]))
    phone.push(op)
    run_worker(app)
    reqs = requests_of(sha)
    assert {r.state for r in reqs} == {"failed"} and {r.attempts for r in reqs} == {1}
    assert all("图片已损坏" in r.reason for r in reqs)
    data = pulled(phone, op["id"])["data"]
    assert data["vision"]["state"] == "failed" and "图片已损坏" in data["vision"]["reason"]
    assert "Traceback" not in data["vision"]["reason"] and data["detections"] == []


def test_a_blob_that_is_not_an_image_fails_with_a_clear_reason(app, device):
    from media.blobs import store_bytes
    pdf = store_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" * 4, kind="derived").sha256
    phone = device("wangge")
    op = OP(data=snapshot([pdf]))
    phone.push(op)
    run_worker(app)
    data = pulled(phone, op["id"])["data"]
    assert data["vision"]["state"] == "failed"
    assert "不是可识别的图片" in data["vision"]["reason"]


# ---------------------------------------------------------------------------- outages

def test_redis_down_at_upload_the_request_is_kept_and_the_sweeper_queues_it(app, bus):
    working = get_redis(app)
    app.config["REDIS_URL"], saved_url = "redis://127.0.0.1:9/0", app.config["REDIS_URL"]
    app.extensions["danbing_redis"] = None
    try:
        sha = store_photo(bus)  # media stores it; vision cannot reach Redis
    finally:
        app.config["REDIS_URL"] = saved_url
        app.extensions["danbing_redis"] = working
    assert {r.state for r in requests_of(sha)} == {"pending"} and len(requests_of(sha)) == 3
    assert get_queue("vision").count == 0
    counts = pipeline.sweep()
    assert counts["queued"] == 1
    run_worker(app)
    assert {r.state for r in requests_of(sha)} == {"done"}
    assert db.session.scalar(select(func.count()).select_from(Detection).where(
        Detection.sha256 == sha, Detection.hazard_code == "no_helmet")) >= 1


def test_sweep_cli_reports_what_it_did(app, runner, bus):
    r = runner.invoke(args=["vision", "sweep"])
    assert r.exit_code == 0 and "queued=0" in r.output


def _worker_env(app):
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], YOLO_OFFLINE="1",
               STORAGE_URL=app.config["STORAGE_URL"], VISION_THREADS="1")
    conn = get_redis(app)
    env["REDIS_URL"] = app.config["REDIS_URL"] or f"unix://{conn.socket_file}"
    return env


def test_a_worker_killed_mid_job_is_retried_and_the_result_stored_once(app, device, bus):
    phone, sha, rid = report_with_photo(device, bus)
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "vision", "worker", "--burst"],
                              cwd=ROOT, env=_worker_env(app), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        running = wait_for(lambda: any(r.state == "running" for r in requests_of(sha)), timeout=240, interval=0.05)
        assert running, worker.stderr.read().decode()[-2000:] if worker.poll() is not None else "no progress"
        worker.send_signal(signal.SIGKILL)  # the machine dies mid-job
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    assert any(r.state == "running" for r in requests_of(sha))
    # Nothing happens before the request is stale; then the sweeper re-queues it.
    assert pipeline.sweep()["stale"] == 0
    later = utcnow() + timedelta(seconds=app.config["VISION_STALE_AFTER"] + 1)
    counts = pipeline.sweep(now=later)
    assert counts["stale"] >= 1 and counts["queued"] == 1
    run_worker(app)
    reqs = requests_of(sha)
    assert {r.state for r in reqs} == {"done"}
    assert max(r.attempts for r in reqs) == 2
    # Stored once: one set of boxes per request, the record lists each detection once.
    rows = db.session.scalars(select(Detection).where(Detection.sha256 == sha)).all()
    assert len({(d.request_id, d.index) for d in rows}) == len(rows)
    assert len([d for d in rows if d.hazard_code == "no_helmet"]) == 2
    data = pulled(phone, rid)["data"]
    assert sorted(d["id"] for d in data["detections"]) == sorted(d.id for d in rows)


def test_attempts_are_bounded_then_failed_with_the_reason(app, device, bus):
    app.config["VISION_MAX_ATTEMPTS"] = 1
    phone, sha, rid = report_with_photo(device, bus)
    # A worker took it and died (attempt 1 of 1).
    for r in requests_of(sha):
        r.state, r.attempts, r.started_at = "running", 1, utcnow()
    db.session.commit()
    counts = pipeline.sweep(now=utcnow() + timedelta(seconds=app.config["VISION_STALE_AFTER"] + 1))
    assert counts["failed"] == 3 and counts["queued"] == 0
    assert {r.state for r in requests_of(sha)} == {"failed"}
    data = engine.get_record("hazard", rid).data
    assert data["vision"]["state"] == "failed" and "已尝试 1 次" in data["vision"]["reason"]


def test_a_job_that_crashes_is_retried_a_bounded_number_of_times_then_failed(app, device, bus, tmp_path):
    # A real crash inside the job: a site's weights file that is not a checkpoint at all.
    (tmp_path / "broken.pt").write_bytes(b"this is not a torch checkpoint\n" * 100)
    (tmp_path / "detectors.json").write_text(json.dumps({"detectors": [
        {"name": "site-broken", "weights": "broken.pt", "hazards": {"blocked": "fire_exit_blocked"}}]}))
    app.config["VISION_DETECTORS"] = str(tmp_path / "detectors.json")
    phone, sha, rid = report_with_photo(device, bus)
    run_worker(app)  # RQ retries the job at once; the burst worker runs every try
    reqs = requests_of(sha)
    assert {r.state for r in reqs} == {"failed"}
    assert {r.attempts for r in reqs} == {app.config["VISION_MAX_ATTEMPTS"]}
    assert all(r.reason.startswith("已尝试 3 次仍失败：分析出错") for r in reqs)
    data = pulled(phone, rid)["data"]
    assert data["vision"]["state"] == "failed" and "已尝试 3 次仍失败" in data["vision"]["reason"]
    assert detections_count() == 0


# ---------------------------------------------------------------------------- alerts, site weights

def test_site_weights_by_configuration_and_high_severity_alerts_supervisors(app, device, demo, bus, tmp_path):
    fall = detectors.by_name("fall")
    site = tmp_path / "site-detectors.json"
    # A site's own weights (here: the fall model's file, its "Normal" class mapped for the test).
    site.write_text(json.dumps({"detectors": [{"name": "site-fall", "weights": fall.path, "classes": ["Normal", "Fall"],
                                               "hazards": {"Normal": "person_down"}, "conf": 0.3}]}))
    app.config["VISION_DETECTORS"] = str(site)
    get_queue("push").empty()
    supervisors = sorted([demo["zhuren"].id, demo["fazhi"].id])
    phone, sha, rid = report_with_photo(device, bus)
    assert [r.detector for r in requests_of(sha)] == ["site-fall"]
    run_worker(app)
    data = engine.get_record("hazard", rid).data
    assert data["detections"] and {d["hazard_code"] for d in data["detections"]} == {"person_down"}
    assert data["suggested_findings"][0]["kind"] == "emergency" and data["suggested_findings"][0]["violated"] == []
    jobs = [j for j in get_queue("push").jobs if j.func_name.endswith("notify_job")]
    alerts = [j.args for j in jobs if j.args[1]["kind"] == "detection"]
    assert len(alerts) == 1
    user_ids, msg = alerts[0]
    assert sorted(user_ids) == supervisors
    assert msg["severity"] == "high" and "人员倒地" in msg["title"] and msg["url"] == f"/#/hazard/{rid}"


# ---------------------------------------------------------------------------- review and export

def test_supervisors_confirm_and_dismiss_dismissals_are_kept_and_exported(app, client, auth, device, runner, bus, tmp_path):
    phone, sha, rid = report_with_photo(device, bus)
    run_worker(app)
    before = engine.get_record("hazard", rid).data
    heads = [d for d in before["detections"] if d["hazard_code"] == "no_helmet"]
    assert len(heads) == 2
    annotated, key = before["annotated_image"], before["vision"]["annotated_key"]
    url = "/api/v1/vision/detections/{}/{}"
    assert_problem(client.post(url.format(heads[0]["id"], "dismiss"), headers=auth.headers("wangge")), 403)
    assert_problem(client.post(url.format(99999, "dismiss"), headers=auth.headers("zhuren")), 404)
    r = client.post(url.format(heads[0]["id"], "dismiss"), headers=auth.headers("zhuren"), json={"comment": "是帽子阴影，误报"})
    assert r.status_code == 200 and r.get_json()["review"] == "dismissed"
    r = client.post(url.format(heads[1]["id"], "confirm"), headers=auth.headers("zhuren"))
    assert r.status_code == 200 and r.get_json()["review"] == "confirmed"
    # The phone sees the verdicts; the dismissed box no longer backs the suggested finding.
    data = pulled(phone, rid)["data"]
    reviews = {d["id"]: d["review"] for d in data["detections"]}
    assert reviews[heads[0]["id"]] == "dismissed" and reviews[heads[1]["id"]] == "confirmed"
    (finding,) = data["suggested_findings"]
    assert finding["detection_ids"] == [heads[1]["id"]] and finding["confirmed"] is True
    # The annotated evidence image is drawn again without the dismissed box.
    assert data["annotated_image"] and data["annotated_image"] != annotated
    assert data["vision"]["annotated_key"] != key
    # Dismissals are kept: the export is a YOLO dataset with the image.
    r = client.get("/api/v1/vision/export?status=dismissed", headers=auth.headers("zhuren"))
    assert r.status_code == 200 and r.mimetype == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.data))
    assert sorted(z.namelist()) == sorted(["data.yaml", "manifest.json", f"images/{sha}.jpg", f"labels/{sha}.txt"])
    assert z.read(f"images/{sha}.jpg") == bus
    (line,) = z.read(f"labels/{sha}.txt").decode().split("\n")[:-1]
    cls, xc, yc, w, h = line.split()
    assert cls == "0" and all(0 < float(v) < 1 for v in (xc, yc, w, h))
    assert "0: no_helmet" in z.read("data.yaml").decode()
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["detections"][0]["comment"] == "是帽子阴影，误报"
    # Another county's inspector cannot review; a county's supervisor in another county sees nothing.
    assert_problem(client.get("/api/v1/vision/export?status=bogus", headers=auth.headers("zhuren")), 422)
    out = tmp_path / "dismissed.zip"
    r = runner.invoke(args=["vision", "export", "--status", "dismissed", "--out", str(out)])
    assert r.exit_code == 0 and "exported 1 detections" in r.output
    assert zipfile.ZipFile(out).read(f"labels/{sha}.txt")
