"""Field roles (issue #6): disaster reports, grid patrols, field reports, live team location.

Entities (synced, registered here over sync's defaults): ``disaster_report``, ``patrol``,
``patrol_point``, ``patrol_plan``, ``field_report``. Positions are not synced records:
``/api/v1/positions`` stores them in their own compact tables (``field.positions``).
"""


def init_app(app):
    from sync import registry

    from . import chain, cli, disasters, models, patrols, reports, views  # noqa: F401
    disasters.register()
    patrols.register()
    reports.register()
    for hook in (chain.fill_event_id, patrols.create_hazards):
        if hook not in registry.after_apply:
            registry.after_apply.append(hook)
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    for name in ("after_commit", "after_rollback"):
        if not event.contains(Session, name, chain.forget_pending):
            event.listen(Session, name, chain.forget_pending)
    app.register_blueprint(views.bp)
    cli.init_app(app)
