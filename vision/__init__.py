"""Vision (图像智能辨识), issue #7: YOLO hazard recognition on every synced photo.

Modules, one job each:

* ``detectors``  the detector registry (``detectors.json`` or ``VISION_DETECTORS``), model versions
* ``taxonomy``   hazard codes (the legal clause map's), Chinese names, severity, record kind
* ``shim``       compatibility shims for fork checkpoints (YOLOv12 area attention)
* ``inference``  loads each model once per process, runs it on a decoded image
* ``pipeline``   analysis requests, the RQ job, results onto records, the sweeper, triggers
* ``annotate``   the annotated evidence image (Pillow, WenQuanYi Zen Hei)
* ``review``     confirm/dismiss, YOLO export
* ``api``, ``cli``, ``worker``
"""
from marshmallow import fields

EXTRA_FIELDS = {
    "detections": lambda: fields.List(fields.Dict(), allow_none=True),
    "suggested_findings": lambda: fields.List(fields.Dict(), allow_none=True),
    "annotated_image": lambda: fields.String(allow_none=True, validate=lambda s: len(s) == 64),
    "vision": lambda: fields.Dict(allow_none=True),
}
_connected = False


def init_app(app):
    from . import api, cli, models  # noqa: F401  (models: register tables for Alembic)
    app.register_blueprint(api.bp)
    cli.init_app(app)
    _extend_schemas()
    _connect()


def _extend_schemas():
    """Let hazards and inspections carry what vision writes (added when their schema lacks it)."""
    from sync import registry
    from .pipeline import ENTITIES
    for name in ENTITIES:
        et = registry.get(name)
        if et is None:
            continue
        declared = et.schema._declared_fields
        missing = {k: make() for k, make in EXTRA_FIELDS.items() if k not in declared}
        if missing:
            et.schema = type(et.schema.__name__, (et.schema,), missing)


def _connect():
    global _connected
    if _connected:  # module-level hooks: once per process, however many apps are made
        return
    _connected = True
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from sync import registry

    from . import blobio, pipeline
    registry.after_apply.append(pipeline.on_applied)
    blobio.connect(pipeline.on_blob_stored)
    event.listen(Session, "after_commit", pipeline._after_commit)
    event.listen(Session, "after_soft_rollback", pipeline._after_rollback)
