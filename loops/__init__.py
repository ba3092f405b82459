"""The 防范—核查 (hazards) and 违法—监督 (inspections) loops: synced entities with workflow
rules, 处置单 deadlines and escalation, the supervisor review API, the hash-chained audit log
and dashboard statistics.
"""
_hooked = False


def init_app(app):
    from . import models  # noqa: F401  (register tables)
    from . import api, cli, entities
    entities.register()
    _connect()
    app.register_blueprint(api.bp)
    cli.init_app(app)


def _connect():
    global _hooked
    if _hooked:  # module-level hook list: once per process, however many apps are made
        return
    _hooked = True
    from sync import registry

    from . import audit
    registry.after_apply_many.append(audit.on_applied)
