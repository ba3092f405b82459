"""行政区划: the jurisdiction tree keyed by 12-digit division codes.

A code's level shows in its trailing zeros: 省 keeps 2 digits, 市 4, 县 6, 乡镇 9, 村 12.
A user sees their own jurisdiction and everything below it, i.e. every record whose code
starts with the user's *scope prefix*.
"""
import re

from ..extensions import db

LEVELS = ("province", "city", "county", "township", "village")
LEVEL_NAMES = {"province": "省", "city": "市", "county": "县", "township": "乡镇", "village": "村"}
PREFIX_LEN = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}
_CODE = re.compile(r"^\d{12}$")


def valid_code(code) -> bool:
    return isinstance(code, str) and bool(_CODE.match(code)) and not code.startswith("00")


def level_of(code: str) -> str:
    if code[2:] == "0" * 10:
        return "province"
    if code[4:] == "0" * 8:
        return "city"
    if code[6:] == "0" * 6:
        return "county"
    if code[9:] == "000":
        return "township"
    return "village"


def scope_prefix(code: str) -> str:
    return code[: PREFIX_LEN[level_of(code)]]


def parent_code(code: str):
    level = level_of(code)
    if level == "province":
        return None
    parent_len = PREFIX_LEN[LEVELS[LEVELS.index(level) - 1]]
    return code[:parent_len].ljust(12, "0")


def covers(user_code: str, record_code) -> bool:
    """True when a record in ``record_code`` lies within ``user_code``'s jurisdiction."""
    return record_code is not None and record_code.startswith(scope_prefix(user_code))


class Jurisdiction(db.Model):
    __tablename__ = "jurisdictions"

    code = db.Column(db.String(12), primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    level = db.Column(db.String(10), nullable=False)
    parent_code = db.Column(db.String(12), db.ForeignKey("jurisdictions.code"), index=True)

    @property
    def scope_prefix(self):
        return scope_prefix(self.code)

    def to_dict(self):
        return {"code": self.code, "name": self.name, "level": self.level,
                "level_name": LEVEL_NAMES[self.level], "parent_code": self.parent_code}
