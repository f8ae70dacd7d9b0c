"""``patrol map`` end to end (a subprocess against a copy of the demo store): one standalone HTML
file that loads nothing from outside."""

from __future__ import annotations

import datetime as dt
import re

from gis.mapassets import external_references
from patrol_app.services.mapdata import MapFilter, incident_count
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import read_session

WRITTEN = re.compile(r"已写入 (.+)：(\d+) 起问题（(.*)）")


def count(store, **kw) -> int:
    with read_session(store.url) as s:
        return incident_count(s, cli_actor(s), MapFilter(**kw))


def test_patrol_map_writes_one_offline_file(store, run_patrol, tmp_path):
    out = tmp_path / "shared" / "问题地图.html"
    year = dt.date.today().year - 1  # the demo's last whole year
    p = run_patrol(["map", "--year", str(year), "--out", out], store.env)
    assert p.returncode == 0, p.stderr
    m = WRITTEN.search(p.stdout)
    assert m and m.group(1) == str(out) and m.group(3) == f"{year}-01-01 至 {year}-12-31"
    assert int(m.group(2)) == count(store, date_from=dt.date(year, 1, 1), date_to=dt.date(year, 12, 31)) > 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert external_references(html) == []  # every script and stylesheet inlined
    assert not re.search(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*[\"']https?://", html)
    assert "L.tileLayer(" not in html  # default basemap: none
    assert "L.markerClusterGroup(" in html and "L.heatLayer(" in html
    assert f'"n":{m.group(2)},' in html
    assert not list(out.parent.glob("*.part"))


def test_patrol_map_filters_and_bad_values(store, tmp_path, capsys):
    """The same verb in-process (the subprocess above already covers the real command)."""
    from patrol_app.cli import main

    def run(*args):
        code = main(["map", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run(
        "--type",
        "堆放物品",
        "--type",
        "building",
        "--road",
        "x1,X002",
        "--status",
        "已办结",
        "--color-by",
        "status",
        "--out",
        tmp_path / "a.html",
        "--lang",
        "en",
    )
    assert code == 0
    n = count(store, types=("materials", "building"), roads=("X001", "X002"), statuses=("closed",))
    assert f"{n} incidents" in out and "Roads: X001、X002" in out and "Status: Closed" in out
    assert '"colorBy":"s"' in (tmp_path / "a.html").read_text(encoding="utf-8")
    code, out, _ = run(
        "--from",
        "2000-01-01",
        "--to",
        "2000-12-31",
        "--town",
        "越州",
        "--basemap",
        "amap",
        "--out",
        tmp_path / "b.html",
    )
    assert code == 0 and "0 起问题" in out and "乡镇（街道）：越州镇" in out
    assert "autonavi.com" in (tmp_path / "b.html").read_text(encoding="utf-8")  # the basemap asked for
    for args, text in (
        (("--type", "超载"), "超载"),
        (("--road", "X999"), "X999"),
        (("--town", "北京"), "北京"),
        (("--from", "2025-02-01", "--to", "2025-01-01"), "2025-02-01"),
        (
            (
                "--from",
                "2025-13-01",
            ),
            "2025-13-01",
        ),
    ):
        code, _, err = run(*args, "--out", tmp_path / "c.html")
        assert code == 2 and text in err, (args, code, err)
    code, _, err = run("--basemap", "tianditu", "--out", tmp_path / "c.html")
    assert code == 1 and "PATROL_TIANDITU_KEY" in err
    assert not (tmp_path / "c.html").exists()


def test_patrol_map_does_not_load_folium(store, tmp_path):
    """The file is written from the scripts' templates directly: folium and its hundred-odd templates (a third
    of the command's time) stay unloaded, and the file still holds roads, legends, title and switcher."""
    import subprocess
    import sys

    out = tmp_path / "m.html"
    code = (
        "import sys; from patrol_app.cli import main; "
        f"rc = main(['map', '--out', {str(out)!r}]); "
        "print('LOADED', sorted(m for m in ('folium', 'branca', 'streamlit') if m in sys.modules)); sys.exit(rc)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=store.env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert "LOADED []" in p.stdout, p.stdout
    html = out.read_text(encoding="utf-8")
    assert "patrol-title" in html and "L.control.layers(" in html and "patrol-legend" in html
