"""Signals of the media subsystem.

``blob_stored`` is sent AFTER the transaction that created the ``Blob`` row commits, with
``sender=app`` and keyword arguments ``sha256`` and ``kind`` (vision subscribes to it).
A rolled-back blob never announces anything.
"""
from blinker import Namespace

_signals = Namespace()
blob_stored = _signals.signal("blob-stored")
