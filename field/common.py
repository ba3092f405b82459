"""Pieces the field entities share: blob-id lists, locations, times, risk colours."""
import re
from datetime import datetime, timedelta, timezone

from marshmallow import ValidationError, fields, validate

from server.models.jurisdiction import valid_code
from sync import entities

# The media contract: records refer to blobs by their SHA-256 (64 lowercase hex digits).
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# 红橙黄蓝, the four risk colours, spelled as the hazard entity (loops) spells them.
RISK_COLOURS = ("红", "橙", "黄", "蓝")
# China Standard Time: the statistical rules count days and 08:00 deadlines in it.
CST = timezone(timedelta(hours=8))


def blob_list(label, maximum=50):
    """A list of blob ids (SHA-256) with a Chinese message on the wrong kind of id."""
    def _check(values):
        for v in values:
            if not SHA256.match(v):
                raise ValidationError(f"{label}应为上传后得到的 64 位十六进制 SHA-256 编号，而不是文件名（{v[:40]}）")
    return fields.List(fields.String(), allow_none=True, load_default=None,
                       validate=[validate.Length(max=maximum, error=f"{label}最多 {maximum} 个"), _check])


# 坐标 (WGS-84 as the phone reports it): the same nested schema as every synced record.
LocationSchema = entities.LocationSchema


def check_location(loc, errors, key="location"):
    """(0, 0) is the classic 'no fix yet' value of a GPS chip, never a place in China."""
    if loc and abs(loc.get("lat") or 0) < 1e-6 and abs(loc.get("lon") or 0) < 1e-6:
        errors.setdefault(key, []).append("坐标为 (0, 0)，说明手机尚未定位成功，请等定位后再提交或手动选点")


def jurisdiction_field(required=False):
    def _check(value):
        if value is not None and not valid_code(value):
            raise ValidationError("行政区划代码应为 12 位数字")
    return fields.String(required=required, allow_none=not required, validate=_check)


def parse_dt(value):
    """An ISO 8601 string (as stored in a record's data) as naive UTC, or None."""
    if value is None or isinstance(value, datetime):
        return _naive(value)
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return _naive(dt)


def _naive(dt):
    if dt is None or dt.tzinfo is None:
        return dt
    return (dt - dt.utcoffset()).replace(tzinfo=None)


def iso(dt):
    return None if dt is None else dt.isoformat() + "Z"


def to_cst(utc_naive):
    """A naive-UTC moment (as stored) as an aware China-time datetime."""
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(CST)


def from_cst(local):
    """An aware datetime back to naive UTC (as stored)."""
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def cst_day_start(utc_naive):
    """00:00 China time of the day ``utc_naive`` falls on, as naive UTC."""
    return from_cst(to_cst(utc_naive).replace(hour=0, minute=0, second=0, microsecond=0))
