"""HTTP views of the legal subsystem (filled in below)."""
from flask import Blueprint

bp = Blueprint("legal", __name__, url_prefix="/api/v1")
