"""Clause matching (法条匹配): 违法依据 (the clause broken) and 处罚依据 (the clause that sets
the penalty) for a finding.

1. Curated, reviewed data in ``data/clause_map.json``::

       {"hazards": {"no_helmet": {"name": "未按规定佩戴安全帽", "violation": true,
                                  "violated": [{"law": "中华人民共和国安全生产法", "article": 45,
                                                "paragraph": null, "item": null}],
                                  "penalty":  [{"law": "…", "article": 99, "paragraph": null, "item": 5}],
                                  "summary": "…"}, ...},
        "checklist_items": {"hazchem-01": {"text": "…", "violated": [...], "penalty": [...]}, ...}}

   ``paragraph`` is the 款 and ``item`` the 项 (an item with paragraph null is counted in the
   article's first paragraph that lists items). Hazard codes that are not violations
   (``smoke``, ``person_down``) have ``violation: false`` and empty lists. A test checks that
   every citation exists in the imported library.

2. Free text: ``suggest(text)`` ranks passages (款/项) of the current library with BM25
   (rank-bm25) over jieba tokens, after rewriting the words inspectors use on site into the
   words of the statutes (安全帽 → 劳动防护用品, 灭火器 → 消防器材, …).
"""
import hashlib
import json
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select

from server.errors import Invalid, NotFound
from server.extensions import db

from .citations import format_ref
from .models import Article, Law

DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def clause_map() -> dict:
    return json.loads((DATA / "clause_map.json").read_text(encoding="utf-8"))


def _with_citations(entry: dict) -> dict:
    out = dict(entry)
    for key in ("violated", "penalty"):
        out[key] = [{**ref, "citation": format_ref(ref)} for ref in entry.get(key, [])]
    return out


def clauses_for_hazard(code: str) -> dict:
    """A hazard code from the detectors -> {"violated": [...], "penalty": [...], "summary", ...}."""
    entry = clause_map()["hazards"].get(code)
    if entry is None:
        raise NotFound(f"未知的隐患代码 {code}。")
    return {"code": code, **_with_citations(entry)}


def clauses_for_checklist_item(code: str) -> dict:
    entry = clause_map()["checklist_items"].get(code)
    if entry is None:
        raise NotFound(f"未知的检查项 {code}。")
    return {"code": code, "violation": True, **_with_citations(entry)}


def all_mapped_refs():
    """Every (where, ref) in the curated map, for the citation check."""
    data = clause_map()
    for group in ("hazards", "checklist_items"):
        for code, entry in data[group].items():
            for key in ("violated", "penalty"):
                for ref in entry.get(key, []):
                    yield f"{group}.{code}.{key}", ref


# ---- free-text suggestions ---------------------------------------------------------------

# Words inspectors write on site -> the words the statutes use. Only expansions: the original
# words stay in the query.
FIELD_TERMS = {
    ("安全帽", "防护服", "口罩", "防尘口罩", "手套", "护目镜", "防护眼镜", "安全带", "呼吸器", "防毒面具", "劳保"): "劳动防护用品 佩戴",
    ("灭火器", "消防栓", "灭火毯", "喷淋"): "消防设施 器材 配置 完好有效",
    ("消火栓",): "消火栓 埋压 圈占 遮挡",
    ("安全出口", "逃生通道", "逃生门", "疏散门", "防火门"): "疏散通道 安全出口 占用 堵塞 封闭",
    ("消防通道", "消防车道"): "消防车通道 占用 堵塞",
    ("堆放", "堆满", "堆着", "锁住", "上锁", "锁闭", "挡住"): "占用 堵塞 封闭 锁闭",
    ("电焊", "气焊", "气割", "焊接", "切割", "烧焊"): "动火 明火 电焊 气焊 作业",
    ("抽烟", "吸烟", "烟头"): "吸烟 明火 火灾 爆炸危险",
    ("电线", "插线板", "私拉乱接", "乱拉", "飞线", "接线"): "电器产品 线路 敷设 消防技术标准",
    ("警示牌", "警示标识", "警示标牌", "警告标志"): "安全警示标志 明显",
    ("无证", "没有证", "未持证", "没证", "证书过期"): "资格 取得 培训 考核合格 上岗",
    ("电工", "焊工", "叉车司机", "登高"): "特种作业人员 资格 上岗",
    ("叉车", "锅炉", "压力容器", "电梯", "起重机", "行车", "气瓶"): "特种设备",
    ("演练",): "应急救援预案 演练",
    ("预案",): "应急预案 应急救援预案",
    ("培训",): "安全生产教育和培训",
    ("台账", "记录", "登记"): "如实记录 登记",
    ("除尘器", "除尘系统", "泄爆", "隔爆", "报警仪", "检测仪", "通风机"): "安全设备 维护 保养 检测",
    ("积尘", "粉尘"): "粉尘 事故隐患",
    ("罐区", "储罐", "重大危险源"): "重大危险源 登记建档 检测 评估 监控",
    ("仓库", "库房"): "专用储存场所 储存",
    ("宿舍",): "员工宿舍 居住场所 同一建筑物",
    ("隐患",): "事故隐患 消除 排查治理",
    ("淘汰",): "淘汰 工艺 设备",
    ("有限空间", "受限空间", "污水池", "化粪池", "窨井"): "危险作业 现场安全管理",
    ("监护人", "专人监护", "没人看护"): "专门人员 现场安全管理",
    ("外包", "承包", "包给"): "发包 承包单位 安全生产管理协议",
    ("标签",): "化学品安全标签",
    ("说明书",): "化学品安全技术说明书",
    ("许可证", "无证经营", "无证生产"): "许可证 取得",
}
_STOP = set("的 了 和 与 及 或 在 是 有 无 未 没有 不 对 把 被 将 为 等 其 该 已 也 都 就 而 并 或者 以及 应当 规定 按照 "
            "本 前款 下列 之一 行为 单位 生产经营单位 一 个 名 处 现场 发现 检查 时 中 上 里 内 人 人员 公司 企业".split())
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_JIEBA_WORDS = ("劳动防护用品", "安全警示标志", "疏散通道", "安全出口", "消防车通道", "特种作业人员", "特种设备",
                "应急救援预案", "重大危险源", "事故隐患", "有限空间", "危险化学品", "消火栓", "消防设施", "专用储存场所",
                "安全设备", "员工宿舍", "居住场所", "动火", "明火", "安全生产教育和培训", "化学品安全标签",
                "化学品安全技术说明书", "安全生产管理协议", "安全生产管理人员", "安全生产管理机构", "职业病危害因素",
                "安全评价", "安全仪表系统", "自动控制系统", "出入库", "私拉乱接", "防尘口罩", "劳保")
_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():
    global _jieba_ready
    import jieba
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            for w in _JIEBA_WORDS:
                jieba.add_word(w, freq=200000)
            _jieba_ready = True
    return jieba


def tokens(text: str) -> list:
    jieba = _jieba()
    return [t for t in jieba.lcut_for_search(text) if t not in _STOP and not _PUNCT.fullmatch(t) and len(t) > 1
            or t in ("火", "电", "证")]


def expand(text: str) -> str:
    extra = [target for words, target in FIELD_TERMS.items() if any(w in text for w in words)]
    return " ".join([text, *extra])


class _Index:
    """BM25 over every 款 and 项 of the current library."""

    def __init__(self, passages):
        from rank_bm25 import BM25Okapi
        self.passages = passages
        self.bm25 = BM25Okapi([p["tokens"] or ["∅"] for p in passages])

    def rank(self, query_tokens):
        return self.bm25.get_scores(query_tokens)


_index_lock = threading.Lock()
_index_cache = {"key": None, "index": None}


def forget_index():
    with _index_lock:
        _index_cache.update(key=None, index=None)


def _library_key():
    """A fingerprint of the library's content: a re-import of the same laws keeps the index."""
    rows = db.session.execute(select(Law.name, Law.status, Article.number, Article.status, Article.text_sha256)
                              .join(Law).order_by(Law.name, Article.number)).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _build_index():
    passages = []
    stmt = select(Article).join(Law).where(Article.status == "现行有效", Law.status == "现行有效")
    for article in db.session.scalars(stmt):
        law = article.law
        base = {"law": law.name, "short_name": law.short_name, "article": article.number,
                "article_cn": article.number_cn, "role": "penalty" if article.is_penalty else "obligation"}
        for p_no, para in enumerate(article.paragraphs, 1):
            parts = [(None, para["text"])] + [(i, t) for i, t in enumerate(para["items"], 1)]
            for i_no, text in parts:
                # 第九十九条第（五）项 needs no 款 when the article has only one paragraph.
                passages.append({**base, "paragraph": p_no if len(article.paragraphs) > 1 else None,
                                 "item": i_no, "passage": text, "tokens": tokens(text)})
    return _Index(passages)


def _index():
    key = _library_key()
    with _index_lock:
        if _index_cache["key"] != key or _index_cache["index"] is None:
            _index_cache.update(key=key, index=_build_index())
        return _index_cache["index"]


def suggest(text: str, limit: int = 5, role=None) -> list:
    """Ranked clauses for a finding described in free text, best first, one per article.

    Each suggestion names the clause (law, article, paragraph/item), carries the matching
    passage and a score; ``role`` ("obligation" | "penalty") keeps only 违法依据 or 处罚依据
    candidates (penalty clauses sit in a law's 法律责任 chapter).
    """
    text = (text or "").strip()
    if not text:
        raise Invalid("请描述发现的问题。")
    if role not in (None, "obligation", "penalty"):
        raise Invalid("role 只能是 obligation 或 penalty。")
    limit = max(1, min(int(limit), 20))
    index = _index()
    query = tokens(expand(text))
    if not query or not index.passages:
        return []
    scores = index.rank(query)
    best = {}
    for p, score in zip(index.passages, scores):
        if score <= 0 or (role and p["role"] != role):
            continue
        key = (p["law"], p["article"])
        if key not in best or score > best[key][0]:
            best[key] = (score, p)
    ranked = sorted(best.values(), key=lambda sp: -sp[0])[:limit]
    out = []
    for score, p in ranked:
        ref = {"law": p["law"], "article": p["article"], "paragraph": p["paragraph"], "item": p["item"]}
        out.append({**ref, "short_name": p["short_name"], "article_cn": p["article_cn"], "role": p["role"],
                    "citation": format_ref(ref), "passage": p["passage"], "score": round(float(score), 3)})
    return out
