"""The violation catalog — the one place that knows violation types, their legal basis and penalty.

Verified against ``shared/domain/FACTS.md`` §1 and the law texts (copies in ``patrol_app/data/laws/``; a test checks every
article cited here exists there with the words quoted in “”). 公路法 = 《中华人民共和国公路法》 (2017),
条例 = 《公路安全保护条例》 (国务院令第593号, 2011). One name per type, used everywhere (forms, maps, exports, report).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class ViolationType:
    """One violation type. ``legal_basis`` is what the conduct violates (违反条款), ``penalty`` the article that
    punishes it and what it allows (处罚依据), quoting the law's words in “”. ``condition`` is a condition the
    penalty article sets (第七十七条: 造成公路路面损坏、污染或者影响公路畅通) — the record must show it."""

    code: str
    name_zh: str
    name_en: str
    legal_basis: str
    penalty: str
    aliases: tuple[str, ...] = ()
    penalty_article: str = ""  # the penalty article alone, for notices: 《中华人民共和国公路法》第七十七条
    condition: str = ""  # a condition of the penalty article that the record must show
    note: str = ""  # what the officer must know when choosing this type
    needs_basis: bool = False  # ``other``: the officer states the legal basis

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    @property
    def color(self) -> str:
        """The type's colour (``#rrggbb``) wherever types are told apart by colour: map markers and legend, KML
        placemarks, the report's figure (and so the Word report)."""
        return TYPE_COLORS.get(self.code, OTHER_COLOR)


_HL = "《中华人民共和国公路法》"
_RG = "《公路安全保护条例》"
_ART77 = (
    f"{_HL}第七十七条：违反本法第四十六条的规定，“造成公路路面损坏、污染或者影响公路畅通的”，"
    "“由交通主管部门责令停止违法行为，可以处五千元以下的罚款”"
)
_COND77 = "造成公路路面损坏、污染或者影响公路畅通"

CATALOG: tuple[ViolationType, ...] = (
    ViolationType(
        "materials",
        "堆放物品",
        "Goods or materials stacked on the road or road land",
        f"{_HL}第四十六条；{_RG}第十六条",
        _ART77,
        (
            "在公路及公路用地范围内堆放物品",
            "堆放建筑材料",
            "堆物",
            "占道堆放",
            "堆放杂物",
            "打场晒粮",
            "晒粮",
        ),
        penalty_article=f"{_HL}第七十七条",
        condition=_COND77,
        note="以在公路上及公路用地范围内为限；须记明是否“造成公路路面损坏、污染或者影响公路畅通”（《中华人民共和国公路法》第七十七条）",
    ),
    ViolationType(
        "stall",
        "摆摊设点或设置障碍",
        "Stalls or obstacles on the road or road land",
        f"{_HL}第四十六条；{_RG}第十六条",
        _ART77,
        (
            "摆摊设点、设置障碍",
            "摆摊设点、搭建棚房、设置障碍",
            "摆摊设点",
            "设置障碍",
            "占道经营",
            "摆摊",
            "搭建棚房",
            "搭棚",
        ),
        penalty_article=f"{_HL}第七十七条",
        condition=_COND77,
        note="以在公路上及公路用地范围内为限；须记明是否“造成公路路面损坏、污染或者影响公路畅通”（《中华人民共和国公路法》第七十七条）；"
        "公路用地以外、建筑控制区以内搭建的棚房等，登记为「建筑控制区内修建建筑物或地面构筑物」（第五十六条、第八十一条）",
    ),
    ViolationType(
        "dumping",
        "倾倒垃圾或排放污物",
        "Dumping rubbish or discharging waste into road ditches",
        f"{_HL}第四十六条；{_RG}第十六条",
        _ART77,
        ("倾倒垃圾、排放污物", "倾倒垃圾、利用公路边沟排放污物", "倾倒垃圾", "排放污物", "倾倒", "乱倒垃圾"),
        penalty_article=f"{_HL}第七十七条",
        condition=_COND77,
        note="以在公路上及公路用地范围内为限；须记明是否“造成公路路面损坏、污染或者影响公路畅通”（《中华人民共和国公路法》第七十七条）",
    ),
    ViolationType(
        "digging",
        "擅自占用或挖掘公路",
        "Occupying or digging up a road without permission",
        f"{_HL}第四十四条第一款",
        f"{_HL}第七十六条第（一）项：“擅自占用、挖掘公路的”，“由交通主管部门责令停止违法行为，可以处三万元以下的罚款”",
        ("擅自占用、挖掘公路", "擅自占用公路", "挖掘公路", "占用挖掘公路", "挖路", "占用公路"),
        penalty_article=f"{_HL}第七十六条第（一）项",
    ),
    ViolationType(
        "building",
        "建筑控制区内修建建筑物或地面构筑物",
        "Buildings or structures inside the building control zone",
        f"{_HL}第五十六条；{_RG}第十一条、第十三条",
        f"{_HL}第八十一条：“由交通主管部门责令限期拆除，并可以处五万元以下的罚款。逾期不拆除的，由交通主管部门拆除，"
        f"有关费用由建筑者、构筑者承担”（另见{_RG}第五十六条）",
        (
            "在公路建筑控制区内修建建筑物、地面构筑物",
            "建筑控制区内修建建筑物、地面构筑物",
            "违章建房",
            "建筑控制区内建房",
            "违法建筑",
            "违章建筑",
            "控制区建房",
            "修建建筑物",
        ),
        penalty_article=f"{_HL}第八十一条",
        note="公路用地以外、建筑控制区以内搭建的棚房也属此类",
    ),
    ViolationType(
        "trees",
        "未经批准更新采伐护路林",
        "Felling roadside protection forest without approval",
        f"{_HL}第四十二条第二款；{_RG}第二十六条",
        f"{_RG}第六十一条：“未经批准更新采伐护路林的，由公路管理机构责令补种，没收违法所得，并处采伐林木价值3倍以上5倍以下的罚款”",
        ("更新采伐护路林", "采伐护路林", "砍伐护路林", "砍伐行道树", "擅自砍伐、更新采伐公路用地上的树木"),
        penalty_article=f"{_RG}第六十一条",
        note="仅限未经批准更新采伐护路林；其他破坏公路、公路用地范围内绿化物的行为，登记为「其他」并写明所依据的法律条款",
    ),
    ViolationType(
        "over_limit",
        "车辆超限行驶",
        "Over-limit vehicle (dimensions, axle load or gross mass)",
        f"{_HL}第五十条；{_RG}第三十三条",
        f"{_HL}第七十六条第（五）项：“在公路上擅自超限行驶的”，“由交通主管部门责令停止违法行为，可以处三万元以下的罚款”；"
        f"{_RG}第六十四条：“由公路管理机构责令改正，可以处3万元以下的罚款”",
        ("超限", "超限运输", "超限行驶", "车辆超限", "超限车辆"),
        penalty_article=f"{_HL}第七十六条第（五）项；{_RG}第六十四条",
        note="超限指外廓尺寸、轴荷或者总质量超过限定标准；超过核定载质量的「超载」由公安机关交通管理部门处理",
    ),
    ViolationType(
        "other",
        "其他",
        "Other (state the legal basis)",
        "（由执法人员写明）",
        "（由执法人员写明）",
        ("其它", "毁坏行道树", "破坏绿化", "毁坏绿化物", "破坏绿化物"),
        needs_basis=True,
        note="须写明所依据的法律条款",
    ),
)

BY_CODE: dict[str, ViolationType] = {v.code: v for v in CATALOG}

#: One colour per violation type (``ViolationType.color``), distinct from each other and from the roads' colours.
TYPE_COLORS: dict[str, str] = {
    "materials": "#e6550d",
    "stall": "#3182bd",
    "dumping": "#8c6d31",
    "digging": "#636363",
    "building": "#d62728",
    "trees": "#31a354",
    "over_limit": "#9467bd",
    "other": "#17becf",
}
#: A type the catalog does not know (an old record's code).
OTHER_COLOR = "#7f7f7f"
assert set(TYPE_COLORS) == set(BY_CODE)


def rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an (r, g, b) tuple."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def kml_color(color: str, alpha: str = "ff") -> str:
    """``#rrggbb`` as KML writes colours: ``aabbggrr``."""
    return f"{alpha}{color[5:7]}{color[3:5]}{color[1:3]}".lower()


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
