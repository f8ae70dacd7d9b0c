"""Every law article the app cites exists in the law texts, and every phrase quoted from the law in “…” is the
law's own words (issue 12). The texts checked: the zh_CN catalogs, the violation catalog, the zone verdicts' bases.

The law texts are public; a copy lives in ``patrol_app/data/laws/`` (from ``shared/domain/laws/``), so that this test runs
wherever the repository is cloned. Convention in the catalogs: “…” quotes the law, 「…」 quotes anything else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gis import zones
from patrol_app.domain.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]
LAWS = ROOT / "patrol_app" / "data" / "laws"
SHARED = ROOT.parent / "shared" / "domain" / "laws"

FILES = {
    "中华人民共和国公路法": "highway-law-2017.zh.md",
    "公路法": "highway-law-2017.zh.md",
    "公路安全保护条例": "highway-safety-protection-regulations-2011.zh.md",
    "中华人民共和国行政处罚法": "administrative-penalty-law-2021.zh.md",
    "行政处罚法": "administrative-penalty-law-2021.zh.md",
    "中华人民共和国道路交通安全法": "road-traffic-safety-law-2021.zh.md",
    "道路交通安全法": "road-traffic-safety-law-2021.zh.md",
}
NUM = "零一二三四五六七八九十百"
ARTICLE = re.compile(rf"第([{NUM}]+)条(?:第([{NUM}]+)款)?(?:第[（(]([{NUM}]+)[）)]项)?")
LAW = re.compile(r"《([^》]+)》")
QUOTE = re.compile(r"“([^”]*)”")


def parse_law(path: Path) -> dict[str, list[str]]:
    """Article number (Chinese numerals) → its paragraphs (款)."""
    articles: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"^第([{NUM}]+)条\s*(.*)$", line)
        if m:
            current = m.group(1)
            articles[current] = [m.group(2)]
        elif current and line.startswith("#"):
            current = None
        elif current and line.strip():
            articles[current].append(line.strip())
    return articles


def _paragraphs(paras: list[str]) -> list[str]:
    """Items (（一）…) belong to the paragraph before them."""
    out: list[str] = []
    for p in paras:
        if re.match(rf"^[（(][{NUM}]+[）)]", p) and out:
            out[-1] += p
        else:
            out.append(p)
    return out


LAW_TEXTS = {name: parse_law(LAWS / f) for name, f in FILES.items()}


def texts_to_check() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "patrol_app" / "i18n").glob("*zh_CN.json")):
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            out.append((f"{path.name}:{key}", text))
    for v in CATALOG:
        for attr in ("legal_basis", "penalty", "penalty_article", "note"):
            out.append((f"catalog:{v.code}.{attr}", getattr(v, attr)))
    for name in ("LEGAL_BASIS_ZONE", "LEGAL_BASIS_ROAD_LAND", "LEGAL_BASIS_VILLAGE"):
        out.append((f"gis.zones:{name}", getattr(zones, name)))
    return out


def citations(text: str) -> tuple[list[tuple[str, str, str | None, str | None]], list[str]]:
    """(law, article, paragraph, item) cited in ``text`` — a bare 第X条 refers to the law named last — and the
    laws named without a copy here (their articles cannot be verified)."""
    cited, unknown = [], []
    law = None
    events = sorted(
        [(m.start(), "law", m) for m in LAW.finditer(text)]
        + [(m.start(), "art", m) for m in ARTICLE.finditer(text)],
        key=lambda e: e[0],
    )
    for _, kind, m in events:
        if kind == "law":
            law = m.group(1)
            if law not in FILES:
                unknown.append(law)
        elif law is None:
            cited.append(("?", m.group(1), m.group(2), m.group(3)))
        else:
            cited.append((law, m.group(1), m.group(2), m.group(3)))

    return cited, unknown


def _num(cn: str) -> int:
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")}
    total, cur = 0, 0
    for ch in cn:
        if ch == "百":
            total += (cur or 1) * 100
            cur = 0
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        else:
            cur = digits[ch]
    return total + cur


def test_the_law_copies_are_the_shared_texts():
    assert sorted(p.name for p in LAWS.glob("*.md")) == sorted(set(FILES.values()))
    if SHARED.is_dir():  # next to the repository (the lead's checkout and CI): the copy is unchanged
        for p in LAWS.glob("*.md"):
            assert p.read_bytes() == (SHARED / p.name).read_bytes(), p.name


def test_parser_reads_known_articles():
    hl = LAW_TEXTS["公路法"]
    assert hl["四十四"][0] == "任何单位和个人不得擅自占用、挖掘公路。"
    assert len(_paragraphs(hl["四十二"])) == 2 and len(_paragraphs(LAW_TEXTS["行政处罚法"]["五十七"])) == 2
    assert citations("《公路法》第七十六条第（一）项、第八十一条") == (
        [("公路法", "七十六", None, "一"), ("公路法", "八十一", None, None)],
        [],
    )


CHECKED = texts_to_check()


@pytest.mark.parametrize("where, text", CHECKED, ids=[w for w, _ in CHECKED])
def test_every_cited_article_exists_with_the_quoted_words(where, text):
    cited, unknown = citations(text)
    arts = [c for c in cited if c[0] != "?"]
    assert len(arts) == len(cited), f"{where}: an article cited without naming its law: {text}"
    assert not [c for c in arts if c[0] in unknown], (
        f"{where}: cites an article of a law not held here: {text}"
    )
    sources = []
    for law, art, para, item in arts:
        articles = LAW_TEXTS[law]
        assert art in articles, f"{where}: {law} has no 第{art}条"
        paras = _paragraphs(articles[art])
        if para:
            assert _num(para) <= len(paras), f"{where}: {law} 第{art}条 has no 第{para}款"
        if item:
            assert any(f"（{item}）" in p or f"({item})" in p for p in paras), f"{where}: no 第（{item}）项"
        sources.append("".join(articles[art]))
    for quote in QUOTE.findall(text):
        if "{" in quote or not quote:
            continue  # a template: filled from checked catalog values
        assert sources, f"{where}: quotes “{quote}” without citing an article"
        words = quote.rstrip("。")
        assert any(words in s for s in sources), f"{where}: “{quote}” is not in the articles cited"


def test_a_wrong_citation_or_quote_is_caught():
    """The check itself can fail."""
    bad = [
        "《中华人民共和国公路法》第九十九条",
        "《公路安全保护条例》第十一条第五款",
        "《中华人民共和国公路法》第七十七条：“责令限期拆除”",
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            test_every_cited_article_exists_with_the_quoted_words("test", text)


def test_patrol_texts_never_cite_article_42():
    """行政处罚法 第四十二条 governs who carries out a penalty, not who patrols."""
    for where, text in CHECKED:
        if "第四十二条" in text and "行政处罚法" in text:
            assert ".case." in f".{where.split(':')[1]}" or where.split(":")[1].startswith("case."), where
