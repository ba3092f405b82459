"""Danbing (单兵) server: the Flask app factory."""
import logging

from flask import Flask


def create_app(config=None):
    """Build the app. ``config`` overrides what the environment says (tests use it)."""
    from . import config as settings
    app = Flask(__name__, static_folder=None)
    app.config.update(settings.from_env())
    app.config.update(config or {})
    app.json.ensure_ascii = False  # readable Chinese in every JSON answer

    from . import cli, errors, queue
    from .extensions import db, migrate
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_root() / "migrations"))
    errors.init_app(app)
    queue.init_app(app)
    cli.init_app(app)

    from . import models  # noqa: F401  (register tables)
    from .api import admin, auth, health
    for bp in (health.bp, auth.bp, admin.bp):
        app.register_blueprint(bp)
    for extension in _subsystems():
        extension.init_app(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return app


def _subsystems():
    """Subsystems outside ``server/`` that plug in with ``init_app``.

    Order matters: sync first (its default entities), the domain modules after it (they
    re-register their entities), the PWA's catch-all route last.
    """
    import sync
    import media
    import loops
    import field
    import legal
    import vision
    import push
    import console
    from pwa import web
    return [sync, media, loops, field, legal, vision, push, console, web]


def _root():
    from pathlib import Path
    return Path(__file__).resolve().parent.parent
