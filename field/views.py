"""/api/v1/positions, /api/v1/disasters, /api/v1/patrols: thin views over the domain functions."""
from flask import Blueprint

bp = Blueprint("field", __name__, url_prefix="/api/v1")
