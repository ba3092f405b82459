"""The PWA's shell as the server hands it out: precache manifest, version, manifest, size budget."""
import gzip
import json

from pwa import web

BUDGET = 150 * 1024  # issue #9: shell and code sent to a phone, gzip, at most 150 KB


def test_service_worker_carries_the_precache_manifest(client):
    r = client.get("/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert r.headers["Cache-Control"] == "no-cache"
    head = r.get_data(as_text=True).split("\n", 2)
    version = json.loads(head[0].split("=", 1)[1].rstrip(";"))
    urls = json.loads(head[1].split("=", 1)[1].rstrip(";"))
    assert version == web.precache_manifest()[0] and len(version) == 16
    for must in ("/", "/js/app.js", "/js/db.js", "/js/outbox.js", "/vendor/tus.min.js", "/vendor/idb.js",
                 "/manifest.webmanifest", "/icons/icon-192.png", "/icons/level-red.png", "/css/app.css"):
        assert must in urls
    assert "/sw.js" not in urls
    for url in urls:  # every precached file is really served (a 404 would fail the install)
        assert client.get(url).status_code == 200, url


def test_version_changes_with_any_shell_file(tmp_path, monkeypatch):
    import shutil
    copy = tmp_path / "static"
    shutil.copytree(web.STATIC, copy)
    monkeypatch.setattr(web, "STATIC", copy)
    monkeypatch.setattr(web, "_manifest_cache", {})
    before = web.precache_manifest()[0]
    assert web.precache_manifest()[0] == before
    (copy / "css" / "app.css").write_text((copy / "css" / "app.css").read_text() + "\n/* changed */\n")
    assert web.precache_manifest()[0] != before


def test_web_app_manifest_is_installable(client):
    r = client.get("/manifest.webmanifest")
    assert r.mimetype == "application/manifest+json"
    m = json.loads(r.get_data(as_text=True))
    assert m["lang"] == "zh-CN" and m["display"] == "standalone" and m["start_url"].startswith("/")
    sizes = {i["sizes"] for i in m["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in m["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_api_paths_are_not_the_shell(client):
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def shell_gzip_bytes():
    """Every precached file gzipped one by one, as a server with gzip sends them (no map library)."""
    total = 0
    for f in web.shell_files():
        data = (web.STATIC / f).read_bytes()
        total += len(data) if f.endswith(".png") else len(gzip.compress(data, 9))
    return total


def test_shell_and_code_fit_the_budget():
    assert shell_gzip_bytes() <= BUDGET
