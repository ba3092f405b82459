"""Fixtures of the media tests: a real HTTP server in a thread (tuspy speaks HTTP through
requests), moto's standalone S3 server on loopback, both blob backends, and photos made
with Pillow that carry real EXIF (GPS, capture time, orientation)."""
import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from pwa.testing import free_port


@pytest.fixture(scope="session")
def live_server(_app):
    """The app served by Werkzeug's threaded server on a loopback port; yields its base URL."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, _app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def gunicorn_server(_app, tmp_path_factory):
    """The app under gunicorn (gthread), as in production, in its own process; yields
    (base URL, blob folder). Same database and Redis as the tests; local blob store."""
    from pathlib import Path
    import requests
    root = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=os.environ.get("DATABASE_URL") or _app.config["SQLALCHEMY_DATABASE_URI"],
               STORAGE_URL=f"file://{root / 'blobs'}", UPLOAD_TMP_DIR=str(root / "uploads"))
    exe = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([exe, "-w", "1", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", "wsgi:app"],
                            cwd=str(Path(__file__).resolve().parent.parent), env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gunicorn did not start")
        time.sleep(0.2)
    yield base, str(root / "blobs")
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3-speaking server as a separate process on loopback; yields its endpoint."""
    port = free_port()
    # moto accepts any credentials; these are placeholders, not secrets.
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(k, v)
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=["local", "s3"])
def backend(request, app, tmp_path):
    """Each media test runs on both blob stores: a local folder, and S3 (moto on loopback)."""
    from media.storage import get_store
    if request.param == "local":
        app.config["STORAGE_URL"] = f"file://{tmp_path / 'blobs'}"
        app.config["S3_ENDPOINT_URL"] = None
    else:
        endpoint = request.getfixturevalue("moto_s3")
        app.config["STORAGE_URL"] = f"s3://danbing-{uuid.uuid4().hex[:12]}/blobs"
        app.config["S3_ENDPOINT_URL"] = endpoint
    app.config["UPLOAD_TMP_DIR"] = str(tmp_path / "uploads")
    store = get_store(app)
    if request.param == "s3":
        store.ensure_bucket()
    return store


def make_photo(width=640, height=480, *, gps=(38.2615, 114.2012, 210.5), captured="2026:11:30 09:15:42",
               orientation=1, noise=False, quality=90, fmt="JPEG"):
    """A JPEG (or PNG) made with Pillow; EXIF GPS, DateTimeOriginal and Orientation as given."""
    from PIL import Image
    if noise:
        im = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        im = Image.new("RGB", (width, height), (200, 80, 40))
        im.paste((30, 120, 200), (0, 0, width // 2, height // 3))
    exif = Image.Exif()
    exif[271], exif[272] = "Danbing", "TestCam 1"
    if orientation != 1:
        exif[274] = orientation
    if captured:
        exif.get_ifd(0x8769)[36867] = captured
        exif.get_ifd(0x8769)[36881] = "+08:00"
    if gps:
        lat, lon, alt = gps

        def dms(x):
            x = abs(x)
            d = int(x)
            m = int((x - d) * 60)
            s = round(((x - d) * 60 - m) * 60, 4)
            return (float(d), float(m), float(s))
        g = exif.get_ifd(0x8825)
        g[1], g[2] = ("N" if lat >= 0 else "S"), dms(lat)
        g[3], g[4] = ("E" if lon >= 0 else "W"), dms(lon)
        g[5], g[6] = 0, float(alt)
    out = io.BytesIO()
    if fmt == "JPEG":
        im.save(out, "JPEG", quality=quality, exif=exif)
    else:
        im.save(out, fmt, exif=exif)
    return out.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def big_photo():
    """A multi-MB JPEG photo (noise does not compress) with GPS EXIF."""
    return make_photo(2000, 1500, noise=True, quality=92)
