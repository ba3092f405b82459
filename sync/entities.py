"""Default definitions of the synced entities.

The domain modules (hazards and inspections, disaster reports, patrols, field reports)
re-register the same names with their full schemas and workflow checks; ``register``
replaces by name, so these defaults only need to be reasonable and safe: content fields,
a jurisdiction, device-side times kept as data, and the common workflow fields.
"""
from marshmallow import Schema, ValidationError, fields, validate, validates

from server.models.jurisdiction import valid_code

from . import registry

# Fields owned by the server and the roles that own them; see registry.EntityType.
WORKFLOW_FIELDS = frozenset({"status", "assignee_id", "review"})


class LocationSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90, error="纬度应在 -90 到 90 之间"))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180, error="经度应在 -180 到 180 之间"))
    accuracy = fields.Float(allow_none=True, validate=validate.Range(min=0))
    address = fields.String(allow_none=True, validate=validate.Length(max=300))


class RecordSchema(Schema):
    """Content common to every synced record."""
    title = fields.String(required=True, validate=validate.Length(1, 200, error="标题应为 1 到 200 个字"))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000, error="描述最多 5000 字"))
    location = fields.Nested(LocationSchema, allow_none=True)
    # Blob ids of photos, videos and voice notes (the media subsystem owns the bytes).
    photos = fields.List(fields.String(validate=validate.Length(1, 100)), allow_none=True)
    jurisdiction_code = fields.String(allow_none=True)
    # The device's clock, kept as data only; ordering always uses server time.
    occurred_at = fields.DateTime(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    status = fields.String(allow_none=True, validate=validate.Length(max=40))
    assignee_id = fields.Integer(allow_none=True)
    review = fields.Dict(allow_none=True)

    @validates("jurisdiction_code")
    def _code(self, value, **kwargs):
        if value is not None and not valid_code(value):
            raise ValidationError("行政区划代码应为 12 位数字")


class FieldReportSchema(RecordSchema):
    """现场报告: a field report with photos and voice."""
    event_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    voice = fields.List(fields.String(validate=validate.Length(1, 100)), allow_none=True)


class HazardSchema(RecordSchema):
    """隐患: a hidden danger."""
    enterprise_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    level = fields.String(allow_none=True, validate=validate.OneOf(["general", "major"], error="隐患等级应为 general 或 major"))
    deadline = fields.DateTime(allow_none=True)


class InspectionSchema(RecordSchema):
    """执法检查: an inspection of an enterprise."""
    enterprise_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    findings = fields.List(fields.Dict(), allow_none=True)


class PatrolSchema(RecordSchema):
    """巡查: a grid member's patrol with its GPS track."""
    track = fields.List(fields.List(fields.Float()), allow_none=True)
    risk_level = fields.String(allow_none=True, validate=validate.OneOf(["red", "orange", "yellow", "blue"]))


class DisasterReportSchema(RecordSchema):
    """灾情报告: a disaster report (初报/续报/核报)."""
    event_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    stage = fields.String(allow_none=True, validate=validate.OneOf(["initial", "update", "verified"]))
    figures = fields.Dict(allow_none=True)


def promote_common(data):
    """Fill the promoted columns from the keys of the same name when present."""
    out = {}
    for name in registry.PROMOTED:
        if name == "owner_id":
            continue  # the engine owns owner_id: the creating user
        if name in data:
            out[name] = data[name]
    if out.get("level") is None and data.get("risk_level"):
        out["level"] = data["risk_level"]
    return out


DEFAULTS = {
    "field_report": FieldReportSchema,
    "hazard": HazardSchema,
    "inspection": InspectionSchema,
    "patrol": PatrolSchema,
    "disaster_report": DisasterReportSchema,
}


def register_defaults():
    """Register the defaults for names no domain module has registered yet."""
    for name, schema in DEFAULTS.items():
        if registry.get(name) is None:
            registry.register(registry.EntityType(name=name, schema=schema, promote=promote_common,
                                                  workflow_fields=WORKFLOW_FIELDS))
