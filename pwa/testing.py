"""Helpers for driving the PWA in real Chromium (the e2e tests and bench/pwa_bench.py).

Kinto keeps its storage test helpers next to the storage (kinto/core/storage/testing.py);
these live next to the PWA for the same reason: one place knows how to start the app on a
port and a browser that can use camera, microphone and GPS.
"""
import os
import socket
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
# 平山县东关村 (server/demo.py): where the demo grid member works.
GEO = {"latitude": 38.2621, "longitude": 114.2012, "accuracy": 8}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # a line per shell file drowns the test output
        pass


class LiveServer:
    """The Flask app served on 127.0.0.1:<free port> from a thread (a secure context for
    service workers, crypto.subtle and getUserMedia, because it is loopback)."""

    def __init__(self, app, middleware=None):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, middleware(app) if middleware else app,
                                   threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="pwa-live", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(5)


def chromium_available():
    return os.access(CHROMIUM, os.X_OK)


def launch(playwright, **kwargs):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **kwargs)


def new_context(browser, base_url):
    ctx = browser.new_context(base_url=base_url, geolocation=GEO, locale="zh-CN",
                              permissions=["geolocation", "camera", "microphone", "notifications"],
                              viewport={"width": 412, "height": 860}, service_workers="allow")
    return ctx


def login(page, username, password="Danbing@2026"):
    page.goto("/#/login")
    page.wait_for_selector("form.login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#mine")
    # The shell is precached once the worker is active and controls the page.
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20000)


def outbox_call(page, expr):
    """Evaluate ``expr`` with the page's own outbox module in scope as ``outbox``."""
    return page.evaluate(f"async () => {{ const outbox = await import('/js/outbox.js'); return {expr}; }}")


def wait_synced(page, timeout=30000):
    """Until nothing waits to be pushed or uploaded (starting a sync when it is idle).

    Returns the outbox status. Polled from Python: wait_for_function does not await a
    predicate's promise.
    """
    import time
    end = time.monotonic() + timeout / 1000
    while True:
        s = page.evaluate("""async () => {
            const outbox = await import('/js/outbox.js');
            const s = await outbox.status();
            if (!s.syncing && (s.pending.length || s.uploads.length)) outbox.sync('test');
            return {syncing: s.syncing, pending: s.pending.length, uploads: s.uploads.length,
                    rejected: s.rejected, conflicts: s.conflicts.length, lastSync: s.lastSync, lastError: s.lastError};
        }""")
        if not s["syncing"] and not s["pending"] and not s["uploads"] and s["lastSync"]:
            return s
        if time.monotonic() > end:
            raise AssertionError(f"outbox not synced: {s}")
        page.wait_for_timeout(400)
