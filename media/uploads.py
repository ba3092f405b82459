"""The tus 1.0 protocol's rules (core, creation, checksum, termination, expiration),
without HTTP: the views translate headers to these calls and errors to status codes.

An upload's bytes so far lie in ``<UPLOAD_TMP_DIR>/<id>.part``; the file's size is the
offset and its modification time the last activity, so a chunk in the middle of an upload
writes nothing to the database (a commit costs an fsync; a phone on a bad link sends many
small chunks). The row is written at creation and at the end. A PATCH appends under an exclusive ``flock`` on that file, so two requests for the
same upload never interleave, and no database transaction is held while bytes stream in.
When the last byte arrives the whole file is hashed and compared with the SHA-256 the
client declared at creation; only then is it stored (once, under that hash).
"""
import base64
import binascii
import fcntl
import hashlib
import logging
import os
import secrets
import time
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.clock import utcnow
from server.errors import BadRequest, Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge
from server.extensions import db

from . import blobs
from .models import Blob, Upload

log = logging.getLogger(__name__)
TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,termination,expiration"
CHECKSUM_ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}
KINDS = ("photo", "voice")
_BUF = 1024 * 1024
_CLEANUP_EVERY = 600  # seconds between opportunistic cleanups


class ChecksumMismatch(DomainError):
    status, title = 460, "校验和不匹配 Checksum mismatch"


class Gone(DomainError):
    status, title = 410, "上传已过期 Gone"


class Busy(Conflict):
    pass


# --------------------------------------------------------------------------- headers

def parse_metadata(header):
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs -> dict of str."""
    out = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata 中 {key} 的值不是有效的 base64。") from None
    return out


def encode_metadata(meta):
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in meta.items())


def parse_checksum(header):
    """``Upload-Checksum: <algorithm> <base64 digest>`` -> (name, digest bytes) or None."""
    if not header:
        return None
    name, _, value = header.strip().partition(" ")
    if name.lower() not in CHECKSUM_ALGORITHMS:
        raise BadRequest(f"不支持的校验算法 {name}，可用：{', '.join(CHECKSUM_ALGORITHMS)}。")
    try:
        return name.lower(), base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum 的摘要不是有效的 base64。") from None


# --------------------------------------------------------------------------- files

def tmp_dir():
    d = current_app.config["UPLOAD_TMP_DIR"]
    os.makedirs(d, exist_ok=True)
    return d


def part_path(upload_id):
    return os.path.join(tmp_dir(), f"{upload_id}.part")


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- create

def create(user, device_id, length, metadata):
    """A new upload of ``length`` bytes. ``metadata`` needs ``sha256`` (of the whole file);
    optional ``filename``, ``filetype``, ``kind`` (photo | voice; default: as the bytes say)."""
    cfg = current_app.config
    maybe_cleanup()
    limit = cfg["MAX_UPLOAD_BYTES"]
    if length is None:
        raise BadRequest("缺少 Upload-Length（不支持 Upload-Defer-Length）。")
    if length < 0:
        raise BadRequest("Upload-Length 不能为负数。")
    if length > limit:
        raise TooLarge(f"文件大小 {length} 字节超过单个文件上限 {limit} 字节。", limit=limit)
    sha = (metadata.get("sha256") or "").strip().lower()
    if not blobs.valid_sha256(sha):
        raise Invalid("Upload-Metadata 需要 sha256（整个文件的 SHA-256，64 位十六进制）。",
                      errors={"sha256": ["必填，64 位十六进制"]})
    kind = metadata.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise Invalid("kind 只能是 photo 或 voice。", errors={"kind": ["只能是 photo 或 voice"]})
    now = utcnow()
    in_flight = db.session.scalar(select(func.count(Upload.id)).where(
        Upload.user_id == user.id, Upload.state == "open", Upload.expires_at > now))
    max_open = cfg["MAX_UPLOADS_IN_FLIGHT"]
    if in_flight >= max_open:
        raise TooLarge(f"您同时进行中的上传已达上限 {max_open} 个，请等已有上传完成后再试。", limit=max_open)
    upload = Upload(id=secrets.token_hex(16), user_id=user.id, device_id=device_id, length=length, offset=0,
                    sha256=sha, kind=kind or "auto", filename=(metadata.get("filename") or None),
                    filetype=(metadata.get("filetype") or None), upload_metadata=metadata, state="open",
                    created_at=now, updated_at=now, expires_at=now + timedelta(seconds=cfg["UPLOAD_EXPIRES"]))
    with open(part_path(upload.id), "xb"):
        pass
    db.session.add(upload)
    db.session.commit()
    if length == 0:
        finish(upload)
    return upload


def get(upload_id, user):
    """The caller's upload; 404 for someone else's or an unknown id, 410 when expired."""
    upload = db.session.get(Upload, upload_id) if len(upload_id) <= 32 else None
    if upload is None:
        raise NotFound("没有这个上传（可能已过期被清理）。")
    if upload.user_id != user.id:
        raise NotFound("没有这个上传。")
    if upload.state == "open" and expires_at(upload) <= utcnow():
        raise Gone("上传已过期，请重新上传。")
    return upload


def _part_stat(upload):
    try:
        return os.stat(part_path(upload.id))
    except FileNotFoundError:
        return None


def offset(upload):
    """Bytes received so far: the part file's size (the whole length once done)."""
    if upload.state == "done":
        return upload.length
    st = _part_stat(upload)
    return st.st_size if st is not None else upload.offset


def expires_at(upload):
    """When an unfinished upload expires: ``UPLOAD_EXPIRES`` after its last chunk."""
    st = _part_stat(upload)
    if st is None:
        return upload.expires_at
    last = datetime.fromtimestamp(st.st_mtime, timezone.utc).replace(tzinfo=None)
    return max(upload.expires_at, last + timedelta(seconds=current_app.config["UPLOAD_EXPIRES"]))


# --------------------------------------------------------------------------- append

def append(upload, offset, stream, content_length=None, checksum=None):
    """Append the bytes of ``stream`` at ``offset``; returns the new offset.

    A dropped connection keeps what arrived (the client resumes from it) unless a
    checksum was given, which then cannot be checked: the chunk is dropped. When the last
    byte arrives the upload is finished (``finish``).
    """
    if upload.state == "done":
        if offset == upload.length:
            return upload.length
        raise Conflict("该上传已完成。", offset=upload.length)
    uid, length = upload.id, upload.length
    if content_length is not None and offset + content_length > length:
        raise TooLarge(f"数据超出声明的文件长度 {length} 字节。", limit=length)
    db.session.rollback()  # hold no transaction (nor its snapshot) while bytes stream in; nothing was written
    path = part_path(uid)
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        raise Gone("上传已被终止或过期。") from None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy("该上传正在由另一个请求写入，请稍后查询进度后继续。") from None
        current = os.fstat(f.fileno()).st_size
        if offset != current:
            raise Conflict(f"Upload-Offset {offset} 与服务器已收到的 {current} 字节不一致。", offset=current)
        hasher = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        # A whole file in one PATCH (tus-js-client's default) is hashed as it streams in,
        # instead of being read back from disk at the end.
        whole = None
        if offset == 0:
            whole = hasher if checksum and checksum[0] == "sha256" else hashlib.sha256()
        f.seek(offset)
        received, disconnected = 0, False
        try:
            while True:
                want = _BUF if content_length is None else min(_BUF, content_length - received)
                if want <= 0:
                    break
                buf = stream.read(want)
                if not buf:
                    if content_length is not None and received < content_length:
                        disconnected = True
                    break
                if offset + received + len(buf) > length:
                    f.truncate(offset)
                    raise TooLarge(f"数据超出声明的文件长度 {length} 字节。", limit=length)
                f.write(buf)
                if hasher:
                    hasher.update(buf)
                if whole is not None and whole is not hasher:
                    whole.update(buf)
                received += len(buf)
        except DomainError:
            raise
        except Exception as e:  # the client went away mid-chunk (ClientDisconnected, reset)
            log.info("upload %s: connection lost after %d bytes of this chunk (%r)", uid, received, e)
            disconnected = True
        if hasher is not None and (disconnected or hasher.digest() != checksum[1]):
            f.truncate(offset)
            if not disconnected:
                raise ChecksumMismatch("数据块的校验和与 Upload-Checksum 不符，已丢弃该数据块，请重发。")
        f.flush()
        new_offset = os.fstat(f.fileno()).st_size
        if new_offset == length and not disconnected:
            os.fsync(f.fileno())  # the blob row must never outlive its bytes in a crash
            upload = db.session.get(Upload, uid, populate_existing=True)
            upload.offset, upload.updated_at = new_offset, utcnow()
            finish(upload, whole.hexdigest() if whole is not None else None)  # one commit: offset and blob
        return new_offset


def finish(upload, digest=None):
    """Verify the whole file against the declared SHA-256 and store it once.

    A mismatch or an unacceptable file (415, 413) removes the upload: nothing is stored.
    """
    path = part_path(upload.id)
    if digest is not None:
        actual = digest
    else:
        with open(path, "rb") as f:
            actual = blobs.sha256_file(f)
    if actual != upload.sha256:
        _discard(upload)
        raise ChecksumMismatch("整个文件的 SHA-256 与上传时声明的不符，文件未保存，请重新上传。",
                               declared=upload.sha256, received=actual)
    try:
        blob, created = blobs.ingest_file(path, sha256=actual, kind=None if upload.kind == "auto" else upload.kind,
                                          user=upload.user_id, device_id=upload.device_id,
                                          filename=upload.filename, move=True, commit=False)
    except DomainError:
        db.session.rollback()
        _discard(upload)
        raise
    upload.state, upload.completed_at, upload.kind = "done", utcnow(), blob.kind
    uid = upload.id
    try:
        db.session.commit()
    except IntegrityError:
        # The same bytes finished in another request at this very moment: its row stands.
        db.session.rollback()
        upload = db.session.get(Upload, uid)
        blob = db.session.get(Blob, actual)
        upload.state, upload.completed_at, upload.kind = "done", utcnow(), blob.kind
        upload.offset = upload.length
        db.session.commit()
    blobs.announce_stored()
    _remove(path)
    return blob


def _discard(upload):
    _remove(part_path(upload.id))
    db.session.delete(db.session.merge(upload))
    db.session.commit()


def terminate(upload):
    """tus termination: forget the upload and its bytes (a finished blob stays)."""
    if upload.state == "done":
        raise Forbidden("该上传已完成，文件已保存，不能终止。")
    _remove(part_path(upload.id))
    db.session.delete(upload)
    db.session.commit()


# --------------------------------------------------------------------------- expiry

def cleanup(now=None):
    """Remove expired unfinished uploads and stray part files; returns how many went."""
    now = now or utcnow()
    candidates = db.session.scalars(select(Upload).where(Upload.state == "open", Upload.expires_at <= now)).all()
    expired = []
    for u in candidates:
        still = expires_at(u)
        if still > now:  # chunks arrived since: remember the later expiry, keep it
            u.expires_at, u.offset = still, offset(u)
            continue
        _remove(part_path(u.id))
        db.session.delete(u)
        expired.append(u)
    db.session.commit()
    # Part files with no row (a crash between file and row): old enough means abandoned.
    d, removed = tmp_dir(), len(expired)
    horizon = time.time() - current_app.config["UPLOAD_EXPIRES"]
    for name in os.listdir(d):
        if name.endswith(".part") and db.session.get(Upload, name[:-5]) is None:
            p = os.path.join(d, name)
            try:
                if os.stat(p).st_mtime < horizon:
                    os.unlink(p)
                    removed += 1
            except FileNotFoundError:
                pass
    current_app.extensions["danbing_media_cleanup"] = time.monotonic()
    return removed


def maybe_cleanup():
    last = current_app.extensions.get("danbing_media_cleanup")
    if last is None or time.monotonic() - last > _CLEANUP_EVERY:
        try:
            cleanup()
        except Exception:
            db.session.rollback()
            log.exception("upload cleanup failed")
