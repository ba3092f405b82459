"""Serve the PWA's files from ``pwa/static`` at the site root.

``/sw.js`` is served with the precache manifest prepended: the list of shell files and a
version hashed from their contents (what Workbox's injectManifest does at build time, done
here at serve time so there is no build step). Any change to a shell file changes the
worker's bytes, so phones install the new shell and the page offers 更新.
"""
import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory
from werkzeug.routing import PathConverter

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint("pwa", __name__)
# Not part of the precached shell: the worker itself, notes for developers, and the
# supervisors' desktop console with its map library (phones never need them).
_NOT_SHELL = {"sw.js", "vendor/README.md"}
_NOT_SHELL_DIRS = ("console/", "vendor/leaflet/", "vendor/leaflet.markercluster/")


class AppPathConverter(PathConverter):
    """Any path outside /api/, so API routes keep their own 404/405 answers."""
    regex = r"(?!api/)[^/].*?"


def shell_files():
    """Relative paths of every precached file, sorted."""
    return sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*")
                  if p.is_file() and p.relative_to(STATIC).as_posix() not in _NOT_SHELL
                  and not p.relative_to(STATIC).as_posix().startswith(_NOT_SHELL_DIRS)
                  and not p.name.startswith("."))


_manifest_cache = {}


def precache_manifest():
    """(version, [urls]); recomputed when any shell file changes (mtime), else cached."""
    files = shell_files()
    stamp = tuple((f, (STATIC / f).stat().st_mtime_ns) for f in files)
    if _manifest_cache.get("stamp") != stamp:
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.encode() + b"\0" + hashlib.sha256((STATIC / f).read_bytes()).digest())
        urls = ["/" if f == "index.html" else f"/{f}" for f in files]
        _manifest_cache.update(stamp=stamp, value=(digest.hexdigest()[:16], urls))
    return _manifest_cache["value"]


@bp.get("/")
def index():
    return send_from_directory(STATIC, "index.html", max_age=0)


@bp.get("/sw.js")
def service_worker():
    version, urls = precache_manifest()
    head = f"self.__SHELL_VERSION = {json.dumps(version)};\nself.__PRECACHE = {json.dumps(urls)};\n"
    resp = Response(head + (STATIC / "sw.js").read_text(encoding="utf-8"), mimetype="text/javascript")
    # The worker must be revalidated on every load so updates are found.
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/console")
def console_root():
    return redirect("/console/", code=308)


@bp.get("/<apppath:filename>")
def static_file(filename):
    if filename.endswith("/"):
        filename += "index.html"  # /console/ (the supervisor console) and any other app folder
    max_age = 0 if filename == "manifest.webmanifest" or filename.endswith("index.html") else 3600
    resp = send_from_directory(STATIC, filename, max_age=max_age)
    if filename.endswith(".webmanifest"):
        resp.mimetype = "application/manifest+json"
    return resp


def init_app(app):
    app.url_map.converters["apppath"] = AppPathConverter
    app.register_blueprint(bp)
