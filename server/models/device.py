"""Devices (phones), login sessions and tokens.

A phone registers its client-generated ``device_id`` at login. Every login opens an
``AuthSession`` for (user, device); its tokens are opaque random strings of which only a
SHA-256 hash is stored. Revoking a device (a lost phone) revokes its sessions, and every
token check looks at the session and device, so revocation takes effect at once.
"""
from ..clock import utcnow
from ..extensions import db


class Device(db.Model):
    __tablename__ = "devices"

    id = db.Column(db.Integer, primary_key=True)
    device_id = db.Column(db.String(64), nullable=False, unique=True)
    user_agent = db.Column(db.String(300))
    registered_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_seen_at = db.Column(db.DateTime)
    last_user_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    revoked_at = db.Column(db.DateTime)
    revoked_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))

    last_user = db.relationship("User", foreign_keys=[last_user_id])

    def to_dict(self):
        from ..clock import isoformat
        return {
            "device_id": self.device_id, "user_agent": self.user_agent,
            "registered_at": isoformat(self.registered_at), "last_seen_at": isoformat(self.last_seen_at),
            "last_user": self.last_user.username if self.last_user else None,
            "revoked": self.revoked_at is not None, "revoked_at": isoformat(self.revoked_at),
        }


class AuthSession(db.Model):
    __tablename__ = "auth_sessions"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    device_pk = db.Column(db.Integer, db.ForeignKey("devices.id"), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    revoked_at = db.Column(db.DateTime)
    revoke_reason = db.Column(db.String(40))

    user = db.relationship("User")
    device = db.relationship("Device")


class AuthToken(db.Model):
    __tablename__ = "auth_tokens"

    token_hash = db.Column(db.String(64), primary_key=True)
    session_id = db.Column(db.Integer, db.ForeignKey("auth_sessions.id"), nullable=False, index=True)
    kind = db.Column(db.String(10), nullable=False)  # access | refresh
    expires_at = db.Column(db.DateTime, nullable=False)
    # A refresh token is used once; a second use means it was copied (stolen).
    used_at = db.Column(db.DateTime)

    session = db.relationship("AuthSession")


class LoginFailure(db.Model):
    """Failed logins, counted per username to rate-limit password guessing."""
    __tablename__ = "login_failures"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), nullable=False, index=True)
    ip = db.Column(db.String(64))
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
