"""Small helpers for thin views: read a JSON body strictly and validate it with a schema."""
from flask import request

from .errors import BadRequest, UnsupportedMedia


def json_body():
    """The request body as a JSON object, or a clear 4xx."""
    if not request.is_json:
        raise UnsupportedMedia("请求体必须是 JSON（Content-Type: application/json）。")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("请求体不是合法的 JSON。")
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象。")
    return data


def load(schema, data=None):
    """Validate ``data`` (default: the JSON body) with a marshmallow schema instance."""
    return schema.load(json_body() if data is None else data)
