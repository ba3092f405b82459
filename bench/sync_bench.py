"""Sync benchmark: the real API over HTTP (gunicorn on loopback, PostgreSQL, Redis).

    .venv/bin/python bench/sync_bench.py --database-url postgresql://postgres@127.0.0.1:5432/test_sync2 \\
        [--redis-url redis://127.0.0.1:6379/1] [--quick]

ERASES the database it is given (drops and rebuilds the schema), so it refuses a database
whose name does not contain "test" or "bench" unless --erase-anyway is passed.

Phases, each timed from the client side over HTTP:

1. push throughput: D simulated phones (threads, one requests.Session each) push batches
   of B ops (mostly new hazards, some edits of their own earlier records) for a fixed
   number of ops; prints applied ops/s and p50/p99 push latency. Target: >= 2,000 ops/s.
2. reconnect storm: 2,000 phones (2,000 device logins of 200 users) each flush 25 ops at
   once (a few dozen concurrent connections); 10 % of them lose the response and resend the
   same batch; 503s are retried like the app does. Then the database is checked: every op
   has exactly one stored result (0 lost), every record has exactly the version its ops
   give it (0 duplicated).
3. pull throughput: a county supervisor's phone pulls 10,000 changes from an empty cursor
   in pages of 500. Target: < 2 s.

Setting up thousands of logins through /api/v1/auth/login would measure scrypt, not sync:
a few phones log in through the API, the rest get their sessions minted in-process with the
auth service's own token issuer.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from _common import free_port, fresh_schema, pct  # noqa: E402

PASSWORD = "Bench@2026"
VILLAGES = ["130131100201", "130131100202", "130131101201", "130131101202", "130131102201", "130131102202"]


class Autoanalyze(threading.Thread):
    """Stands in for autovacuum's ANALYZE, which this machine kind's PostgreSQL runs with
    switched off (``autovacuum = off``).

    The benchmark starts from empty tables and grows them by tens of thousands of rows in a
    minute. Tables never analyzed have no statistics, and psycopg's prepared statements then
    get generic plans that scan: the op-id lookup of a push took 73 ms instead of 0.9 ms at
    35,000 ops (measured 2026-12-07). A production server has autovacuum on (PostgreSQL's
    default), which analyzes a table once 10 % of it has changed; this thread does the same
    check every few seconds for the tables a push writes.
    """
    TABLES = ("sync_records", "sync_ops", "sync_scope_exits", "audit_entries", "audit_heads", "blob_refs")

    def __init__(self, database_url, every=3.0):
        super().__init__(daemon=True)
        self.url, self.every, self.stop, self.runs = database_url, every, threading.Event(), 0

    def run(self):
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                stopping = self.stop.wait(self.every)
                for t in self.TABLES:  # once more on the way out: the last phase's rows too
                    row = conn.execute("SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
                                       "WHERE relname = %s", (t,)).fetchone()
                    if row and row[0] > 50 + 0.1 * row[1]:
                        conn.execute(f"ANALYZE {t}")
                        self.runs += 1
                if stopping:
                    return


def _cpu_seconds(server_pid):
    """CPU seconds used so far by (this client, the gunicorn processes, PostgreSQL's
    backends), to tell which side a phase spent the two cores on; None without psutil."""
    try:
        import psutil
    except ImportError:
        return None

    def cpu(p):
        try:
            t = p.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0
    me = psutil.Process()
    try:
        server = psutil.Process(server_pid)
        gunicorn = [server] + server.children(recursive=True)
    except psutil.Error:
        gunicorn = []
    pg = [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]
    return cpu(me), sum(cpu(p) for p in gunicorn), sum(cpu(p) for p in pg)


def _cpu_split(before, after, wall):
    if before is None or after is None:
        return ""
    client, server, pg = (a - b for a, b in zip(after, before))
    return (f"; CPU over {wall:.1f} s: gunicorn {server:.1f} s, PostgreSQL {pg:.1f} s, "
            f"bench client {client:.1f} s")


# ------------------------------------------------------------------ setup (in-process)

def setup(app, n_users, n_devices, erase_anyway=False):
    """Fresh schema, demo county, ``n_users`` grid members; returns [(user_id, device_id, token)]."""
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from server.accounts import get_or_create_organisation
    from server.auth import service
    from server.clock import utcnow
    from server.extensions import db
    from server.models import AuthSession, Device, User

    fresh_schema(app, demo=True, erase_anyway=erase_anyway)
    with app.app_context():
        org = get_or_create_organisation("平山镇人民政府", "130131100000", "office")
        pw = generate_password_hash(PASSWORD, method="scrypt")
        db.session.execute(insert(User), [
            {"username": f"bench{i:04d}", "password_hash": pw, "role": "grid_member",
             "jurisdiction_code": VILLAGES[i % len(VILLAGES)], "display_name": f"压测网格员{i}",
             "organisation_id": org.id, "active": True} for i in range(n_users)])
        db.session.commit()
        users = db.session.scalars(select(User).where(User.username.startswith("bench"))
                                   .order_by(User.id)).all()
        settings = service.Settings.from_config(app.config)
        now = utcnow()
        out = []
        for i in range(n_devices):
            user = users[i % len(users)]
            device = Device(device_id=f"bench-{i:05d}-{uuid.uuid4().hex[:8]}", registered_at=now, last_user=user)
            session = AuthSession(user=user, device=device, created_at=now)
            db.session.add_all([device, session])
            tokens = service._issue(session, settings, now)
            out.append((user.id, device.device_id, tokens["access_token"]))
        db.session.commit()
        return out


# ------------------------------------------------------------------ the client side

class Phone:
    def __init__(self, base, user_id, device_id, token):
        self.base, self.user_id, self.device_id = base, user_id, device_id
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.mine = []  # ids of records this phone created
        self.retries_503 = 0

    def push(self, ops):
        """POST the batch; retries 503 (busy) like the app's outbox does. Returns (results, seconds)."""
        body = {"device_id": self.device_id, "ops": ops}
        for attempt in range(20):
            t0 = time.perf_counter()
            r = self.http.post(f"{self.base}/api/v1/sync/push", json=body, timeout=120)
            dt = time.perf_counter() - t0
            if r.status_code == 503:
                self.retries_503 += 1
                time.sleep(0.05 * (attempt + 1))
                continue
            r.raise_for_status()
            return r.json()["results"], dt
        raise RuntimeError("push still busy after 20 tries")

    def pull(self, cursor, limit):
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        r = self.http.get(f"{self.base}/api/v1/sync/pull", params=q, timeout=120)
        r.raise_for_status()
        return r.json()

    def make_batch(self, n, rnd, edit_share=0.2):
        ops = []
        for _ in range(n):
            if self.mine and rnd.random() < edit_share:
                rid = rnd.choice(self.mine)
                ops.append({"op_id": str(uuid.uuid4()), "entity": "hazard", "id": rid, "op": "upsert",
                            "base_version": None, "data": {"description": f"复查 {rnd.random():.6f}"}})
            else:
                rid = str(uuid.uuid4())
                self.mine.append(rid)
                ops.append({"op_id": str(uuid.uuid4()), "entity": "hazard", "id": rid, "op": "upsert",
                            "base_version": None,
                            "data": {"title": f"压测隐患 {rid[:8]}", "description": "配电箱未上锁，线缆裸露",
                                     "location": {"lat": 38.26 + rnd.random() / 100, "lon": 114.2, "accuracy": 8.0},
                                     "device_time": "2026-11-30T08:00:00+08:00", "status": "reported",
                                     "risk_level": "黄", "grade": "一般", "handling": "限期整改", "source": "snapshot"}})
        return ops


def phase_push(phones, total_ops, batch, concurrency):
    rnd_seed = iter(range(10 ** 6))
    lock = threading.Lock()
    state = {"left": total_ops, "applied": 0, "other": 0}
    latencies = []

    def worker(phone):
        rnd = random.Random(next(rnd_seed))
        while True:
            with lock:
                n = min(batch, state["left"])
                state["left"] -= n
            if n <= 0:
                return
            results, dt = phone.push(phone.make_batch(n, rnd))
            with lock:
                latencies.append(dt)
                for r in results:
                    state["applied" if r["status"] in ("applied", "conflict") else "other"] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(worker, phones[:concurrency]))
    wall = time.perf_counter() - t0
    return state, wall, latencies


def phase_pull(phone, total, page):
    cursor, got, t0, pages = None, 0, time.perf_counter(), 0
    while got < total:
        body = phone.pull(cursor, page)
        got += len(body["changes"])
        cursor, pages = body["cursor"], pages + 1
        if not body["has_more"]:
            break
    return got, pages, time.perf_counter() - t0


def phase_storm(phones, ops_each, concurrency, resend_share):
    """Every phone flushes ``ops_each`` ops at once; some resend after a 'lost' response."""
    rnd = random.Random(42)
    plan = []
    for phone in phones:
        # 20 % edits of records created earlier in the same batch: a duplicate application
        # of either would show in the version.
        ops = phone.make_batch(ops_each, rnd, edit_share=0.2)
        plan.append((phone, ops, rnd.random() < resend_share))
    latencies, statuses, lock = [], {}, threading.Lock()

    def flush(item):
        phone, ops, resend = item
        results, dt = phone.push(ops)
        if resend:  # the response was lost on a bad link: the app sends the same batch again
            results, dt2 = phone.push(ops)
            dt += dt2
        with lock:
            latencies.append(dt)
            for op, r in zip(ops, results):
                statuses[op["op_id"]] = r.get("original_status", r["status"]) if r["status"] == "duplicate" else r["status"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(flush, plan))
    wall = time.perf_counter() - t0
    return plan, statuses, wall, latencies


def check_storm(app, plan):
    """Against the database: every op stored once with its result, versions as the ops say."""
    from collections import Counter

    from sqlalchemy import select

    from server.extensions import db
    from sync.models import SyncOp, SyncRecord

    op_ids = [op["op_id"] for _, ops, _ in plan for op in ops]
    expected_version = Counter()
    for _, ops, _ in plan:
        for op in ops:
            expected_version[op["id"]] += 1  # a create is version 1, each (changing) edit +1
    with app.app_context():
        stored = {}
        for i in range(0, len(op_ids), 5000):
            stored.update({o: (s, w) for o, s, w in db.session.execute(
                select(SyncOp.op_id, SyncOp.status, SyncOp.wrote).where(SyncOp.op_id.in_(op_ids[i:i + 5000])))})
        versions = {}
        ids = list(expected_version)
        for i in range(0, len(ids), 5000):
            versions.update(db.session.execute(select(SyncRecord.id, SyncRecord.version)
                                               .where(SyncRecord.id.in_(ids[i:i + 5000]))).all())
    lost = sum(1 for o in op_ids if o not in stored or stored[o][0] not in ("applied", "conflict"))
    duplicated = sum(1 for rid, n in expected_version.items() if versions.get(rid) != n)
    missing_records = sum(1 for rid in expected_version if rid not in versions)
    return lost, duplicated, missing_records


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), required=not os.environ.get("DATABASE_URL"))
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    ap.add_argument("--quick", action="store_true", help="a smaller run (about a quarter of the work)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    ap.add_argument("--erase-anyway", action="store_true",
                    help="erase the database even though its name has neither 'test' nor 'bench'")
    args = ap.parse_args()

    if not args.database_url.startswith("postgres"):
        sys.exit("sync_bench: needs PostgreSQL (--database-url postgresql://...)")

    push_ops = 10_000 if args.quick else 40_000
    storm_devices = 500 if args.quick else 2_000
    pull_total, pull_page = (10_000, 500)
    n_users = 200

    instance = tempfile.mkdtemp(prefix="sync-bench-")
    env = {**os.environ, "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
           "DANBING_INSTANCE_DIR": instance, "ACCESS_TOKEN_TTL": "7200", "SECRET_KEY": "sync-bench-" + uuid.uuid4().hex}
    os.environ.update(env)
    from server import create_app
    app = create_app()
    t0 = time.perf_counter()
    creds = setup(app, n_users, storm_devices + 64, args.erase_anyway)  # refuses a non-scratch database
    print(f"setup: schema, demo county, {n_users} users, {len(creds)} device sessions in {time.perf_counter() - t0:.1f} s")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--threads", str(args.threads), "--backlog", "4096", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not come up")
        # A few phones log in through the real API (the rest use minted sessions).
        for i in range(3):
            r = requests.post(f"{base}/api/v1/auth/login", json={
                "username": f"bench{i:04d}", "password": PASSWORD, "device_id": f"bench-login-{i:04d}"}, timeout=30)
            r.raise_for_status()
        print(f"gunicorn: {args.workers} workers x {args.threads} threads on {base}; "
              f"load average at start {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")

        analyzer = Autoanalyze(args.database_url.replace("postgresql+psycopg://", "postgresql://"))
        analyzer.start()
        phones = [Phone(base, *c) for c in creds]
        warm = phones[-1]
        warm.push(warm.make_batch(50, random.Random(0)))

        # 1. push throughput
        conc, batch = 16, 100
        cpu0 = _cpu_seconds(server.pid)
        state, wall, lat = phase_push(phones[-64:], push_ops, batch, conc)
        print(f"push: {state['applied']} ops applied ({state['other']} other) by {conc} phones in batches of "
              f"{batch}: {wall:.1f} s = {state['applied'] / wall:,.0f} applied ops/s (target >= 2,000); "
              f"push latency p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms "
              f"[load {os.getloadavg()[0]:.2f}{_cpu_split(cpu0, _cpu_seconds(server.pid), wall)}]")

        # 2. reconnect storm
        storm_conc = 48
        plan, statuses, wall, lat = phase_storm(phones[:storm_devices], 25, storm_conc, 0.1)
        n_ops = sum(len(ops) for _, ops, _ in plan)
        resent = sum(1 for *_, resend in plan if resend)
        lost, duplicated, missing = check_storm(app, plan)
        bad = sum(1 for s in statuses.values() if s not in ("applied", "conflict"))
        print(f"storm: {storm_devices} phones x 25 ops = {n_ops} ops ({resent} batches resent after a lost response), "
              f"{storm_conc} connections at once: {wall:.1f} s = {n_ops / wall:,.0f} ops/s; batch latency "
              f"p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms; "
              f"503 retries {sum(p.retries_503 for p in phones)} [load {os.getloadavg()[0]:.2f}]")
        print(f"storm check against the database: lost {lost}, duplicated {duplicated}, "
              f"records missing {missing}, ops not applied {bad}")
        # 3. pull throughput: a county supervisor sees every record (by now more than 10,000).
        # Without fresh statistics PostgreSQL estimates a few hundred rows past the cursor
        # and sorts them all instead of walking the seq index (measured: 5.7 s instead of
        # ~1.2 s for 10,000); the stand-in for autovacuum has analyzed the tables by now.
        analyzer.stop.set()
        analyzer.join()
        print(f"autoanalyze stand-in (this PostgreSQL runs with autovacuum off): {analyzer.runs} ANALYZE runs")
        r = requests.post(f"{base}/api/v1/auth/login", json={
            "username": "zhuren", "password": "Danbing@2026", "device_id": "bench-zhuren-01"}, timeout=30)
        r.raise_for_status()
        sup = Phone(base, r.json()["user"]["id"], "bench-zhuren-01", r.json()["access_token"])
        got, pages, secs = phase_pull(sup, pull_total, pull_page)
        print(f"pull: {got} changes in {pages} pages of {pull_page}: {secs:.2f} s = {got / secs:,.0f} changes/s "
              f"(target 10,000 in < 2 s) [load {os.getloadavg()[0]:.2f}]")

        ok = lost == 0 and duplicated == 0 and missing == 0 and bad == 0
        print("storm: OK" if ok else "storm: FAILED")
        return 0 if ok else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
