"""Inspection checklist templates (检查表), one JSON file per template in ``data/checklists/``.

Format (read by the hazards/inspection module, issue #5)::

    {"code": "hazchem", "name": "危险化学品企业安全检查表", "industries": ["危险化学品"],
     "items": [{"code": "hazchem-01", "category": "安全管理", "text": "是否依法取得…"}, ...]}

Every item is a legal requirement; its 违法依据 and 处罚依据 are in ``data/clause_map.json``
(see ``matching.clauses_for_checklist_item``).
"""
import json
from functools import lru_cache
from pathlib import Path

from server.errors import NotFound

DIR = Path(__file__).resolve().parent / "data" / "checklists"


@lru_cache(maxsize=1)
def _all():
    templates = {}
    for path in sorted(DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        templates[data["code"]] = data
    return templates


def list_templates():
    return [{"code": t["code"], "name": t["name"], "industries": t["industries"], "item_count": len(t["items"])}
            for t in _all().values()]


def get_template(code: str) -> dict:
    try:
        return _all()[code]
    except KeyError:
        raise NotFound(f"没有检查表 {code}。") from None


def for_industry(industry: str):
    return [t for t in _all().values() if industry in t["industries"]]


def item_codes():
    return [item["code"] for t in _all().values() for item in t["items"]]
