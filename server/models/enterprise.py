"""生产经营单位: enterprises, the objects of inspection (not users)."""
import uuid

from ..extensions import db

RISK_LEVELS = ("red", "orange", "yellow", "blue")
RISK_NAMES = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}


class Enterprise(db.Model):
    __tablename__ = "enterprises"

    id = db.Column(db.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name = db.Column(db.String(200), nullable=False)
    # 统一社会信用代码, 18 characters.
    credit_code = db.Column(db.String(18), nullable=False, unique=True)
    address = db.Column(db.String(300), nullable=False)
    legal_representative = db.Column(db.String(50))
    contact_phone = db.Column(db.String(30))
    lat = db.Column(db.Float)
    lon = db.Column(db.Float)
    industry = db.Column(db.String(50), nullable=False)
    risk_level = db.Column(db.String(10), nullable=False, default="blue")
    jurisdiction_code = db.Column(db.String(12), db.ForeignKey("jurisdictions.code"), nullable=False, index=True)

    def to_dict(self):
        return {
            "id": self.id, "name": self.name, "credit_code": self.credit_code, "address": self.address,
            "legal_representative": self.legal_representative, "contact_phone": self.contact_phone,
            "lat": self.lat, "lon": self.lon, "industry": self.industry,
            "risk_level": self.risk_level, "risk_level_name": RISK_NAMES[self.risk_level],
            "jurisdiction_code": self.jurisdiction_code,
        }
