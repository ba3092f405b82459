"""The supervisor console (审核/指挥台): read models for the desktop screens.

The screens themselves are static files under ``pwa/static/console/`` (served by the PWA's
blueprint at ``/console/``). This package adds only what the console needs to read and that
no domain module answers in one request: the map/tile configuration, a review queue across
every synced entity with filters and facet counts, compact map layers for thousands of
points, one record with its conflicts, and disaster events aggregated up the jurisdiction
tree. Writes go through the domain APIs (and the sync protocol), never through here.
"""


def init_app(app):
    from . import views
    app.register_blueprint(views.bp)
