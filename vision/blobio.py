"""The photos' bytes, through the media subsystem: ``media.storage.get_store()`` reads,
``media.blobs.store_bytes`` stores the annotated images, ``media.signals.blob_stored``
announces new photos."""


def read(sha256):
    """The bytes of a blob, or None when it has not arrived (yet)."""
    from media.storage import get_store
    store = get_store()
    if not store.exists(sha256):
        return None
    with store.open(sha256) as f:
        return f.read()


def store(data, *, kind, mime, user=None):
    """Store server-made bytes (the annotated image); returns the sha256."""
    from media.blobs import store_bytes
    return store_bytes(data, kind=kind, user=user, mime=mime).sha256


def connect(receiver):
    from media.signals import blob_stored
    blob_stored.connect(receiver)
