"""The violation catalog — the one place that knows violation types, their legal basis and penalty.

Verified against ``shared/domain/FACTS.md`` §1 and the law texts. 公路法 = 《中华人民共和国公路法》 (2017),
条例 = 《公路安全保护条例》 (国务院令第593号, 2011).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class ViolationType:
    code: str
    name_zh: str
    name_en: str
    legal_basis: str
    penalty: str
    aliases: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


CATALOG: tuple[ViolationType, ...] = (
    ViolationType(
        "materials",
        "在公路及公路用地范围内堆放物品",
        "Materials or goods stacked on the road or road land",
        "《公路法》第四十六条；《公路安全保护条例》第十六条",
        "《公路法》第七十七条：责令停止违法行为，可以处五千元以下罚款"
        "（以造成公路路面损坏、污染或者影响公路畅通为限）",
        ("堆放物品", "堆放建筑材料", "堆物", "占道堆放", "堆放杂物", "打场晒粮", "晒粮"),
    ),
    ViolationType(
        "stall",
        "摆摊设点、搭建棚房、设置障碍",
        "Stalls, sheds or obstacles on the road",
        "《公路法》第四十六条",
        "《公路法》第七十七条：责令停止违法行为，可以处五千元以下罚款",
        ("摆摊设点", "搭建棚房", "设置障碍", "占道经营", "摆摊", "搭棚"),
    ),
    ViolationType(
        "dumping",
        "倾倒垃圾、利用公路边沟排放污物",
        "Dumping rubbish or discharging waste into road ditches",
        "《公路法》第四十六条",
        "《公路法》第七十七条：责令停止违法行为，可以处五千元以下罚款",
        ("倾倒垃圾", "排放污物", "倾倒", "乱倒垃圾"),
    ),
    ViolationType(
        "digging",
        "擅自占用、挖掘公路",
        "Occupying or digging up a road without permission",
        "《公路法》第四十四条",
        "《公路法》第七十六条第（一）项：责令停止违法行为，可以处三万元以下罚款",
        ("擅自占用公路", "挖掘公路", "占用挖掘公路", "挖路", "占用公路"),
    ),
    ViolationType(
        "building",
        "在公路建筑控制区内修建建筑物、地面构筑物",
        "Building structures inside the building control zone",
        "《公路法》第五十六条；《公路安全保护条例》第十一条、第十三条",
        "《公路法》第八十一条：责令限期拆除，可以处五万元以下罚款；逾期不拆除的，由交通主管部门拆除，"
        "有关费用由建筑者、构筑者承担（另见《公路安全保护条例》第五十六条）",
        ("违章建房", "建筑控制区内建房", "违法建筑", "违章建筑", "控制区建房", "修建建筑物"),
    ),
    ViolationType(
        "trees",
        "擅自砍伐、更新采伐公路用地上的树木",
        "Felling roadside trees on road land without permission",
        "《公路法》第四十二条第二款；《公路安全保护条例》第二十六条",
        "《公路安全保护条例》第六十一条：责令补种，没收违法所得，并处采伐林木价值3倍以上5倍以下罚款",
        ("砍伐行道树", "砍伐树木", "砍树", "毁坏行道树", "砍伐护路林"),
    ),
    ViolationType(
        "over_limit",
        "车辆超限行驶",
        "Over-limit vehicle (dimensions, axle load or gross mass)",
        "《公路法》第五十条；《公路安全保护条例》第三十三条",
        "《公路法》第七十六条第（五）项、《公路安全保护条例》第六十四条：责令改正，可以处三万元以下罚款",
        ("超限", "超限运输", "超限行驶", "车辆超限", "超限车辆"),
    ),
    ViolationType("other", "其他", "Other (state the legal basis)", "—", "—", ("其它",)),
)

BY_CODE: dict[str, ViolationType] = {v.code: v for v in CATALOG}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "")


_LOOKUP: dict[str, str] = {}
for _v in CATALOG:
    for _k in (_v.code, _v.name_zh, _v.name_en, *_v.aliases):
        _LOOKUP[_norm(_k)] = _v.code
    for _part in _v.name_zh.replace("、", "，").split("，"):
        _LOOKUP.setdefault(_norm(_part), _v.code)


def resolve_type(text: str) -> ViolationType:
    """Catalog code, Chinese name or a ledger short form (堆放物品, 超限运输 …) → the type.

    Raises ``KeyError`` for anything unknown. "超载" is not accepted: overloading beyond a vehicle's rated
    load is a police matter (道路交通安全法), not road administration's 超限.
    """
    key = _norm(text)
    if key in _LOOKUP:
        return BY_CODE[_LOOKUP[key]]
    # Ledger phrases such as "在X012路边堆放建筑材料": a single alias contained in the text decides.
    hits = {code for alias, code in _LOOKUP.items() if len(alias) >= 2 and alias in key and code != "other"}
    if len(hits) == 1:
        return BY_CODE[hits.pop()]
    raise KeyError(text)
