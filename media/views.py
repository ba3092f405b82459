"""HTTP endpoints of the media subsystem: thin views over ``uploads``, ``blobs``, ``evidence``.

| route | what |
| --- | --- |
| ``OPTIONS /api/v1/uploads[/<id>]`` | tus discovery (and CORS preflight), no auth |
| ``POST /api/v1/uploads`` | tus creation (``Upload-Length``, ``Upload-Metadata`` with ``sha256``) |
| ``HEAD /api/v1/uploads/<id>`` | tus offset |
| ``PATCH /api/v1/uploads/<id>`` | tus append (``Upload-Checksum`` optional per chunk) |
| ``DELETE /api/v1/uploads/<id>`` | tus termination |
| ``GET /api/v1/blobs/<sha256>[?variant=thumb|preview]`` | bytes, with Range, ETag, caching |
| ``GET /api/v1/blobs/<sha256>/meta`` | what is known of a blob, and signed URLs for ``<img src>`` |
| ``POST /api/v1/blobs/urls`` | signed URLs for many blobs at once (console galleries) |
| ``POST /api/v1/blobs/status`` | which of these hashes (or of a record's blobs) are present / pending |
| ``GET /api/v1/evidence/verify?entity=&id=`` | supervisors: re-hash a record's evidence |
"""
from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate, validates_schema, ValidationError
from werkzeug.http import http_date
from werkzeug.wrappers import Response
from werkzeug.wsgi import FileWrapper

from server.auth.decorators import current_principal, require_auth
from server.errors import BadRequest, DomainError, Forbidden, NotFound, TooLarge, UnsupportedMedia

from server.extensions import db

from . import blobs, evidence, uploads
from .models import Blob

uploads_bp = Blueprint("media_uploads", __name__, url_prefix="/api/v1/uploads")
blobs_bp = Blueprint("media_blobs", __name__, url_prefix="/api/v1")

EXPOSE = ("Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, "
          "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Blob-Sha256")
ALLOW = ("Authorization, Content-Type, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, "
         "Upload-Defer-Length, Upload-Concat, Tus-Resumable, X-HTTP-Method-Override, X-Requested-With")


class PreconditionFailed(DomainError):
    status, title = 412, "协议版本不支持 Precondition failed"


# --------------------------------------------------------------------------- tus

@uploads_bp.before_request
def _tus_version():
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != uploads.TUS_VERSION:
        raise PreconditionFailed(f"需要请求头 Tus-Resumable: {uploads.TUS_VERSION}。")


@uploads_bp.after_request
def _tus_headers(resp):
    resp.headers["Tus-Resumable"] = uploads.TUS_VERSION
    resp.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    resp.headers["Access-Control-Expose-Headers"] = EXPOSE
    resp.headers.add("Vary", "Origin")
    if resp.status_code == 412:
        resp.headers["Tus-Version"] = uploads.TUS_VERSION
    return resp


def _discovery():
    resp = Response(status=204)
    resp.headers["Tus-Version"] = uploads.TUS_VERSION
    resp.headers["Tus-Extension"] = uploads.EXTENSIONS
    resp.headers["Tus-Max-Size"] = str(current_app.config["MAX_UPLOAD_BYTES"])
    resp.headers["Tus-Checksum-Algorithm"] = ",".join(uploads.CHECKSUM_ALGORITHMS)
    resp.headers["Access-Control-Allow-Methods"] = "POST, HEAD, PATCH, DELETE, OPTIONS"
    resp.headers["Access-Control-Allow-Headers"] = ALLOW
    resp.headers["Access-Control-Max-Age"] = "86400"
    return resp


@uploads_bp.route("", methods=["OPTIONS"], provide_automatic_options=False)
def options():
    return _discovery()


@uploads_bp.route("/<upload_id>", methods=["OPTIONS"], provide_automatic_options=False)
def options_one(upload_id):
    return _discovery()


def _int_header(name, required=True):
    value = request.headers.get(name)
    if value is None:
        if required:
            raise BadRequest(f"缺少请求头 {name}。")
        return None
    if not value.strip().isdigit():
        raise BadRequest(f"请求头 {name} 应为非负整数。")
    return int(value)


def _state_headers(resp, upload):
    resp.headers["Upload-Offset"] = str(uploads.offset(upload))
    resp.headers["Upload-Length"] = str(upload.length)
    resp.headers["Cache-Control"] = "no-store"
    if upload.state == "open":
        resp.headers["Upload-Expires"] = http_date(uploads.expires_at(upload))
    else:
        resp.headers["Blob-Sha256"] = upload.sha256
    return resp


@uploads_bp.post("")
@require_auth()
def create():
    if request.headers.get("Upload-Defer-Length"):
        raise BadRequest("不支持 Upload-Defer-Length，请在创建时给出 Upload-Length。")
    if request.headers.get("Upload-Concat"):
        raise BadRequest("不支持 concatenation 扩展。")
    metadata = uploads.parse_metadata(request.headers.get("Upload-Metadata"))
    upload = uploads.create(g.user, g.device.device_id, _int_header("Upload-Length"), metadata)
    resp = _state_headers(Response(status=201), upload)
    resp.headers["Location"] = f"{uploads_bp.url_prefix}/{upload.id}"
    return resp


@uploads_bp.route("/<upload_id>", methods=["HEAD"])
@require_auth()
def head(upload_id):
    upload = uploads.get(upload_id, g.user)
    resp = _state_headers(Response(status=200), upload)
    resp.headers["Upload-Metadata"] = uploads.encode_metadata(upload.upload_metadata or {})
    return resp


def _body_stream():
    """The request body, to be read in large pieces.

    gunicorn's ``wsgi.input`` (``gunicorn.http.body.Body``) assembles every read, however
    large, from 1 KiB reads of its inner reader, re-buffering each; measured here that is a
    third of an upload's CPU. Its inner reader (``LengthReader`` / ``ChunkedReader``)
    returns large pieces directly, so it is used when nothing has been read from the body
    yet. Size limits are enforced by ``uploads.append`` (the declared Upload-Length).
    """
    raw = request.environ.get("wsgi.input")
    reader, buf = getattr(raw, "reader", None), getattr(raw, "buf", None)
    if (type(raw).__module__.startswith("gunicorn.") and hasattr(reader, "read")
            and hasattr(buf, "tell") and buf.tell() == 0):
        return reader
    return request.stream


@uploads_bp.route("/<upload_id>", methods=["PATCH"])
@require_auth()
def patch(upload_id):
    if request.mimetype != "application/offset+octet-stream":
        raise UnsupportedMedia("PATCH 的 Content-Type 应为 application/offset+octet-stream。")
    offset = _int_header("Upload-Offset")
    checksum = uploads.parse_checksum(request.headers.get("Upload-Checksum"))
    upload = uploads.get(upload_id, g.user)
    if request.content_length is not None and request.content_length > current_app.config["MAX_UPLOAD_BYTES"]:
        limit = current_app.config["MAX_UPLOAD_BYTES"]
        raise TooLarge(f"请求体超过单个文件上限 {limit} 字节。", limit=limit)
    request.max_content_length = current_app.config["MAX_UPLOAD_BYTES"]  # chunks may exceed MAX_BODY_BYTES
    uploads.append(upload, offset, _body_stream(), request.content_length, checksum)
    upload = uploads.get(upload_id, g.user)
    return _state_headers(Response(status=204), upload)


@uploads_bp.route("/<upload_id>", methods=["DELETE"])
@require_auth()
def delete(upload_id):
    uploads.terminate(uploads.get(upload_id, g.user))
    return Response(status=204)


@uploads_bp.route("/<upload_id>", methods=["POST"])
def method_override(upload_id):
    """tus: clients behind proxies that allow only GET/POST send X-HTTP-Method-Override."""
    method = (request.headers.get("X-HTTP-Method-Override") or "").upper()
    view = {"PATCH": patch, "DELETE": delete, "HEAD": head}.get(method)
    if view is None:
        raise BadRequest("POST 到上传地址需要 X-HTTP-Method-Override: PATCH 或 DELETE。")
    return view(upload_id)


# --------------------------------------------------------------------------- blobs

def _signed_ok(sha256, variant):
    sig, exp = request.args.get("sig"), request.args.get("exp", "")
    if not sig:
        return False
    if not blobs.signature_ok(sha256, variant, exp, sig):
        raise Forbidden("文件链接已过期或无效，请刷新页面。")
    return True


def _authorize(sha256, variant=None):
    if _signed_ok(sha256, variant):
        return None
    user = current_principal().user
    if not blobs.can_access(user, sha256):
        raise Forbidden("您无权查看此文件。")
    return user


def _send(sha256, mime, size):
    from .storage import BlobMissing, get_store
    try:
        fh = get_store().open(sha256)
    except BlobMissing:
        raise NotFound("文件内容缺失，请联系管理员核查。") from None
    resp = Response(FileWrapper(fh, 256 * 1024), mimetype=mime, direct_passthrough=True)
    resp.content_length = size
    resp.set_etag(sha256)
    # Content-addressed: the bytes under this URL never change. Private: authorization varies.
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp.make_conditional(request.environ, accept_ranges=True, complete_length=size)


@blobs_bp.get("/blobs/<sha256>")
def get_blob(sha256):
    variant = request.args.get("variant") or None
    _authorize(sha256, variant)
    blob = blobs.get_blob(sha256)
    if variant:
        v = blobs.variant(blob, variant)
        return _send(v["sha256"], v["mime"], v["size"])
    return _send(blob.sha256, blob.mime, blob.size)


@blobs_bp.get("/blobs/<sha256>/meta")
@require_auth()
def blob_meta(sha256):
    if not blobs.can_access(g.user, sha256):
        raise Forbidden("您无权查看此文件。")
    blob = blobs.get_blob(sha256)
    body = blob.to_dict()
    body["urls"] = blobs.signed_urls(blob)
    return jsonify(body)


class UrlsSchema(Schema):
    hashes = fields.List(fields.String(), required=True, validate=validate.Length(1, 500))


@blobs_bp.post("/blobs/urls")
@require_auth()
def blob_urls():
    """Signed URLs (original, thumb, preview) for ``<img src>``, for the blobs the caller may
    fetch; others are left out, pending ones are listed as pending."""
    hashes = UrlsSchema().load(request.get_json(silent=True) or {})["hashes"]
    out, pending = {}, []
    for sha in dict.fromkeys(h for h in hashes if blobs.valid_sha256(h)):
        if not blobs.can_access(g.user, sha):
            continue
        blob = db.session.get(Blob, sha)
        if blob is None:
            pending.append(sha)
        else:
            out[sha] = blobs.signed_urls(blob)
    return jsonify({"urls": out, "pending": pending})


class StatusSchema(Schema):
    hashes = fields.List(fields.String(), validate=validate.Length(max=1000))
    entity = fields.String(validate=validate.Length(1, 40))
    id = fields.String(validate=validate.Length(1, 36))

    @validates_schema
    def _one(self, data, **kwargs):
        if not data.get("hashes") and not (data.get("entity") and data.get("id")):
            raise ValidationError("请给出 hashes，或 entity 与 id。", "hashes")


@blobs_bp.post("/blobs/status")
@require_auth()
def blob_status():
    """Which blobs are here ("present") and which a phone still has to send ("pending")."""
    from sync.scope import can_see
    args = StatusSchema().load(request.get_json(silent=True) or {})
    hashes = list(args.get("hashes") or [])
    fields_by_hash = {}
    if args.get("entity"):
        rec, refs = blobs.record_blobs(args["entity"], args["id"])
        if not can_see(g.user, rec):
            raise Forbidden("该记录不在您的可见范围内。")
        hashes += [sha for sha, _ in refs]
        fields_by_hash = dict(refs)
    result = blobs.status(hashes)
    return jsonify({"blobs": result, "pending": [h for h, s in result.items() if s == "pending"],
                    "fields": fields_by_hash or None})


@blobs_bp.get("/evidence/verify")
@require_auth("supervisor", "admin")
def verify_evidence():
    from sync.scope import can_see
    entity, record_id = request.args.get("entity"), request.args.get("id")
    if not entity or not record_id:
        raise BadRequest("请给出 entity 与 id。")
    rec, _ = blobs.record_blobs(entity, record_id)
    if not can_see(g.user, rec):
        raise Forbidden("该记录不在您的可见范围内。")
    return jsonify(evidence.verify(entity, record_id))
