"""Subscribing, preferences, and removing subscriptions of revoked devices."""
from sqlalchemy import delete, select

from server.extensions import db

from .models import KINDS, NotificationOptOut, PushSubscription


def subscribe(user, device, endpoint, p256dh, auth):
    """One subscription per device: a re-subscribe replaces the old one."""
    db.session.execute(delete(PushSubscription).where(
        (PushSubscription.device_pk == device.id) | (PushSubscription.endpoint == endpoint)))
    sub = PushSubscription(user_id=user.id, device_pk=device.id, endpoint=endpoint, p256dh=p256dh, auth=auth)
    db.session.add(sub)
    db.session.commit()
    return sub


def unsubscribe(device):
    n = db.session.execute(delete(PushSubscription).where(PushSubscription.device_pk == device.id)).rowcount
    db.session.commit()
    return n


def preferences(user):
    off = set(db.session.scalars(select(NotificationOptOut.kind).where(NotificationOptOut.user_id == user.id)))
    return {kind: {"name": name, "enabled": kind not in off} for kind, name in KINDS.items()}


def set_preferences(user, enabled: dict):
    for kind, on in enabled.items():
        row = db.session.get(NotificationOptOut, (user.id, kind))
        if on and row is not None:
            db.session.delete(row)
        elif not on and row is None:
            db.session.add(NotificationOptOut(user_id=user.id, kind=kind))
    db.session.commit()
    return preferences(user)


def _on_device_revoked(sender, device, **_):
    # A lost phone must not keep receiving case details.
    db.session.execute(delete(PushSubscription).where(PushSubscription.device_pk == device.id))


def connect_signals():
    from server.auth.service import device_revoked
    device_revoked.connect(_on_device_revoked, weak=False)  # connecting twice is a no-op in blinker
