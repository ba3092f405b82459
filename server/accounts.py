"""Creating users (CLI, demo seed, tests share this)."""
from sqlalchemy import select

from .errors import Conflict, Invalid
from .extensions import db
from .models import ROLES, Jurisdiction, Organisation, User


def get_or_create_organisation(name, jurisdiction_code, kind="bureau"):
    org = db.session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, jurisdiction_code=jurisdiction_code, kind=kind)
        db.session.add(org)
        db.session.flush()
    return org


def create_user(*, username, password, role, jurisdiction_code, display_name=None,
                organisation_name=None, organisation=None, enforcement_id=None, phone=None,
                password_hash=None):
    if role not in ROLES:
        raise Invalid(f"未知角色 {role}，可选：{', '.join(ROLES)}")
    if password_hash is None and len(password) < 8:
        raise Invalid("密码至少 8 位。")
    if db.session.get(Jurisdiction, jurisdiction_code) is None:
        raise Invalid(f"行政区划代码 {jurisdiction_code} 不存在（先运行 demo seed 或导入区划）。")
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名 {username} 已存在。")
    if organisation is None and organisation_name:
        organisation = get_or_create_organisation(organisation_name, jurisdiction_code)
    user = User(username=username, display_name=display_name or username, role=role,
                jurisdiction_code=jurisdiction_code, organisation=organisation,
                enforcement_id=enforcement_id, phone=phone)
    if password_hash:  # the demo seed hashes its one shared password once
        user.password_hash = password_hash
    else:
        user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user
