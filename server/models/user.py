"""Users, their organisations and roles."""
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import utcnow
from ..extensions import db

ROLES = ("inspector", "grid_member", "info_officer", "rescuer", "supervisor", "admin")
ROLE_NAMES = {
    "inspector": "执法人员", "grid_member": "网格员", "info_officer": "灾害信息员",
    "rescuer": "救援队员", "supervisor": "审核/指挥", "admin": "管理员",
}


class Organisation(db.Model):
    """A unit users belong to: a county 应急管理局, a township office, a rescue team."""
    __tablename__ = "organisations"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False, unique=True)
    kind = db.Column(db.String(30), nullable=False, default="bureau")  # bureau | office | rescue_team
    jurisdiction_code = db.Column(db.String(12), db.ForeignKey("jurisdictions.code"), nullable=False, index=True)

    def to_dict(self):
        return {"id": self.id, "name": self.name, "kind": self.kind, "jurisdiction_code": self.jurisdiction_code}


class User(db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), nullable=False, unique=True)
    display_name = db.Column(db.String(100), nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    role = db.Column(db.String(20), nullable=False)
    jurisdiction_code = db.Column(db.String(12), db.ForeignKey("jurisdictions.code"), nullable=False, index=True)
    organisation_id = db.Column(db.Integer, db.ForeignKey("organisations.id"), index=True)
    # 执法证号: enforcement ID number printed on enforcement documents.
    enforcement_id = db.Column(db.String(40))
    phone = db.Column(db.String(30))
    active = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    organisation = db.relationship("Organisation")
    jurisdiction = db.relationship("Jurisdiction")

    def set_password(self, password: str):
        # scrypt, memory-hard, from Werkzeug: no extra dependency needed.
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def to_dict(self):
        return {
            "id": self.id, "username": self.username, "display_name": self.display_name,
            "role": self.role, "role_name": ROLE_NAMES[self.role],
            "jurisdiction_code": self.jurisdiction_code,
            "jurisdiction_name": self.jurisdiction.name if self.jurisdiction else None,
            "organisation": self.organisation.to_dict() if self.organisation else None,
            "enforcement_id": self.enforcement_id,
        }
