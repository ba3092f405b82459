"""The wire format of push and pull: envelope validation and the opaque cursor.

A malformed envelope (missing device_id, ops not a list, unknown entity, bad UUID, bad
op) fails the whole request with 422; problems inside one op's ``data`` only reject that op.
"""
import base64
import binascii


from marshmallow import Schema, ValidationError, fields, validate, validates

from server.errors import BadRequest, Invalid, TooLarge

from . import registry
from .engine import humanize

OP_ID = validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$", error="op_id 应为 1–64 位字母、数字或 ._:-（建议用 UUID）")


class OpSchema(Schema):
    op_id = fields.String(required=True, validate=OP_ID)
    entity = fields.String(required=True)
    id = fields.UUID(required=True, error_messages={"invalid_uuid": "id 应为 UUID（设备生成）"})
    op = fields.String(required=True, validate=validate.OneOf(["upsert", "delete"], error="op 应为 upsert 或 delete"))
    base_version = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=0, error="base_version 不能为负"))
    data = fields.Dict(load_default=None, allow_none=True)

    @validates("entity")
    def _entity(self, value, **kwargs):
        if registry.get(value) is None:
            raise ValidationError(f"未知的记录类型 {value}，可选：{'、'.join(registry.names())}")


class PushSchema(Schema):
    device_id = fields.String(required=True, validate=validate.Length(1, 64))
    ops = fields.List(fields.Nested(OpSchema), required=True)


_push_schema = PushSchema()


def parse_push(body, max_ops):
    """Validate a push body; returns (device_id, [op dicts]) with ids as canonical strings."""
    ops = body.get("ops")
    if isinstance(ops, list) and len(ops) > max_ops:
        raise TooLarge(f"一次最多推送 {max_ops} 个操作，本次 {len(ops)} 个，请分批推送。", limit=max_ops)
    try:
        loaded = _push_schema.load(body)
    except ValidationError as e:
        raise Invalid("推送请求的格式有误，请按 errors 逐项修改。", errors=humanize(e.normalized_messages())) from None
    out = []
    for i, op in enumerate(loaded["ops"]):
        op["id"] = str(op["id"])
        if op["op"] == "upsert" and op["data"] is None:
            raise Invalid("推送请求的格式有误，请按 errors 逐项修改。",
                          errors={"ops": {str(i): {"data": ["upsert 操作必须带 data"]}}})
        out.append(op)
    return loaded["device_id"], out


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, num = raw.partition(":")
        if tag != "s1":
            raise ValueError(tag)
        seq = int(num)
        if seq < 0:
            raise ValueError(seq)
        return seq
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor 无效：请使用上次拉取返回的 cursor，或不带 cursor 从头拉取。") from None


