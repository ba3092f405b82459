"""``require_auth``: the bearer-token check every API view goes through."""
from functools import wraps

from flask import g, request

from ..errors import Forbidden, Unauthorized
from . import service


def current_principal():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("缺少访问令牌（Authorization: Bearer …）。")
    return service.authenticate(token.strip())


def require_auth(*roles):
    """Authenticate the caller; with ``roles``, also require one of them."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if roles and principal.user.role not in roles:
                raise Forbidden(f"此操作需要角色：{'、'.join(roles)}。")
            g.principal, g.user, g.device = principal, principal.user, principal.device
            return view(*args, **kwargs)
        return wrapped
    return decorator
