"""Login, refresh with rotation and reuse detection, logout, device revocation.

Knows nothing of HTTP. Tokens are opaque; only their SHA-256 is stored.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from blinker import Namespace
from sqlalchemy import func, select

from ..clock import utcnow
from ..errors import Forbidden, NotFound, RateLimited, Unauthorized
from ..extensions import db
from ..models import AuthSession, AuthToken, Device, LoginFailure, User
from ..models.jurisdiction import covers


_signals = Namespace()
# Sent inside the revoking transaction, so listeners (push subscriptions) commit with it.
device_revoked = _signals.signal("device-revoked")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Settings:
    access_ttl: int
    refresh_ttl: int
    max_failures: int
    failure_window: int

    @classmethod
    def from_config(cls, config):
        return cls(config["ACCESS_TOKEN_TTL"], config["REFRESH_TOKEN_TTL"],
                   config["LOGIN_MAX_FAILURES"], config["LOGIN_FAILURE_WINDOW"])


@dataclass
class Principal:
    """Who is calling: the user, their session and device."""
    user: User
    session: AuthSession
    device: Device


def _issue(session: AuthSession, settings: Settings, now):
    access, refresh = "dba_" + secrets.token_urlsafe(32), "dbr_" + secrets.token_urlsafe(32)
    db.session.add_all([
        AuthToken(token_hash=_hash(access), session=session, kind="access",
                  expires_at=now + timedelta(seconds=settings.access_ttl)),
        AuthToken(token_hash=_hash(refresh), session=session, kind="refresh",
                  expires_at=now + timedelta(seconds=settings.refresh_ttl)),
    ])
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": settings.access_ttl, "refresh_expires_in": settings.refresh_ttl}


def login(username, password, device_id, settings: Settings, *, ip=None, user_agent=None):
    now = utcnow()
    since = now - timedelta(seconds=settings.failure_window)
    failures = db.session.scalar(select(func.count(LoginFailure.id)).where(
        LoginFailure.username == username, LoginFailure.at >= since))
    if failures >= settings.max_failures:
        raise RateLimited(f"登录失败次数过多，请 {settings.failure_window // 60} 分钟后再试。",
                          retry_after=settings.failure_window)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.check_password(password):
        db.session.add(LoginFailure(username=username, ip=ip, at=now))
        db.session.commit()
        raise Unauthorized("用户名或密码错误。")
    device = db.session.scalar(select(Device).where(Device.device_id == device_id))
    if device is None:
        device = Device(device_id=device_id, user_agent=(user_agent or "")[:300], registered_at=now)
        db.session.add(device)
    elif device.revoked_at is not None:
        raise Forbidden("此设备已被管理员停用，请联系管理员。")
    device.last_seen_at, device.last_user = now, user
    session = AuthSession(user=user, device=device, created_at=now)
    db.session.add(session)
    # A successful login clears the user's failure count.
    db.session.query(LoginFailure).filter(LoginFailure.username == username).delete()
    tokens = _issue(session, settings, now)
    db.session.commit()
    return {**tokens, "user": user.to_dict(), "device_id": device.device_id}


def _revoke_session(session: AuthSession, reason: str, now):
    if session.revoked_at is None:
        session.revoked_at, session.revoke_reason = now, reason


def refresh(refresh_token: str, settings: Settings):
    now = utcnow()
    token = db.session.get(AuthToken, _hash(refresh_token or ""))
    if token is None or token.kind != "refresh":
        raise Unauthorized("刷新令牌无效，请重新登录。")
    session = token.session
    if token.used_at is not None:
        # Reuse of a rotated refresh token: someone holds a copy. End the session for both.
        _revoke_session(session, "refresh_reuse", now)
        db.session.commit()
        raise Unauthorized("刷新令牌已被使用过，为安全起见本设备的登录已失效，请重新登录。")
    if session.revoked_at is not None or session.device.revoked_at is not None:
        raise Unauthorized("登录已失效（设备已停用或已退出），请重新登录。")
    if token.expires_at <= now:
        raise Unauthorized("刷新令牌已过期，请重新登录。")
    if not session.user.active:
        raise Unauthorized("账号已停用。")
    token.used_at = now
    session.device.last_seen_at = now
    tokens = _issue(session, settings, now)
    db.session.commit()
    return {**tokens, "user": session.user.to_dict(), "device_id": session.device.device_id}


def authenticate(access_token: str) -> Principal:
    """The principal behind a bearer token, checked against session and device now."""
    now = utcnow()
    row = db.session.execute(
        select(AuthToken, AuthSession, Device, User)
        .join(AuthSession, AuthToken.session_id == AuthSession.id)
        .join(Device, AuthSession.device_pk == Device.id)
        .join(User, AuthSession.user_id == User.id)
        .where(AuthToken.token_hash == _hash(access_token or ""))
    ).first()
    if row is None or row.AuthToken.kind != "access":
        raise Unauthorized("访问令牌无效，请重新登录。")
    if row.AuthToken.expires_at <= now:
        raise Unauthorized("访问令牌已过期，请用刷新令牌续期。", code="token_expired")
    if row.AuthSession.revoked_at is not None or row.Device.revoked_at is not None:
        raise Unauthorized("登录已失效（设备已停用或已退出），请重新登录。")
    if not row.User.active:
        raise Unauthorized("账号已停用。")
    return Principal(row.User, row.AuthSession, row.Device)


def logout(principal: Principal):
    _revoke_session(principal.session, "logout", utcnow())
    db.session.commit()


def revoke_device(device_id: str, admin: User):
    """Stop a lost phone: its sessions end and every token it holds stops working."""
    device = db.session.scalar(select(Device).where(Device.device_id == device_id))
    if device is None:
        raise NotFound(f"没有编号为 {device_id} 的设备。")
    if device.last_user is not None and not covers(admin.jurisdiction_code, device.last_user.jurisdiction_code):
        raise Forbidden("该设备的用户不在您的辖区内。")
    now = utcnow()
    device.revoked_at, device.revoked_by_id = now, admin.id
    for s in db.session.scalars(select(AuthSession).where(AuthSession.device_pk == device.id,
                                                         AuthSession.revoked_at.is_(None))):
        _revoke_session(s, "device_revoked", now)
    device_revoked.send(None, device=device)
    db.session.commit()
    return device
