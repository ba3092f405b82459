"""Serve the PWA's files from ``pwa/static`` at the site root."""
from pathlib import Path

from flask import Blueprint, send_from_directory
from werkzeug.routing import PathConverter

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint("pwa", __name__)


class AppPathConverter(PathConverter):
    """Any path outside /api/, so API routes keep their own 404/405 answers."""
    regex = r"(?!api/)[^/].*?"


@bp.get("/")
def index():
    return send_from_directory(STATIC, "index.html", max_age=0)


@bp.get("/<apppath:filename>")
def static_file(filename):
    # The service worker must be revalidated on every load so updates are found.
    max_age = 0 if filename in ("sw.js", "index.html", "manifest.webmanifest") else 3600
    return send_from_directory(STATIC, filename, max_age=max_age)


def init_app(app):
    app.url_map.converters["apppath"] = AppPathConverter
    app.register_blueprint(bp)
