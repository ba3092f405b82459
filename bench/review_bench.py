"""Time the supervisor's review queue over 100,000 hazards.

Bulk-inserts N hazard records (``sync_records`` rows, as the sync engine stores them: spread
over the demo county's villages and a neighbouring county, every status, risk level, work-order
deadline and a year of creation times), then asks ``GET /api/v1/review/queue`` ~50 times
with different filters and sorts as the county supervisor, through the Flask test client
(the whole view: auth, query, count, serialisation), and prints p50/p95.

    DATABASE_URL=postgresql://… .venv/bin/python bench/review_bench.py [--hazards 100000] [--requests 50]

DROPS AND REBUILDS the schema of the database it is given (only one whose name contains "test"
or "bench"). Target: p95 < 200 ms on PostgreSQL.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import fresh_schema, pct  # noqa: E402

STATUSES = ["reported"] * 10 + ["verified"] * 5 + ["assigned"] * 10 + ["rectifying"] * 10 + ["rectified"] * 5 + \
           ["reinspected"] * 2 + ["closed"] * 50 + ["rejected"] * 8
LEVELS = ["红", "橙", "橙", "黄", "黄", "黄", "蓝", "蓝", "蓝", "蓝"]
FILTERS = [
    {}, {"overdue": "true"}, {"risk_level": "红"}, {"status": "reported"}, {"status": "rectified,reinspected"},
    {"type": "hazard"}, {"jurisdiction": "130131100201"}, {"jurisdiction": "130131101000", "risk_level": "红,橙"},
    {"sort": "level"}, {"sort": "deadline", "overdue": "true"}, {"page": "50"}, {"status": "all", "per_page": "50"},
    {"date_from": "2026-03-01T00:00:00Z", "date_to": "2026-04-01T00:00:00Z"}, {"enterprise_id": "ENT"},
    {"sort": "-updated_at", "status": "all"}, {"status": "closed", "sort": "created_at"},
]


def _bulk(db, model, rows):
    """COPY on PostgreSQL (about 100,000 rows in a few seconds), executemany elsewhere."""
    import json

    from sqlalchemy import insert
    if db.engine.dialect.name != "postgresql":
        for i in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[i:i + 5000])
        return
    db.session.commit()
    cols = list(rows[0])
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY {model.__tablename__} ({', '.join(cols)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row([json.dumps(r[c], ensure_ascii=False) if isinstance(r[c], dict) else r[c] for c in cols])
        raw.commit()
    finally:
        raw.close()


def _backend_pid(db):
    from sqlalchemy import text
    if db.engine.dialect.name != "postgresql":
        return None
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    return pid if os.path.exists(f"/proc/{pid}/stat") else None  # a local server only


def _proc_cpu(pid):
    """user+system CPU seconds of a local process (the PostgreSQL backend)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hazards", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=50)
    args = ap.parse_args()
    instance = tempfile.mkdtemp(prefix="review-bench-")
    os.environ["DANBING_INSTANCE_DIR"] = instance
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3")
    from sqlalchemy import text

    from server import create_app
    from server.extensions import db
    from server.models import Enterprise, User
    from sync.models import SyncCounter, SyncRecord

    app = create_app({"TESTING": True})
    with app.app_context():
        fresh_schema(app, demo=True)
        from server.demo import JURISDICTIONS
        villages = [c for c, _ in JURISDICTIONS if not c.endswith("000")]
        enterprises = [e.id for e in db.session.query(Enterprise)]
        users = [u.id for u in db.session.query(User)]
        rnd = random.Random(5)
        now = datetime(2026, 11, 30, 8, 0)
        t0 = time.perf_counter()
        rows = []
        for i in range(args.hazards):
            status = rnd.choice(STATUSES)
            level = rnd.choice(LEVELS)
            code = rnd.choice(villages)
            created = now - timedelta(minutes=rnd.randint(0, 365 * 24 * 60))
            ent = rnd.choice(enterprises) if rnd.random() < 0.4 else None
            deadline = None
            data = {"title": f"隐患 {i}", "status": status, "risk_level": level, "grade": "一般",
                    "handling": "限期整改", "jurisdiction_code": code, "enterprise_id": ent,
                    "photos": [uuid.uuid4().hex * 2], "reporter_id": rnd.choice(users), "source": "snapshot",
                    "location": {"lat": 38.2 + rnd.random() / 10, "lon": 114.1 + rnd.random() / 10}}
            assignee = None
            if status not in ("reported", "verified", "rejected"):
                deadline = created + timedelta(days=rnd.randint(3, 60))
                assignee = rnd.choice(users)
                data["work_order"] = {"unit": f"责任单位{i % 50}", "person_id": assignee,
                                      "deadline": deadline.isoformat()}
                data["assignee_id"] = assignee
            rows.append({"id": str(uuid.UUID(int=rnd.getrandbits(128))), "entity": "hazard", "version": 1,
                         "deleted": False, "data": data, "field_versions": {}, "seq": i + 1,
                         "jurisdiction_code": code, "status": status, "owner_id": data["reporter_id"],
                         "assignee_id": assignee, "enterprise_id": ent, "level": level, "deadline": deadline,
                         "title": data["title"], "created_at": created, "updated_at": created,
                         "created_by_id": data["reporter_id"], "updated_by_id": data["reporter_id"]})
        _bulk(db, SyncRecord, rows)
        db.session.add(SyncCounter(id=1, value=args.hazards))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE sync_records"))
        print(f"inserted {args.hazards} hazards in {time.perf_counter() - t0:.1f} s ({db.engine.dialect.name})")
        app.config["CLOCK"] = lambda: now

        client = app.test_client()
        r = client.post("/api/v1/auth/login", json={"username": "zhuren", "password": "Danbing@2026",
                                                    "device_id": "bench-console"})
        headers = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
        times, totals = [], {}
        backend = _backend_pid(db)
        cpu0 = None
        for n in range(args.requests + len(FILTERS)):
            if n == len(FILTERS):
                cpu0 = (time.process_time(), _proc_cpu(backend))
            q = dict(FILTERS[n % len(FILTERS)])
            if q.get("enterprise_id") == "ENT":
                q["enterprise_id"] = enterprises[0]
            t = time.perf_counter()
            resp = client.get("/api/v1/review/queue", headers=headers, query_string=q)
            dt = (time.perf_counter() - t) * 1000
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            if n < len(FILTERS):
                continue  # warm-up round: one of each
            times.append(dt)
            totals[str(q)] = (resp.get_json()["total"], round(dt, 1))
        for k, (total, ms) in totals.items():
            print(f"  {ms:7.1f} ms  total={total:<6} {k}")
        if backend and _backend_pid(db) != backend:
            print("warning: the requests used another database connection; database CPU is not measured")
            backend = None
        app_cpu = (time.process_time() - cpu0[0]) * 1000 / len(times)
        db_cpu = (_proc_cpu(backend) - cpu0[1]) * 1000 / len(times) if backend else None
        print(f"review queue over {args.hazards} hazards: {len(times)} requests, "
              f"p50 {statistics.median(times):.1f} ms, p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms")
        # Wall time on a shared machine includes waiting for a CPU; the CPU actually spent per
        # request (this process + the PostgreSQL backend serving it) is what an idle server would take.
        print(f"CPU per request: app {app_cpu:.1f} ms + database {db_cpu if db_cpu is None else round(db_cpu, 1)} ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
