"""The hazard taxonomy the detectors map into.

Codes are the hazard codes of the legal clause map (``legal/data/clause_map.json``), so a
violation found in a photo links straight to its 违法依据 and 处罚依据
(``legal.matching.clauses_for_hazard(code)``). ``kind`` is the record a detection raises:

* ``violation``   a suggested finding that cites clauses (supervisor confirms or dismisses);
* ``emergency``   people may be in danger: supervisors are told at once, no clauses;
* ``observation`` worth a look, not a violation in itself (smoke: verify the fire).

``severity`` ``high`` notifies the supervisors of the record's jurisdiction.
"""
from dataclasses import dataclass

KINDS = ("violation", "emergency", "observation")
SEVERITIES = ("low", "medium", "high")
KIND_NAMES = {"violation": "违法行为", "emergency": "紧急情况", "observation": "现场观察"}
SEVERITY_NAMES = {"low": "低", "medium": "中", "high": "高"}


@dataclass(frozen=True)
class Hazard:
    code: str
    name: str
    severity: str
    kind: str
    advice: str

    @property
    def violation(self):
        return self.kind == "violation"

    def to_dict(self):
        return {"code": self.code, "name": self.name, "severity": self.severity, "kind": self.kind,
                "kind_name": KIND_NAMES[self.kind], "advice": self.advice}


HAZARDS = {h.code: h for h in (
    Hazard("no_helmet", "未按规定佩戴安全帽", "medium", "violation", "责令现场人员立即正确佩戴安全帽，检查企业劳动防护用品发放和监督记录"),
    Hazard("open_fire", "明火", "high", "violation", "立即核实火源，无动火审批的责令停止作业并清理可燃物"),
    Hazard("smoke", "烟雾", "high", "observation", "立即核实是否发生火情，按应急预案处置"),
    Hazard("person_down", "人员倒地", "high", "emergency", "立即核实人员状况，组织救援并报告"),
    Hazard("fire_exit_blocked", "消防通道堵塞", "medium", "violation", "责令立即清理疏散通道、安全出口"),
    Hazard("extinguisher_missing", "灭火器缺失", "medium", "violation", "责令按标准配置灭火器并保持完好有效"),
    Hazard("messy_wiring", "电线私拉乱接", "medium", "violation", "责令停止使用私拉电线，由持证电工整改"),
)}


def get(code):
    return HAZARDS.get(code)


def clauses(code):
    """The curated 违法依据/处罚依据 of a violation (empty for emergencies and observations)."""
    hazard = HAZARDS.get(code)
    if hazard is None or not hazard.violation:
        return {"violated": [], "penalty": []}
    try:
        from legal import matching
        entry = matching.clauses_for_hazard(code)
    except Exception:  # legal not installed or the code unmapped: the finding still stands
        return {"violated": [], "penalty": []}
    return {"violated": [r["citation"] for r in entry.get("violated", [])],
            "penalty": [r["citation"] for r in entry.get("penalty", [])]}
