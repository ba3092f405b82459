"""All models, imported here so Alembic and the app see one metadata."""
from .device import AuthSession, AuthToken, Device, LoginFailure  # noqa: F401
from .enterprise import RISK_LEVELS, RISK_NAMES, Enterprise  # noqa: F401
from .jurisdiction import Jurisdiction  # noqa: F401
from .user import ROLES, ROLE_NAMES, Organisation, User  # noqa: F401
