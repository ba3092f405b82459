"""The photos' bytes, through the media subsystem's contract.

``media.storage.get_store()`` reads blobs, ``media.blobs.store_bytes`` stores the annotated
images, ``media.signals.blob_stored`` announces new photos. Until the media branch is merged
a small directory store under ``instance/`` stands in for it (development only).
"""
import hashlib
import os

from blinker import Namespace
from flask import current_app

_fallback_signals = Namespace()
fallback_blob_stored = _fallback_signals.signal("blob_stored")


def _media():
    try:
        from media import blobs, signals, storage  # noqa: F401
        return blobs, signals, storage
    except ImportError:
        return None


def _dir():
    path = os.path.join(current_app.config["INSTANCE_DIR"], "vision-fallback-blobs")
    os.makedirs(path, exist_ok=True)
    return path


def read(sha256):
    """The bytes of a blob, or None when it has not arrived (yet)."""
    m = _media()
    if m is not None:
        store = m[2].get_store()
        if not store.exists(sha256):
            return None
        with store.open(sha256) as f:
            return f.read()
    path = os.path.join(_dir(), sha256)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def store(data, *, kind, mime, user=None):
    """Store server-made (or test) bytes; returns the sha256."""
    m = _media()
    if m is not None:
        return m[0].store_bytes(data, kind=kind, user=user, mime=mime).sha256
    sha = hashlib.sha256(data).hexdigest()
    with open(os.path.join(_dir(), sha), "wb") as f:
        f.write(data)
    fallback_blob_stored.send(current_app._get_current_object(), sha256=sha, kind=kind)
    return sha


def connect(receiver):
    m = _media()
    signal = m[1].blob_stored if m is not None else fallback_blob_stored
    signal.connect(receiver)
