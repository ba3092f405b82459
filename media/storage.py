"""Content-addressed blob stores behind one interface (after Kinto's storage contract).

``get_store()`` returns the store the app's ``STORAGE_URL`` names:

* ``file:///path/to/folder`` (default, under ``instance/blobs``): one file per blob at
  ``<root>/<aa>/<bb>/<sha256>``, written to a temporary name and renamed into place, so a
  reader never sees half a blob.
* ``s3://bucket[/prefix]`` (boto3; ``S3_ENDPOINT_URL`` for S3-compatible servers).

Every store has the same methods, all keyed by the 64-hex SHA-256 of the bytes:

``exists(sha256) -> bool``
``size(sha256) -> int``                       raises ``BlobMissing``
``open(sha256) -> binary file-like``          seekable; raises ``BlobMissing``
``put_file(sha256, path_or_fileobj, move=False)``  idempotent: storing a present blob again
                                              writes nothing. ``move=True`` lets a local
                                              path be renamed instead of copied.
``delete(sha256)``                            no error when absent

A store trusts the caller for the hash; ``media.blobs`` verifies before it stores.
"""
import abc
import io
import os
import re
import shutil
import tempfile
from urllib.parse import urlparse

from flask import current_app

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobMissing(KeyError):
    """The store has no bytes under this hash."""


def _check(sha256):
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


class BlobStore(abc.ABC):
    """The interface; see the module docstring. LocalStore and S3Store implement it."""
    url = None

    @abc.abstractmethod
    def exists(self, sha256) -> bool:
        ...

    @abc.abstractmethod
    def size(self, sha256) -> int:
        ...

    @abc.abstractmethod
    def open(self, sha256):
        ...

    @abc.abstractmethod
    def put_file(self, sha256, src, move=False):
        ...

    @abc.abstractmethod
    def delete(self, sha256):
        ...

    def put_bytes(self, sha256, data: bytes):
        self.put_file(sha256, io.BytesIO(data))


class LocalStore(BlobStore):
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.url = "file://" + self.root
        os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)

    def path(self, sha256):
        _check(sha256)
        return os.path.join(self.root, sha256[:2], sha256[2:4], sha256)

    def exists(self, sha256):
        return os.path.isfile(self.path(sha256))

    def size(self, sha256):
        try:
            return os.stat(self.path(sha256)).st_size
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    def open(self, sha256):
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    def put_file(self, sha256, src, move=False):
        dest = self.path(sha256)
        if os.path.isfile(dest):
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if isinstance(src, (str, os.PathLike)):
            if move:
                try:
                    os.replace(src, dest)  # same file system: a rename, no copy
                    return
                except OSError:
                    pass
            with open(src, "rb") as f:
                self._write(dest, f)
        else:
            self._write(dest, src)

    def _write(self, dest, fileobj):
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self.root, "tmp"))
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(fileobj, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def delete(self, sha256):
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            pass


class S3Reader(io.RawIOBase):
    """A seekable, read-only view of one S3 object: each read is a ranged GET."""

    def __init__(self, client, bucket, key, size):
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._pos = 0
        self._body, self._body_pos = None, None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b):
        if self._pos >= self._size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._close_body()
            resp = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-")
            self._body, self._body_pos = resp["Body"], self._pos
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        self._body_pos = self._pos
        return n

    def _close_body(self):
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self):
        self._close_body()
        super().close()


class S3Store(BlobStore):
    def __init__(self, bucket, prefix="", endpoint_url=None, region=None, client=None):
        import boto3
        from botocore.config import Config
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            config=Config(max_pool_connections=32, retries={"max_attempts": 3}))

    def key(self, sha256):
        _check(sha256)
        k = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{k}" if self.prefix else k

    def _head(self, sha256):
        from botocore.exceptions import ClientError
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, sha256):
        return self._head(sha256) is not None

    def size(self, sha256):
        head = self._head(sha256)
        if head is None:
            raise BlobMissing(sha256)
        return head["ContentLength"]

    def open(self, sha256):
        size = self.size(sha256)
        return io.BufferedReader(S3Reader(self.client, self.bucket, self.key(sha256), size), 256 * 1024)

    def put_file(self, sha256, src, move=False):
        if self.exists(sha256):
            return
        key = self.key(sha256)
        if isinstance(src, (str, os.PathLike)):
            self.client.upload_file(str(src), self.bucket, key)
            if move:
                os.unlink(src)
        else:
            self.client.upload_fileobj(src, self.bucket, key)

    def delete(self, sha256):
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def ensure_bucket(self):
        """Create the bucket when missing (tests and first runs against a fresh server)."""
        from botocore.exceptions import ClientError
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


def store_from_url(url, *, endpoint_url=None, region=None):
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"STORAGE_URL={url!r}: the bucket is missing (s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    raise ValueError(f"STORAGE_URL={url!r}: use file:///folder or s3://bucket")


def get_store(app=None):
    """The app's blob store, built once per (app, STORAGE_URL, S3_ENDPOINT_URL)."""
    app = app or current_app._get_current_object()
    key = (app.config["STORAGE_URL"], app.config.get("S3_ENDPOINT_URL"))
    cached = app.extensions.get("danbing_blob_store")
    if cached is None or cached[0] != key:
        store = store_from_url(key[0], endpoint_url=key[1], region=app.config.get("S3_REGION"))
        app.extensions["danbing_blob_store"] = cached = (key, store)
    return cached[1]
