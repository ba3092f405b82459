"""Citations (法条引用): Chinese numerals, parsing "安全生产法第九十九条第一款第（五）项" and
printing a clause reference by full law name.

A clause reference (``ref``) is a dict ``{"law": "中华人民共和国安全生产法", "article": 99,
"paragraph": 1 | None, "item": 5 | None}``; ``paragraph`` is the 款 and ``item`` the 项
(counted within the paragraph that lists the items).
"""
import re

from server.errors import Invalid

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "零一二三四五六七八九"


def cn_to_int(text: str) -> int:
    """九十九 -> 99, 一百零二 -> 102, 十五 -> 15; plain digits pass through."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + (digit or 0)


def int_to_cn(n: int) -> str:
    """99 -> 九十九, 102 -> 一百零二, 10 -> 十, 110 -> 一百一十 (the style of Chinese statutes)."""
    if n <= 0 or n >= 10000:
        raise ValueError(n)
    parts, zero = [], False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d:
            if zero:
                parts.append("零")
                zero = False
            parts.append(_CN[d] + name)
        elif parts:
            zero = True
    s = "".join(parts)
    return s[1:] if s.startswith("一十") else s


_NUM = r"[0-9零〇一二两三四五六七八九十百千]+"
_CITE = re.compile(
    rf"^\s*《?(?P<law>[^《》第]*?)》?\s*第(?P<article>{_NUM})条"
    rf"(?:\s*第(?P<paragraph>{_NUM})款)?"
    rf"(?:\s*第?[（(]?(?P<item>{_NUM})[)）]?项)?\s*$")


def parse(citation: str) -> dict:
    """"安全生产法第九十九条第（五）项" -> {"law": "安全生产法", "article": 99, "paragraph": None, "item": 5}.

    The law name is returned as written; ``library.resolve_law`` finds the full name.
    """
    m = _CITE.match(citation or "")
    if not m or not m.group("law"):
        raise Invalid(f"无法识别的法条引用：{citation!r}，应形如“安全生产法第九十九条第（五）项”。")
    def num(name):
        v = m.group(name)
        return None if v is None else cn_to_int(v)
    return {"law": m.group("law").strip(), "article": num("article"),
            "paragraph": num("paragraph"), "item": num("item")}


def format_ref(ref: dict) -> str:
    """{"law": "中华人民共和国安全生产法", "article": 99, "item": 5} -> 《中华人民共和国安全生产法》第九十九条第（五）项."""
    s = f"《{ref['law']}》第{int_to_cn(ref['article'])}条"
    if ref.get("paragraph"):
        s += f"第{int_to_cn(ref['paragraph'])}款"
    if ref.get("item"):
        s += f"第（{int_to_cn(ref['item'])}）项"
    return s


def normalise_ref(ref: dict) -> dict:
    return {"law": ref["law"], "article": int(ref["article"]),
            "paragraph": ref.get("paragraph") or None, "item": ref.get("item") or None}
