"""Fan a warning (预警) out to N subscribed devices through real RQ workers.

Starts a push service on loopback (the test one: it checks each VAPID token and decrypts
each payload, like a browser vendor's service would), creates N devices with push
subscriptions, enqueues one area notification, runs W `flask worker --burst push`
processes and prints the time until the push service has accepted all N messages.

    .venv/bin/python bench/push_bench.py [--devices 10000] [--workers 2]

Uses DATABASE_URL / REDIS_URL when set (PostgreSQL + Redis in CI), otherwise a temporary
SQLite file and the embedded Redis.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import fresh_schema  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    instance = tempfile.mkdtemp(prefix="push-bench-")
    os.environ["DANBING_INSTANCE_DIR"] = instance
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3")
    from sqlalchemy import insert, text

    from push import delivery
    from push.models import PushSubscription
    from server import create_app
    from server.extensions import db
    from server.models import Device, User
    from server.queue import get_redis
    from tests.push_service import PushService

    app = create_app()
    with app.app_context(), PushService() as service:
        fresh_schema(app, demo=True)
        get_redis().delete("rq:queue:push")
        users = [u.id for u in db.session.query(User).filter(User.jurisdiction_code.startswith("130131"))]
        t0 = time.perf_counter()
        db.session.execute(insert(Device), [{"device_id": f"bench-{i:06d}", "last_user_id": users[i % len(users)]}
                                            for i in range(args.devices)])
        device_pks = [pk for (pk,) in db.session.execute(text("SELECT id FROM devices WHERE device_id LIKE 'bench-%'"))]
        subs = [service.subscribe(f"d{i}").json() for i in range(args.devices)]
        db.session.execute(insert(PushSubscription), [
            {"user_id": users[i % len(users)], "device_pk": device_pks[i], "endpoint": s["endpoint"],
             "p256dh": s["keys"]["p256dh"], "auth": s["keys"]["auth"]} for i, s in enumerate(subs)])
        db.session.commit()
        print(f"setup: {args.devices} subscribed devices in {time.perf_counter() - t0:.1f} s")

        env = {**os.environ, "FLASK_APP": "wsgi", "REDIS_URL": app.config["REDIS_URL"] or ""}
        if not app.config["REDIS_URL"]:
            env.pop("REDIS_URL")
        start = time.perf_counter()
        n = delivery.notify_jurisdiction("130131", delivery.message(
            "warning", "暴雨红色预警", "平山县气象台发布暴雨红色预警，请山洪地质灾害隐患点人员立即转移。", "/#/warnings/bench",
            severity="high", level="red"))
        enqueued = time.perf_counter() - start
        workers = [subprocess.Popen([str(ROOT / ".venv/bin/flask"), "worker", "--burst", "push"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(args.workers)]
        try:
            while len(service.received) < n and time.perf_counter() - start < args.timeout:
                time.sleep(0.2)
        finally:
            for w in workers:
                w.terminate()
        elapsed = time.perf_counter() - start
        print(f"devices targeted: {n}; chunks enqueued in {enqueued:.2f} s")
        print(f"delivered (VAPID checked, payload decrypted): {len(service.received)}; refused: {len(service.rejected)}")
        print(f"workers: {args.workers}; time to hand all to the push service: {elapsed:.1f} s "
              f"({len(service.received) / elapsed:.0f} messages/s); target < 60 s")


if __name__ == "__main__":
    main()
