"""20 phones upload a 3 MB photo each at the same time, over loopback, with tus.

Starts gunicorn (gthread) on a temporary instance, logs N devices in, and runs N tuspy
uploads concurrently (1 MiB chunks, each with a sha256 Upload-Checksum, the whole file's
sha256 declared at creation, exactly as the PWA does). Prints the aggregate MB/s, the
same bytes copied file-to-file on this disk for comparison, and the server processes'
peak RSS before and after (it must stay flat: chunks stream to disk, never whole files
into memory). A final 40 MB upload shows the same.

    .venv/bin/python bench/upload_bench.py [--uploads 20] [--size-mb 3] [--workers 2 --threads 10]

Uses DATABASE_URL when set, otherwise a temporary SQLite file; blobs go to a local folder
under the temporary instance (STORAGE_URL is honoured when set).
"""
import argparse
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import free_port, fresh_schema  # noqa: E402


def photo(size_bytes, seed):
    """A JPEG of about ``size_bytes`` (noise does not compress), different per seed."""
    from PIL import Image
    import random
    rnd = random.Random(seed)
    side = int((size_bytes / 0.85) ** 0.5)
    w, h = int(side * 1.15), int(side / 1.15)
    im = Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def peak_rss_kb(pids):
    out = {}
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmHWM:"):
                    out[pid] = int(line.split()[1])
        except FileNotFoundError:
            pass
    return out


def cpu_seconds(pids):
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / tick


def server_pids(master):
    kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [master] + [int(k) for k in kids]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--chunk-mb", type=float, default=1,
                    help="PATCH size; 0 = the whole file in one PATCH (tus-js-client's default)")
    args = ap.parse_args()

    instance = tempfile.mkdtemp(prefix="upload-bench-")
    env = dict(os.environ, DANBING_INSTANCE_DIR=instance, MAX_UPLOADS_IN_FLIGHT="100")
    env.setdefault("DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3")
    os.environ.update(env)
    from sqlalchemy import text

    from server import create_app
    from server.extensions import db
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.begin() as conn:
                conn.execute(text("PRAGMA journal_mode=WAL"))
        fresh_schema(app, demo=True)
        from server.demo import DEMO_PASSWORD
        dialect = db.engine.dialect.name

    port = free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([gunicorn, "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                            cwd=str(ROOT), env=env)
    base = f"http://127.0.0.1:{port}"
    import requests
    from tusclient.client import TusClient
    from tusclient.uploader import Uploader

    class Sha256Uploader(Uploader):
        CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        size = int(args.size_mb * 1024 * 1024)
        photos = [photo(size, i) for i in range(args.uploads)]
        total = sum(len(p) for p in photos)
        users = ["wangge", "zhifa1", "zhifa2", "zhuren", "fazhi", "jiuyuan", "jiuyuan2", "xinxi", "admin"]
        tokens = []
        for i in range(args.uploads):
            r = requests.post(f"{base}/api/v1/auth/login", json={
                "username": users[i % len(users)], "password": DEMO_PASSWORD, "device_id": f"bench-{i:03d}"})
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
        digests = [hashlib.sha256(p).hexdigest() for p in photos]  # the phone hashed it when shot

        def upload(i, data=None, digest=None):
            data = data or photos[i]
            c = TusClient(f"{base}/api/v1/uploads", headers={"Authorization": f"Bearer {tokens[i]}"})
            chunk = int(args.chunk_mb * 1024 * 1024) or len(data)
            up = Sha256Uploader(file_stream=io.BytesIO(data), client=c, chunk_size=chunk,
                                upload_checksum=True,
                                metadata={"sha256": digest or digests[i], "filename": f"IMG_{i:04d}.jpg",
                                          "filetype": "image/jpeg"})
            up.upload()

        # Warm up each worker (imports, first DB connections) with one small upload each.
        warm = photo(200 * 1024, 999)
        for _ in range(args.workers * 2):
            try:
                upload(0, warm, hashlib.sha256(warm).hexdigest())
            except Exception:
                pass
        pids = server_pids(proc.pid)
        rss_before = peak_rss_kb(pids)

        errors = []

        def run(i):
            try:
                upload(i)
            except Exception as e:  # report, do not hide
                errors.append((i, repr(e)))
        threads = [threading.Thread(target=run, args=(i,)) for i in range(args.uploads)]
        cpu_server0, cpu_client0 = cpu_seconds(pids), time.process_time()
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        cpu_server, cpu_client = cpu_seconds(pids) - cpu_server0, time.process_time() - cpu_client0
        rss_after = peak_rss_kb(pids)
        load = os.getloadavg()[0]

        # The same bytes, copied file to file on this disk (fsync, as the store does).
        src, dst = Path(instance) / "copy-src", Path(instance) / "copy-dst"
        src.mkdir()
        dst.mkdir()
        for i, p in enumerate(photos):
            (src / f"{i}.jpg").write_bytes(p)
        t1 = time.perf_counter()
        for i in range(len(photos)):
            shutil.copyfile(src / f"{i}.jpg", dst / f"{i}.jpg")
            with open(dst / f"{i}.jpg", "rb+") as f:
                os.fsync(f.fileno())
        copy_elapsed = time.perf_counter() - t1

        # One 40 MB upload: the server's peak RSS must not grow by anything like 40 MB.
        big = b"".join(photo(4 * 1024 * 1024, 1000 + k) for k in range(10))
        upload(0, big, hashlib.sha256(big).hexdigest())
        rss_big = peak_rss_kb(pids)

        stored = sum(1 for _ in Path(instance, "blobs").rglob("*") if _.is_file() and _.parent.name != "tmp")
        mb = total / 1e6
        print(f"uploads: {args.uploads} x {total / args.uploads / 1e6:.2f} MB = {mb:.1f} MB in "
              f"{'whole-file' if not args.chunk_mb else f'{args.chunk_mb:g} MiB'} PATCHes with sha256 checksums, "
              f"gunicorn {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs, "
              f"load average {load:.1f}, database {dialect}")
        print(f"errors: {len(errors)} {errors[:3]}")
        print(f"tus uploads: {elapsed:.2f} s  ->  {mb / elapsed:.1f} MB/s aggregate")
        print(f"plain file copy of the same bytes: {copy_elapsed:.3f} s  ->  {mb / copy_elapsed:.1f} MB/s")
        print(f"overhead vs copy: x{elapsed / copy_elapsed:.1f} time")
        print(f"CPU: server {cpu_server:.2f} s ({cpu_server / mb * 1000:.1f} ms/MB), "
              f"clients (tuspy, same machine) {cpu_client:.2f} s")
        print(f"server peak RSS (VmHWM, MB) before: {fmt(rss_before)}  after 20 uploads: {fmt(rss_after)}  "
              f"after one {len(big) / 1e6:.0f} MB upload: {fmt(rss_big)}")
        print(f"objects in the store: {stored} (each photo once; variants come from a background job)")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(instance, ignore_errors=True)


def fmt(rss):
    return "/".join(f"{v / 1024:.0f}" for _, v in sorted(rss.items()))


if __name__ == "__main__":
    main()
