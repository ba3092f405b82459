"""Blob storage contract (both backends), serving with Range/ETag/caching, authorization
through records, photo-pending status, evidence verification, voice notes, store_bytes."""
import base64
import io
import uuid

import pytest
from PIL import Image

from media import blobs, evidence, inspect
from media.models import Blob, BlobRef
from media.signals import blob_stored
from media.storage import BlobMissing
from server.extensions import db
from tests import media_audio
from tests.conftest import SyncDevice, assert_problem
from tests.media_fixtures import make_photo, sha

TUS = {"Tus-Resumable": "1.0.0"}


def upload(client, headers, data, **meta):
    """A whole tus upload through the test client: create, one PATCH."""
    meta = {"sha256": sha(data), **meta}
    md = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    r = client.post("/api/v1/uploads", headers={**TUS, **headers, "Upload-Length": str(len(data)),
                                                "Upload-Metadata": md})
    assert r.status_code == 201, r.get_data(as_text=True)
    return client.patch(r.headers["Location"], data=data, headers={
        **TUS, **headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})


def hazard(photos, **extra):
    return {"title": "配电箱未上锁", "location": {"lat": 38.26, "lon": 114.2}, "photos": photos, **extra}


# --------------------------------------------------------------------------- storage contract

def test_store_contract(backend):
    data = b"evidence bytes " * 1000
    digest = sha(data)
    assert not backend.exists(digest)
    with pytest.raises(BlobMissing):
        backend.open(digest)
    with pytest.raises(BlobMissing):
        backend.size(digest)
    backend.put_file(digest, io.BytesIO(data))
    backend.put_file(digest, io.BytesIO(data))  # idempotent
    assert backend.exists(digest) and backend.size(digest) == len(data)
    with backend.open(digest) as f:
        assert f.read() == data
        f.seek(100)
        assert f.read(15) == data[100:115]
        f.seek(-10, 2)
        assert f.read() == data[-10:]
    backend.delete(digest)
    backend.delete(digest)  # absent: no error
    assert not backend.exists(digest)
    with pytest.raises(ValueError):
        backend.exists("../../etc/passwd")


def test_store_put_file_from_a_path(backend, tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc" * 10)
    backend.put_file(sha(b"abc" * 10), str(p), move=True)
    with backend.open(sha(b"abc" * 10)) as f:
        assert f.read() == b"abc" * 10
    assert not p.exists()


# --------------------------------------------------------------------------- serving

def test_the_uploader_fetches_the_blob_with_etag_range_and_caching(backend, client, auth):
    data = make_photo(800, 600)
    h = auth.headers("wangge")
    assert upload(client, h, data).status_code == 204
    url = f"/api/v1/blobs/{sha(data)}"
    r = client.get(url, headers=h)
    assert r.status_code == 200 and r.data == data and r.mimetype == "image/jpeg"
    assert r.headers["ETag"] == f'"{sha(data)}"'
    assert r.headers["Accept-Ranges"] == "bytes"
    assert "immutable" in r.headers["Cache-Control"] and "private" in r.headers["Cache-Control"]
    r = client.get(url, headers={**h, "Range": "bytes=100-199"})
    assert r.status_code == 206 and r.data == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = client.get(url, headers={**h, "Range": "bytes=-50"})
    assert r.status_code == 206 and r.data == data[-50:]
    assert client.get(url, headers={**h, "If-None-Match": f'"{sha(data)}"'}).status_code == 304
    assert client.get(url, headers={**h, "Range": f"bytes={len(data) + 10}-"}).status_code == 416
    assert client.head(url, headers=h).headers["Content-Length"] == str(len(data))


def test_thumbnail_and_preview_are_upright_jpegs(backend, client, auth):
    data = make_photo(2400, 1800, orientation=6)
    h = auth.headers("wangge")
    upload(client, h, data)
    thumb = client.get(f"/api/v1/blobs/{sha(data)}?variant=thumb", headers=h)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size == (192, 256)
    preview = client.get(f"/api/v1/blobs/{sha(data)}?variant=preview", headers=h)
    assert Image.open(io.BytesIO(preview.data)).size == (960, 1280)
    assert preview.headers["ETag"] == f'"{sha(preview.data)}"'
    db.session.expire_all()
    assert db.session.get(Blob, sha(data)).meta["variants"]["preview"]["sha256"] == sha(preview.data)
    assert_problem(client.get(f"/api/v1/blobs/{sha(data)}?variant=huge", headers=h), 422)


def test_only_users_who_may_see_a_referring_record_may_fetch(backend, client, auth, device):
    data = make_photo(320, 240)
    upload(client, auth.headers("wangge"), data)
    url = f"/api/v1/blobs/{sha(data)}"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=auth.headers("zhuren")), 403)  # no record refers to it yet
    phone = device("wangge")
    rid = str(uuid.uuid4())
    phone.push(SyncDevice.op(record_id=rid, data=hazard([sha(data)])))
    assert db.session.get(BlobRef, (sha(data), "hazard", rid)).field == "photos"
    assert client.get(url, headers=auth.headers("zhuren")).status_code == 200  # county supervisor
    assert_problem(client.get(url, headers=auth.headers("xinxi")), 403)  # another village
    assert_problem(client.get(url, headers=auth.headers("yuanshi")), 403)  # another county
    # The photo is taken off the record: the reference goes, and with it the access.
    phone.push(SyncDevice.op(record_id=rid, base_version=1, data={"photos": []}))
    assert db.session.get(BlobRef, (sha(data), "hazard", rid)) is None
    assert_problem(client.get(url, headers=auth.headers("zhuren")), 403)
    assert client.get(url, headers=auth.headers("wangge")).status_code == 200  # still the uploader


def test_signed_urls_from_meta_work_without_a_header_and_expire(backend, client, auth):
    data = make_photo(320, 240)
    h = auth.headers("wangge")
    upload(client, h, data)
    meta = client.get(f"/api/v1/blobs/{sha(data)}/meta", headers=h).get_json()
    assert meta["kind"] == "photo" and meta["meta"]["exif"]["gps"]["lat"] == 38.2615
    assert client.get(meta["urls"]["original"]).data == data
    assert client.get(meta["urls"]["thumb"]).mimetype == "image/jpeg"
    assert_problem(client.get(meta["urls"]["original"].replace("sig=", "sig=0")), 403)
    assert_problem(client.get(meta["urls"]["thumb"].replace("variant=thumb", "variant=preview")), 403)
    assert_problem(client.get(f"/api/v1/blobs/{sha(data)}/meta", headers=auth.headers("xinxi")), 403)
    # Many at once (a console gallery): only what the caller may fetch; pending ones named.
    never = sha(b"never sent")
    r = client.post("/api/v1/blobs/urls", json={"hashes": [sha(data), never]}, headers=h).get_json()
    assert set(r["urls"]) == {sha(data)} and r["pending"] == []
    assert client.get(r["urls"][sha(data)]["thumb"]).status_code == 200
    r = client.post("/api/v1/blobs/urls", json={"hashes": [sha(data)]}, headers=auth.headers("xinxi")).get_json()
    assert r == {"urls": {}, "pending": []}
    assert blobs.signed_url(sha(data), "preview").startswith(f"/api/v1/blobs/{sha(data)}?variant=preview&exp=")


def test_a_record_syncs_before_its_photo_and_shows_it_pending(backend, client, auth, device):
    data = make_photo(320, 240)
    other = sha(b"never sent")
    phone = device("wangge")
    rid = str(uuid.uuid4())
    phone.push(SyncDevice.op(record_id=rid, data=hazard([sha(data), other])))
    h = auth.headers("wangge")
    r = client.post("/api/v1/blobs/status", json={"entity": "hazard", "id": rid}, headers=h)
    assert r.get_json()["blobs"] == {sha(data): "pending", other: "pending"}
    body = assert_problem(client.get(f"/api/v1/blobs/{sha(data)}", headers=auth.headers("zhuren")), 404)
    assert body["pending"] is True
    upload(client, h, data)
    r = client.post("/api/v1/blobs/status", json={"hashes": [sha(data), other, "junk"]}, headers=h)
    assert r.get_json()["blobs"] == {sha(data): "present", other: "pending"}
    assert r.get_json()["pending"] == [other]
    assert_problem(client.post("/api/v1/blobs/status", json={"entity": "hazard", "id": rid},
                               headers=auth.headers("xinxi")), 403)
    assert_problem(client.post("/api/v1/blobs/status", json={}, headers=h), 422)


def test_references_are_found_in_every_evidence_field():
    a, b, c, d, e = (sha(bytes([i])) for i in range(5))
    data = {"photos": [a, "not-a-hash"], "after_photos": [b], "voice_notes": [c], "annotated_image": d,
            "items": [{"code": "1", "evidence": [e, a]}], "evidence": []}
    assert blobs.refs_in(data) == [(a, "photos"), (b, "after_photos"), (c, "voice_notes"),
                                   (d, "annotated_image"), (e, "items[0].evidence")]


# --------------------------------------------------------------------------- evidence

def test_evidence_verify_detects_tampering_and_loss(backend, client, auth, device, runner):
    photo, voice = make_photo(320, 240), media_audio.wav(1.0)
    h = auth.headers("wangge")
    upload(client, h, photo)
    upload(client, h, voice, kind="voice", filetype="audio/wav")
    never = sha(b"never sent")
    rid = str(uuid.uuid4())
    device("wangge").push(SyncDevice.op(record_id=rid, data=hazard([sha(photo), sha(voice)])))
    sup = auth.headers("zhuren")
    url = f"/api/v1/evidence/verify?entity=hazard&id={rid}"
    report = client.get(url, headers=sup).get_json()
    assert report["ok"] is True and [b["status"] for b in report["blobs"]] == ["ok", "ok"]
    first = report["blobs"][0]
    assert first["uploader_id"] is not None and first["device_id"] and first["received_at"].endswith("Z")
    assert [r["device_id"] for r in first["receipts"]] == [first["device_id"]]
    assert_problem(client.get(url, headers=auth.headers("zhifa1")), 403)  # supervisors only
    assert_problem(client.get(url, headers=auth.headers("wangge")), 403)

    # Someone edits the stored photo in place; the voice note disappears from the store.
    backend.delete(sha(photo))
    backend.put_file(sha(photo), io.BytesIO(photo[:-1] + b"\0"))
    backend.delete(sha(voice))
    report = evidence.verify("hazard", rid)  # the domain function, without HTTP
    assert report["ok"] is False
    assert [b["status"] for b in report["blobs"]] == ["mismatch", "missing"]
    assert report["blobs"][0]["actual_sha256"] == sha(photo[:-1] + b"\0")
    result = runner.invoke(args=["media", "verify", "--entity", "hazard", "--id", rid])
    assert result.exit_code == 1 and "mismatch" in result.output

    device("wangge").push(SyncDevice.op(record_id=rid, base_version=1, data={"photos": [never]}))
    assert evidence.verify("hazard", rid)["blobs"] == [{"sha256": never, "field": "photos", "status": "pending"}]


# --------------------------------------------------------------------------- voice notes

@pytest.mark.parametrize("name,mime,seconds", [
    ("wav", "audio/wav", 2.0), ("ogg_opus", "audio/ogg", 3.0), ("webm", "audio/webm", 2.98),
    ("m4a", "audio/mp4", 5.0), ("fragmented_mp4", "audio/mp4", 4.5), ("adts", "audio/aac", 0.998)])
def test_voice_formats_are_recognised_by_their_bytes_with_duration(name, mime, seconds):
    data = getattr(media_audio, name)()
    assert inspect.sniff(data[:64]) == mime
    assert inspect.voice_duration(io.BytesIO(data), mime) == pytest.approx(seconds, abs=0.01)


def test_a_voice_note_upload_stores_its_duration(backend, client, auth):
    data = media_audio.ogg_opus(4.0)
    assert upload(client, auth.headers("wangge"), data, filetype="audio/ogg").status_code == 204
    blob = db.session.get(Blob, sha(data))
    assert blob.kind == "voice" and blob.mime == "audio/ogg" and blob.meta["duration"] == 4.0


def test_a_photo_sent_as_a_voice_note_is_415(backend, client, auth):
    body = assert_problem(upload(client, auth.headers("wangge"), make_photo(64, 64), kind="voice"), 415)
    assert "audio/ogg" in body["accepted"]
    assert db.session.get(Blob, sha(make_photo(64, 64))) is None


# --------------------------------------------------------------------------- store_bytes + signal

def test_store_bytes_stores_once_and_signals_after_commit(backend, app):
    seen = []

    def receiver(sender, **kw):
        seen.append((sender, kw, db.session.get(Blob, kw["sha256"]) is not None))
    blob_stored.connect(receiver)
    try:
        png = io.BytesIO()
        Image.new("RGB", (300, 200), (1, 2, 3)).save(png, "PNG")
        data = png.getvalue()
        blob = blobs.store_bytes(data, kind="derived")
        assert blob.mime == "image/png" and blob.kind == "derived" and blob.meta["width"] == 300
        assert blob.uploader_id is None and backend.exists(blob.sha256)
        assert seen == [(app, {"sha256": sha(data), "kind": "derived"}, True)]
        assert blobs.store_bytes(data, kind="derived").sha256 == blob.sha256
        assert len(seen) == 1  # the same bytes again: nothing new to announce

        pdf = b"%PDF-1.4\n% test\n"
        blobs.store_bytes(pdf, kind="derived", mime="application/pdf", commit=False)
        assert len(seen) == 1  # not committed yet
        db.session.rollback()
        assert len(seen) == 1 and db.session.get(Blob, sha(pdf)) is None
        blobs.store_bytes(pdf, kind="derived", commit=False)
        db.session.commit()
        assert len(seen) == 1  # sent by announce_stored() or, at the latest, at app-context end
        blobs.announce_stored()
        assert seen[-1][1] == {"sha256": sha(pdf), "kind": "derived"}
        assert db.session.get(Blob, sha(pdf)).mime == "application/pdf"
    finally:
        blob_stored.disconnect(receiver)


def test_blobs_committed_by_the_caller_are_announced_when_the_app_context_ends(backend, app):
    seen = []
    receiver = lambda sender, **kw: seen.append(kw["sha256"])  # noqa: E731
    blob_stored.connect(receiver)
    try:
        with app.app_context():  # a job or a request of its own
            blobs.store_bytes(b"%PDF-1.4\n% document\n", kind="derived", commit=False)
            db.session.commit()
            assert seen == []
        assert seen == [sha(b"%PDF-1.4\n% document\n")]
    finally:
        blob_stored.disconnect(receiver)


def test_photos_over_the_configured_pixel_limit_are_413_with_the_limit(app, backend, client, auth):
    app.config["MAX_IMAGE_PIXELS"] = 10_000
    data = make_photo(200, 100)
    body = assert_problem(upload(client, auth.headers("wangge"), data), 413)
    assert body["limit"] == 10_000
    assert db.session.get(Blob, sha(data)) is None and not backend.exists(sha(data))
