"""House rules that keep the logic testable without the UI."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_logic_never_imports_streamlit():
    code = (
        "import sys, gis.crs, gis.roads, gis.linref, gis.zones, gis.stakes, gis.places, gis.maps, "
        "patrol_app.services.records, patrol_app.services.roads, patrol_app.services.audit, patrol_app.demo, "
        "patrol_app.io.ledger, patrol_app.cli, patrol_app.storage.migrate, patrol_app.domain.catalog, "
        "patrol_app.photos, patrol_app.services.field, patrol_app.services.auth, gis.gpx, gis.tracks, "
        "patrol_app.services.tracks, patrol_app.web.api, patrol_app.web.openapi, patrol_app.documents, "
        "patrol_app.documents.cli, patrol_app.domain.numbers; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_no_streamlit_import_outside_ui():
    offenders = []
    for py in list((ROOT / "gis").rglob("*.py")) + list((ROOT / "patrol_app").rglob("*.py")):
        if (
            "ui" in py.relative_to(ROOT).parts or py == ROOT / "patrol_app" / "streamlit_app.py"
        ):  # the pages' script
            continue
        text = py.read_text(encoding="utf-8")
        if "import streamlit" in text or "from streamlit" in text:
            offenders.append(str(py.relative_to(ROOT)))
    assert offenders == []


def test_catalogs_have_the_same_keys_and_placeholders():
    from patrol_app.i18n import catalog

    zh, en = catalog("zh"), catalog("en")
    assert sorted(zh) == sorted(en)
    import string

    def fields(s):
        return sorted({f for _, f, _, _ in string.Formatter().parse(s) if f})

    assert {k: fields(v) for k, v in zh.items()} == {k: fields(v) for k, v in en.items()}


def test_every_catalog_key_used_in_code_exists():
    import re

    from patrol_app.i18n import catalog

    zh = catalog("zh")
    used = set()
    for py in (
        list((ROOT / "gis").rglob("*.py"))
        + list((ROOT / "patrol_app").rglob("*.py"))
        + [ROOT / "streamlit_app.py"]
    ):
        used |= set(
            re.findall(
                r'(?<!\bh\()"((?:error|cli|ui|nav|zone|class|side|where|app|map|report|export|field|auth|admin)\.[a-z_.0-9]+)"',
                py.read_text(encoding="utf-8"),
            )
        )
    assert sorted(k for k in used - set(zh) if not k.endswith(".")) == []  # prefixes are built on


def test_no_public_cdn_in_app_code():
    bad = []
    for py in list((ROOT / "gis").rglob("*.py")) + list((ROOT / "patrol_app").rglob("*.py")):
        if re.search(
            r"cdn\.jsdelivr|cdnjs\.cloudflare|unpkg\.com|code\.jquery", py.read_text(encoding="utf-8")
        ):
            bad.append(py.name)
    assert bad == []


import re  # noqa: E402
