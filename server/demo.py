"""A realistic demo county (平山县, 河北省石家庄市) with towns, villages, users and enterprises."""
from .accounts import create_user, get_or_create_organisation
from .extensions import db
from .models import Enterprise, Jurisdiction
from .models.jurisdiction import level_of, parent_code

DEMO_PASSWORD = "Danbing@2026"

JURISDICTIONS = [
    ("130000000000", "河北省"),
    ("130100000000", "石家庄市"),
    ("130131000000", "平山县"),
    ("130131100000", "平山镇"),
    ("130131100201", "东关村"),
    ("130131100202", "西关村"),
    ("130131101000", "温塘镇"),
    ("130131101201", "温塘村"),
    ("130131101202", "南庄村"),
    ("130131102000", "西柏坡镇"),
    ("130131102201", "西柏坡村"),
    ("130131102202", "北庄村"),
    ("130132000000", "元氏县"),
    ("130132100000", "槐阳镇"),
    ("130132100201", "城关村"),
]

USERS = [
    # username, role, jurisdiction, display name, organisation, enforcement id
    ("admin", "admin", "130131000000", "县局管理员", "平山县应急管理局", None),
    ("zhuren", "supervisor", "130131000000", "王主任（审核）", "平山县应急管理局", "13013100001"),
    ("fazhi", "supervisor", "130131000000", "赵科长（法制审核）", "平山县应急管理局", "13013100002"),
    ("zhifa1", "inspector", "130131000000", "李执法", "平山县应急管理局", "13013100101"),
    ("zhifa2", "inspector", "130131000000", "张执法", "平山县应急管理局", "13013100102"),
    ("wangge", "grid_member", "130131100201", "刘网格（东关村）", "平山镇人民政府", None),
    ("xinxi", "info_officer", "130131101201", "陈信息员（温塘村）", "温塘镇人民政府", None),
    ("jiuyuan", "rescuer", "130131000000", "孙队员", "平山县应急救援队", None),
    ("jiuyuan2", "rescuer", "130131000000", "周队员", "平山县应急救援队", None),
    ("yuanshi", "inspector", "130132000000", "吴执法（元氏县）", "元氏县应急管理局", "13013200101"),
]

ENTERPRISES = [
    ("平山县华兴化工有限公司", "91130131MA0A1B2C3D", "平山镇工业园区1号", "危险化学品", "red", "130131100000", 38.259, 114.186),
    ("平山县冀中液化气站", "91130131MA0A1B2C4E", "平山镇东关村南", "危险化学品", "orange", "130131100201", 38.262, 114.201),
    ("石家庄鑫源铸造有限公司", "91130131MA0A1B2C5F", "温塘镇工业路18号", "工贸", "orange", "130131101000", 38.301, 114.102),
    ("平山县宏达木业有限公司", "91130131MA0A1B2C6G", "温塘镇南庄村", "工贸 粉尘涉爆", "yellow", "130131101202", 38.295, 114.095),
    ("平山县金鼎铝业有限公司", "91130131MA0A1B2C7H", "温塘镇温塘村北", "工贸 粉尘涉爆", "red", "130131101201", 38.305, 114.110),
    ("西柏坡红色旅游服务有限公司", "91130131MA0A1B2C8J", "西柏坡镇西柏坡村", "人员密集场所", "blue", "130131102201", 38.349, 113.951),
    ("平山县北庄石料厂", "91130131MA0A1B2C9K", "西柏坡镇北庄村", "非煤矿山", "orange", "130131102202", 38.355, 113.962),
    ("平山县恒通仓储物流有限公司", "91130131MA0A1B2D0L", "平山镇西关村", "仓储物流", "yellow", "130131100202", 38.255, 114.170),
    ("平山县清源污水处理有限公司", "91130131MA0A1B2D1M", "平山镇滹沱河北岸", "有限空间", "yellow", "130131100000", 38.248, 114.190),
    ("平山县盛世建筑工程有限公司", "91130131MA0A1B2D2N", "平山镇中山路66号", "建筑施工", "blue", "130131100000", 38.257, 114.195),
    ("平山县福乐烟花爆竹批发部", "91130131MA0A1B2D3P", "温塘镇温塘村东", "烟花爆竹", "orange", "130131101201", 38.299, 114.120),
    ("平山县德瑞食品有限公司", "91130131MA0A1B2D4Q", "西柏坡镇工业园", "工贸", "blue", "130131102000", 38.340, 113.970),
    ("元氏县槐阳化工有限公司", "91130132MA0A1B2D5R", "槐阳镇城关村", "危险化学品", "red", "130132100201", 37.766, 114.525),
]


def seed_jurisdictions():
    for code, name in JURISDICTIONS:
        if db.session.get(Jurisdiction, code) is None:
            db.session.add(Jurisdiction(code=code, name=name, level=level_of(code), parent_code=parent_code(code)))
    db.session.commit()


def seed_demo():
    seed_jurisdictions()
    from werkzeug.security import generate_password_hash
    shared_hash = generate_password_hash(DEMO_PASSWORD, method="scrypt")
    created = []
    for username, role, code, name, org, enforcement_id in USERS:
        kind = "rescue_team" if "救援队" in org else ("office" if "政府" in org else "bureau")
        organisation = get_or_create_organisation(org, code[:6].ljust(12, "0") if kind != "office" else code[:9].ljust(12, "0"), kind)
        created.append(create_user(username=username, password=DEMO_PASSWORD, role=role, jurisdiction_code=code,
                                   display_name=name, organisation=organisation, enforcement_id=enforcement_id,
                                   password_hash=shared_hash))
    for name, credit, address, industry, risk, code, lat, lon in ENTERPRISES:
        db.session.add(Enterprise(name=name, credit_code=credit, address=address, industry=industry,
                                  risk_level=risk, jurisdiction_code=code, lat=lat, lon=lon,
                                  legal_representative="法定代表人" + name[3:4]))
    db.session.commit()
    return created
