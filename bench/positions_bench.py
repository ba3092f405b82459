"""Position ingest after a reconnect storm, and the command's latest-positions query.

2,000 simulated phones each come back online with an hour's backlog (one fix every 10 s:
360 fixes, 720,000 in all) and send it as one ``POST /api/v1/positions`` to gunicorn on
loopback; the script prints fixes/s and then the time of ``GET /api/v1/positions/latest``
for a county supervisor who sees all 2,000 members (the HTTP call, and the domain
function alone). Targets (issue #6): ≥ 20,000 fixes/s, latest positions < 100 ms.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test_field \\
        .venv/bin/python bench/positions_bench.py [--phones 2000] [--fixes 360] [--workers 2] [--clients 8]
    .venv/bin/python bench/positions_bench.py --direct   # the domain ingest function, no HTTP

Without DATABASE_URL a temporary SQLite file is used (fine for a smoke run, not for figures).
The script DROPS and rebuilds the schema of the database it is given, so it refuses one whose
name has neither "test" nor "bench" in it.
"""
import argparse
import hashlib
import http.client
import json
import os
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import free_port, fresh_schema  # noqa: E402

COUNTY = "130131000000"


def setup(app, phones, teams):
    """Users, devices, sessions and access tokens for the phones, written in bulk."""
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from server.extensions import db
    from server.models import AuthSession, AuthToken, Device, Organisation, User

    fresh_schema(app, demo=True)
    pw = generate_password_hash("bench-password", method="scrypt")
    db.session.execute(insert(Organisation), [
        {"name": f"平山县救援队第{t + 1}分队", "kind": "rescue_team", "jurisdiction_code": COUNTY} for t in range(teams)])
    orgs = list(db.session.scalars(select(Organisation.id).where(Organisation.name.like("平山县救援队第%"))))
    db.session.execute(insert(User), [
        {"username": f"bench{i:05d}", "display_name": f"队员{i:05d}", "password_hash": pw, "role": "rescuer",
         "jurisdiction_code": COUNTY, "organisation_id": orgs[i % len(orgs)], "active": True}
        for i in range(phones)])
    users = dict(db.session.execute(select(User.username, User.id).where(User.username.like("bench%"))).all())
    db.session.execute(insert(Device), [{"device_id": f"bench-phone-{i:05d}"} for i in range(phones)])
    devices = dict(db.session.execute(select(Device.device_id, Device.id).where(Device.device_id.like("bench-phone-%"))).all())
    db.session.execute(insert(AuthSession), [
        {"user_id": users[f"bench{i:05d}"], "device_pk": devices[f"bench-phone-{i:05d}"]} for i in range(phones)])
    sessions = dict(db.session.execute(select(AuthSession.user_id, AuthSession.id)).all())
    tokens, rows = [], []
    expires = datetime(2100, 1, 1)
    for i in range(phones):
        tok = "dba_" + secrets.token_urlsafe(24)
        tokens.append(tok)
        rows.append({"token_hash": hashlib.sha256(tok.encode()).hexdigest(), "session_id": sessions[users[f"bench{i:05d}"]],
                     "kind": "access", "expires_at": expires})
    # The county supervisor who reads the map.
    boss = db.session.scalar(select(User).where(User.username == "zhuren"))
    dev = Device(device_id="bench-command")
    db.session.add(dev)
    db.session.flush()
    s = AuthSession(user_id=boss.id, device_pk=dev.id)
    db.session.add(s)
    db.session.flush()
    boss_token = "dba_" + secrets.token_urlsafe(24)
    rows.append({"token_hash": hashlib.sha256(boss_token.encode()).hexdigest(), "session_id": s.id,
                 "kind": "access", "expires_at": expires})
    db.session.execute(insert(AuthToken), rows)
    db.session.commit()
    phone_pks = [devices[f"bench-phone-{i:05d}"] for i in range(phones)]
    phone_users = [db.session.get(User, users[f"bench{i:05d}"]) for i in range(phones)]
    return tokens, boss_token, boss, phone_pks, phone_users


def backlog(i, n, end):
    """An hour of fixes from phone ``i`` ending at ``end``: a slow walk, battery draining."""
    start = end - timedelta(seconds=10 * n)
    lat0, lon0 = 38.20 + (i % 50) * 0.004, 114.10 + (i // 50) * 0.004
    return [{"device_time": (start + timedelta(seconds=10 * k)).isoformat() + "Z",
             "lat": round(lat0 + k * 1e-5, 6), "lon": round(lon0 + k * 1e-5, 6), "accuracy": 6.0 + k % 7,
             "speed": 1.3, "heading": 45.0, "battery": 90 - k // 12} for k in range(n)]


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out), max(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=2000)
    ap.add_argument("--fixes", type=int, default=360)
    ap.add_argument("--teams", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP connections")
    ap.add_argument("--direct", action="store_true", help="call the domain ingest function, no HTTP")
    args = ap.parse_args()

    instance = tempfile.mkdtemp(prefix="positions-bench-")
    os.environ["DANBING_INSTANCE_DIR"] = instance
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3")
    from server import create_app
    from server.extensions import db
    app = create_app()
    end = datetime.utcnow().replace(microsecond=0)
    with app.app_context():
        t0 = time.perf_counter()
        tokens, boss_token, boss, phone_pks, phone_users = setup(app, args.phones, args.teams)
        print(f"database: {db.engine.dialect.name}; setup of {args.phones} phones in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        bodies = [json.dumps({"fixes": backlog(i, args.fixes, end)}).encode() for i in range(args.phones)]
        total = args.phones * args.fixes
        print(f"{total} fixes prepared ({sum(map(len, bodies)) / 1e6:.0f} MB of JSON) in {time.perf_counter() - t0:.1f} s")

        if args.direct:
            from field import positions
            t0 = time.perf_counter()
            accepted = 0
            for i, body in enumerate(bodies):
                accepted += positions.ingest(phone_users[i], phone_pks[i], json.loads(body)["fixes"])["accepted"]
            elapsed = time.perf_counter() - t0
            mode = "domain function, 1 process"
        else:
            port = free_port()
            env = {**os.environ, "DANBING_INSTANCE_DIR": instance}
            server = subprocess.Popen(
                [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                 "--preload", "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env, start_new_session=True)
            try:
                for _ in range(300):  # until a worker answers
                    try:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                        conn.request("GET", "/healthz")
                        if conn.getresponse().status == 200:
                            break
                    except OSError:
                        time.sleep(0.2)
                work, results = queue.Queue(), []
                for i in range(args.phones):
                    work.put(i)

                def client():
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    while True:
                        try:
                            i = work.get_nowait()
                        except queue.Empty:
                            return
                        conn.request("POST", "/api/v1/positions", body=bodies[i], headers={
                            "Content-Type": "application/json", "Authorization": f"Bearer {tokens[i]}"})
                        r = conn.getresponse()
                        data = r.read()
                        results.append((r.status, json.loads(data)))

                t0 = time.perf_counter()
                threads = [threading.Thread(target=client) for _ in range(args.clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - t0
                bad = [r for r in results if r[0] != 200]
                assert not bad, bad[:3]
                accepted = sum(r[1]["accepted"] for r in results)

                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                answers = []

                def http_latest():  # request and read the body (what a browser waits for)
                    conn.request("GET", "/api/v1/positions/latest", headers={"Authorization": f"Bearer {boss_token}"})
                    r = conn.getresponse()
                    answers.append((r.status, r.read()))
                http_med, http_max = timed(http_latest, 20)
                status, body = answers[-1]
                assert status == 200 and len(json.loads(body)["items"]) >= args.phones, status
                http_kb = len(body) / 1024
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
            mode = f"HTTP, gunicorn {args.workers} workers, {args.clients} client connections"

        assert accepted == total, (accepted, total)
        print(f"ingest ({mode}): {total} fixes from {args.phones} phones in {elapsed:.1f} s "
              f"= {total / elapsed:,.0f} fixes/s ({args.phones / elapsed:.0f} batches/s)")
        from field import positions
        db.session.expire_all()
        items = positions.latest(boss)
        assert len(items) >= args.phones
        fn_med, fn_max = timed(lambda: positions.latest_json(boss), 20)  # what the view serves
        print(f"latest positions for {len(items)} members, domain function (latest_json): median {fn_med:.1f} ms, max {fn_max:.1f} ms")
        if not args.direct:
            print(f"latest positions for {len(items)} members, GET /api/v1/positions/latest ({http_kb:.0f} KB): "
                  f"median {http_med:.1f} ms, max {http_max:.1f} ms")
        # The same batch again (a phone that never got its answer): all duplicates, nothing stored twice.
        again = positions.ingest(phone_users[0], phone_pks[0], json.loads(bodies[0])["fixes"])
        print(f"re-sent backlog: accepted {again['accepted']}, duplicates {again['duplicates']}")


if __name__ == "__main__":
    main()
