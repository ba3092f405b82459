"""Serve the PWA's files from ``pwa/static`` at the site root."""
from pathlib import Path

from flask import Blueprint, redirect, send_from_directory
from werkzeug.routing import PathConverter

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint("pwa", __name__)


class AppPathConverter(PathConverter):
    """Any path outside /api/, so API routes keep their own 404/405 answers."""
    regex = r"(?!api/)[^/].*?"


@bp.get("/")
def index():
    return send_from_directory(STATIC, "index.html", max_age=0)


@bp.get("/console")
def console_root():
    return redirect("/console/", code=308)


@bp.get("/<apppath:filename>")
def static_file(filename):
    if filename.endswith("/"):
        filename += "index.html"  # /console/ (the supervisor console) and any other app folder
    # The service worker must be revalidated on every load so updates are found.
    max_age = 0 if filename in ("sw.js", "manifest.webmanifest") or filename.endswith("index.html") else 3600
    return send_from_directory(STATIC, filename, max_age=max_age)


def init_app(app):
    app.url_map.converters["apppath"] = AppPathConverter
    app.register_blueprint(bp)
