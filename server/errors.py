"""Domain exceptions and the one place that turns them into JSON problem details.

Domain code raises these and knows nothing of HTTP; ``init_app`` maps them (and Werkzeug's
own HTTP errors, marshmallow validation errors and anything unexpected) to
``application/problem+json`` bodies (RFC 9457) with a message a person can read.
"""
import logging

from flask import jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    title = "请求有误 Bad request"

    def __init__(self, detail=None, *, errors=None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class BadRequest(DomainError):
    status, title = 400, "请求有误 Bad request"


class Unauthorized(DomainError):
    status, title = 401, "未登录或登录已失效 Unauthorized"


class Forbidden(DomainError):
    status, title = 403, "无权执行此操作 Forbidden"


class NotFound(DomainError):
    status, title = 404, "未找到 Not found"


class Conflict(DomainError):
    status, title = 409, "与当前状态冲突 Conflict"


class TooLarge(DomainError):
    status, title = 413, "内容过大 Payload too large"


class UnsupportedMedia(DomainError):
    status, title = 415, "不支持的内容类型 Unsupported media type"


class Invalid(DomainError):
    status, title = 422, "数据校验未通过 Validation failed"


class RateLimited(DomainError):
    status, title = 429, "请求过于频繁 Too many requests"


class Unavailable(DomainError):
    status, title = 503, "服务暂不可用 Service unavailable"


def problem(status, title, detail, errors=None, **extra):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def init_app(app):
    @app.errorhandler(DomainError)
    def _domain(e):
        resp = problem(e.status, e.title, e.detail, e.errors, **e.extra)
        if isinstance(e, Unauthorized):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="danbing"'
        return resp

    @app.errorhandler(ValidationError)
    def _validation(e):
        return problem(422, Invalid.title, "请求中的字段有误，请按 errors 逐项修改。", e.normalized_messages())

    @app.errorhandler(HTTPException)
    def _http(e):
        detail = {
            404: f"没有这个地址：{request.path}",
            405: f"{request.path} 不支持 {request.method} 方法",
            413: f"请求体超过上限 {app.config.get('MAX_CONTENT_LENGTH')} 字节",
        }.get(e.code, e.description)
        extra = {"limit": app.config.get("MAX_CONTENT_LENGTH")} if e.code == 413 else {}
        resp = problem(e.code, f"{e.code} {e.name}", detail, **extra)
        if e.code == 405 and getattr(e, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e):  # driver errors and bugs never reach the client verbatim
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "服务器内部错误 Internal error", "服务器出错，已记录，请稍后重试。")
