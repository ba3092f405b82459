"""PWA figures in real Chromium (issue #9).

    .venv/bin/python bench/pwa_bench.py [--records 500 --photos 50]

1. The app shell and code a phone downloads (every response of the first load except the
   API, gzip-compressed one by one as a gzip-serving proxy would send them; PNG as is).
   Budget 150 KB; there is no map library in this shell.
2. Offline reload to a usable screen: with the network off, reload and read the
   ``danbing-ready`` performance mark (set when the first screen is drawn from IndexedDB).
   Target under 1 s. Median of 5.
3. A backlog: N records queued offline, M of them with a photo, then one sync: time until
   the outbox is empty, and the server's counts (each record and blob exactly once).

Uses DATABASE_URL when set (else a temporary SQLite file) and the embedded Redis.
"""
import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import fresh_schema  # noqa: E402


def make_app():
    inst = tempfile.mkdtemp(prefix="pwa-bench-")
    os.environ.setdefault("DANBING_INSTANCE_DIR", inst)
    from server import create_app
    cfg = {"TESTING": True}
    if not os.environ.get("DATABASE_URL"):
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{inst}/bench.sqlite3"
    app = create_app(cfg)
    fresh_schema(app, demo=True)
    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--photos", type=int, default=50)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from pwa import testing as pt
    app = make_app()
    with pt.LiveServer(app) as live, sync_playwright() as p:
        browser = pt.launch(p)
        ctx = pt.new_context(browser, live.url)
        page = ctx.new_page()
        sizes = {}

        def on_response(resp):
            if "/api/" in resp.url or resp.request.method != "GET" or resp.url in sizes:
                return
            try:
                body = resp.body()
            except Exception:
                return
            sizes[resp.url] = len(body) if resp.url.endswith(".png") else len(gzip.compress(body, 9))
        page.on("response", on_response)
        pt.login(page, "wangge")
        page.wait_for_timeout(500)
        shell_kb = sum(sizes.values()) / 1024
        print(f"first load, files the page fetched (gzip, {len(sizes)} files): {shell_kb:.1f} KB")
        # The service worker also precaches the rest (icons, screens not yet opened): all of it.
        import json
        head = page.request.get("/sw.js").text().split("\n", 2)
        total = 0
        urls = json.loads(head[1].split("=", 1)[1].rstrip(";"))
        for url in urls:
            body = page.request.get(url).body()
            total += len(body) if url.endswith(".png") else len(gzip.compress(body, 9))
        sw = len(gzip.compress(page.request.get("/sw.js").body(), 9))
        print(f"shell+code sent to a phone, whole precache + sw.js (gzip, {len(urls) + 1} files, no map library): "
              f"{(total + sw) / 1024:.1f} KB (budget 150 KB)")

        ctx.set_offline(True)
        times = []
        for _ in range(5):
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            times.append(page.evaluate("performance.getEntriesByName('danbing-ready')[0].startTime"))
        print(f"offline reload to usable screen: median {statistics.median(times):.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}; target < 1000 ms)")

        t0 = time.monotonic()
        page.evaluate("""async ([n, m]) => {
            const outbox = await import('/js/outbox.js');
            outbox.stop();
            const canvas = document.createElement('canvas');
            canvas.width = 640; canvas.height = 480;
            const g = canvas.getContext('2d');
            for (let i = 0; i < n; i++) {
                const data = {title: `批量隐患 ${i}`, description: '离线积压测试', risk_level: '黄',
                              location: {lat: 38.26 + i / 1e5, lon: 114.2, accuracy: 10}};
                if (i < m) {
                    const img = g.createImageData(640, 480);
                    for (let k = 0; k < img.data.length; k++) img.data[k] = (k * 7 + i * 131 + Math.random() * 40) & 255;
                    g.putImageData(img, 0, 0);
                    const blob = await new Promise(r => canvas.toBlob(r, 'image/jpeg', 0.8));
                    data.photos = [await outbox.storeMedia(blob, 'photo', `p${i}.jpg`)];
                }
                await outbox.save('hazard', null, data);
            }
        }""", [args.records, args.photos])
        queued = pt.outbox_call(page, "outbox.status().then(s => [s.pending.length, s.uploads.length])")
        print(f"queued offline: {queued[0]} ops, {queued[1]} photos in {time.monotonic() - t0:.1f} s")

        ctx.set_offline(False)
        t0 = time.monotonic()
        pt.outbox_call(page, "outbox.sync('bench')")
        status = pt.wait_synced(page, timeout=600000)
        took = time.monotonic() - t0
        with app.app_context():
            from sqlalchemy import func, select
            from media.models import Blob
            from server.extensions import db
            from sync.models import SyncRecord
            n_rec = db.session.scalar(select(func.count()).select_from(SyncRecord).where(SyncRecord.entity == "hazard"))
            n_blob = db.session.scalar(select(func.count()).select_from(Blob))
        ok = n_rec == args.records and n_blob == args.photos and not status["rejected"] and not status["lastError"]
        print(f"sync of {args.records} records + {args.photos} photos in one go: {took:.1f} s; server holds "
              f"{n_rec} records, {n_blob} blobs; rejected {len(status['rejected'])}; error {status['lastError']!r} -> "
              f"{'OK' if ok else 'FAILED'}")
        browser.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
