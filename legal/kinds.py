"""The six enforcement document kinds (执法文书种类), after the national model texts for
safety-production enforcement, with their 文号 abbreviation and what each must carry.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    abbr: str              # the part of the 文号 after the authority: 平应急【责改】〔2026〕3号
    major: bool = False    # 重大决定: needs 法制审核 by a supervisor other than the signer
    needs_clauses: bool = True
    rights: tuple = ()     # which of the party's rights the document states


STATEMENT = "statement"    # 陈述、申辩 (3 days, 行政处罚法第四十四条、第四十五条)
REVIEW = "review"          # 行政复议 (60 days)
LITIGATION = "litigation"  # 行政诉讼 (6 months)

KINDS = {k.code: k for k in (
    Kind("inspection_record", "现场检查记录", "检记", needs_clauses=False),
    Kind("rectification_order", "责令限期整改指令书", "责改", rights=(REVIEW, LITIGATION)),
    Kind("recheck_opinion", "整改复查意见书", "复查", needs_clauses=False),
    Kind("onsite_measures", "现场处理措施决定书", "现决", rights=(REVIEW, LITIGATION)),
    Kind("penalty_notice", "行政处罚告知书", "罚告", rights=(STATEMENT,)),
    Kind("penalty_decision", "行政处罚决定书", "罚决", major=True, rights=(REVIEW, LITIGATION)),
)}

RIGHTS_TEXT = {
    STATEMENT: "根据《中华人民共和国行政处罚法》第四十四条、第四十五条的规定，你（单位）有权进行陈述和申辩，"
               "可在收到本告知书之日起3日内向本机关提出陈述、申辩意见；逾期未提出的，视为放弃上述权利。",
    REVIEW: "如不服本决定，可以在收到本文书之日起60日内依法向上一级应急管理部门或者本级人民政府申请行政复议，",
    LITIGATION: "或者在收到本文书之日起6个月内依法向人民法院提起行政诉讼。",
}


def rights_text(kind: Kind) -> str:
    return "".join(RIGHTS_TEXT[r] for r in kind.rights)


# Order rules seen in working systems (issue #8):
#  * a 现场处理措施决定书 only after the case's 现场检查记录 is approved (signed or issued);
#  * a 整改复查意见书 only after a 责令限期整改指令书 or 现场处理措施决定书 of the same case was issued.
PREREQUISITES = {
    "onsite_measures": (("inspection_record",), ("signed", "issued"), "现场检查记录审批通过后才能制作现场处理措施决定书。"),
    "recheck_opinion": (("rectification_order", "onsite_measures"), ("issued",),
                        "同一案件先有已送达的责令限期整改指令书或现场处理措施决定书，才能制作整改复查意见书。"),
}
