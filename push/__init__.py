"""Web push (pywebpush) and warnings (预警): the right person learns at once.

Push is a nudge; the sync is the record: everything a notification announces also
reaches the device through its next pull.
"""


def init_app(app):
    from . import models, views  # noqa: F401  (tables, routes)
    from .subscriptions import connect_signals
    from .triggers import connect
    from .warnings import register
    register()
    app.register_blueprint(views.bp)
    connect_signals()
    connect()
