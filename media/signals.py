"""Signals of the media subsystem.

``blob_stored`` is sent AFTER the transaction that created the ``Blob`` row commits, with
``sender=app`` and keyword arguments ``sha256`` and ``kind`` (vision subscribes to it).
A rolled-back blob never announces anything. Receivers may use the database: the signal
is sent after the commit returns, never from inside SQLAlchemy's ``after_commit`` hook
(``media.blobs.announce_stored``; at the latest when the app context ends).
"""
from blinker import Namespace

_signals = Namespace()
blob_stored = _signals.signal("blob-stored")
