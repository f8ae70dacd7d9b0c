"""``patrol`` as an installed package: the wheel holds every file the code reads, it runs from any directory,
``patrol info`` / ``--version`` say what and where, and every help text is in the user's language."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from patrol_app import __version__
from patrol_app.cli import ARGPARSE_TEXT, build_parser, help_lang
from patrol_app.i18n import catalog

ROOT = Path(__file__).resolve().parents[2]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PATROL_DATA_DIR", "PATROL_DB_URL", "PATROL_LANG", "XDG_DATA_HOME")
        and not k.startswith("PATROL_AUDIT_KEY")
    }
    env.update(PYTHONIOENCODING="utf-8", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def test_wheel_installed_outside_the_checkout_runs_info_demo_map_and_serve(tmp_path):
    """One expensive test: build the wheel, install it (no dependencies: they come from this venv through a .pth
    file) into a fresh venv, and from another directory run ``patrol info``, ``demo``, ``map`` and ``serve``."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("patrol_app", "gis"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        capture_output=True,
        env=_clean_env(),
    )
    (wheel,) = dist.glob("patrol_log-*.whl")
    assert wheel.name.startswith(f"patrol_log-{__version__}-")

    # every file of the two packages is in the wheel (code, page assets, data, catalogs, migrations, components)
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    wanted = {
        p.relative_to(src).as_posix()
        for pkg in ("patrol_app", "gis")
        for p in (src / pkg).rglob("*")
        if p.is_file()
    }
    assert sorted(wanted - shipped) == []

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        env=_clean_env(),
    )
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # the dependencies: this venv's site-packages, after the new venv's own (so patrol_app is the wheel's)
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    patrol = str(venv / "bin" / "patrol")
    env = _clean_env(HOME=str(home), PATROL_LANG="en")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [patrol, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )

    where = subprocess.run(
        [str(py), "-c", "import patrol_app; print(patrol_app.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site)

    assert run("--version").stdout.strip() == f"patrol {__version__}"
    info = json.loads(run("info", "--json").stdout)
    store = (
        home / ".local" / "share" / "patrol"
    )  # the default: $XDG_DATA_HOME/patrol, not the current directory
    assert info["data_dir"] == str(store) and info["data_dir_source"] == "default"
    assert info["photo_dir"] == str(store / "photos") and info["version"] == __version__
    assert info["db_url"] == f"sqlite:///{store / 'patrol.db'}"

    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert (store / "patrol.db").is_file() and not list(elsewhere.iterdir())
    out = run("map", "--from", "2000年1月1日", "--out", "map.html")
    assert out.returncode == 0, out.stderr
    # the map's access is audited: the audit key lives beside the store, not in the current directory
    assert sorted(p.name for p in elsewhere.iterdir()) == ["map.html"]
    assert (store / "audit.key").is_file()
    html = (elsewhere / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in html and "/app/static/" not in html  # Leaflet inlined from the installed package

    port = _free_port()
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [patrol, "serve", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if _get(f"http://127.0.0.1:{port}/_stcore/health")[1] == b"ok":
                    break
            except OSError:
                pass
            assert time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        status, body = _get(f"http://127.0.0.1:{port}/app/static/leaflet/leaflet.js")
        assert (
            status == 200 and body == (ROOT / "patrol_app" / "static" / "leaflet" / "leaflet.js").read_bytes()
        )
        assert _get(f"http://127.0.0.1:{port}/field/")[0] == 200
        assert _get(f"http://127.0.0.1:{port}/readyz")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_info_names_the_store_without_the_password(tmp_path):
    env = _clean_env(
        PATROL_DATA_DIR=str(tmp_path),
        PATROL_DB_URL="postgresql+psycopg://patrol:s3cret@db/patrol",
        PYTHONPATH=str(ROOT),
    )
    out = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "info"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "s3cret" not in out and "postgresql+psycopg://patrol:***@db/patrol" in out
    assert str(tmp_path) in out and "由 PATROL_DATA_DIR 指定" in out and "照片目录" in out


def test_default_store_follows_xdg_data_home(tmp_path, monkeypatch):
    from patrol_app.config import get_settings

    monkeypatch.delenv("PATROL_DATA_DIR", raising=False)
    monkeypatch.delenv("PATROL_DB_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert get_settings().data_dir == tmp_path / "xdg" / "patrol"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: relative paths are invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_settings().data_dir == tmp_path / "home" / ".local" / "share" / "patrol"


def test_postgres_driver_missing_is_one_clear_line(tmp_path):
    """psycopg is the ``postgres`` extra; a URL naming a driver that is not installed says what to install."""
    env = _clean_env(
        PATROL_DATA_DIR=str(tmp_path),
        PATROL_DB_URL="postgresql+pg8000://u@localhost/x",
        PYTHONPATH=str(ROOT),
        PATROL_LANG="en",
    )
    p = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "roads", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 1
    assert p.stderr.strip() == (
        "the database driver pg8000 is not installed: PostgreSQL needs patrol-log[postgres] "
        "(pip install 'patrol-log[postgres]')"
    )


def _parsers(parser: argparse.ArgumentParser, path: str = "patrol"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_help_text_comes_from_the_catalog(lang):
    texts = set(catalog(lang).values())
    missing = []
    for path, parser in _parsers(build_parser(lang)):
        if parser.description and parser.description not in texts:
            missing.append(f"{path}: description")
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or (
                isinstance(action, argparse._SubParsersAction) and not action.help
            ):
                continue
            if action.help is None or action.help not in texts:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}: {action.help!r}")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.help not in texts:
                        missing.append(f"{path} {choice.dest}: {choice.help!r}")
    assert missing == []


def test_help_in_chinese_by_default_and_english_on_request():
    env = _clean_env(PYTHONPATH=str(ROOT))
    zh = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "locate", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert zh.startswith("用法：patrol locate") and "显示本帮助并退出" in zh and "距路线最远多少米" in zh
    assert "usage" not in zh and "show this help" not in zh
    en = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "locate", "--help", "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert en.startswith("usage: patrol locate") and "how far from a road" in en
    en2 = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "--help"],
        env={**env, "PATROL_LANG": "en"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "show the version and exit" in en2
    bad = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "report", "--from", "2021-02-30"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "错误：参数 --from：无法识别的日期「2021-02-30」" in bad.stderr


def test_help_language_from_argv_or_environment(monkeypatch):
    monkeypatch.setenv("PATROL_LANG", "en")
    assert help_lang(["map", "--help"]) == "en"
    assert help_lang(["--lang", "zh", "map"]) == "zh"
    assert help_lang(["map", "--lang=zh"]) == "zh"
    monkeypatch.delenv("PATROL_LANG")
    assert help_lang(["map", "--lang", "fr"]) == "zh"


def test_argparse_still_says_the_words_we_translate():
    """Each message argparse is asked to translate is still one of its messages (else it would stay English)."""
    source = inspect.getsource(argparse)
    for msgid in ARGPARSE_TEXT:
        assert repr(msgid)[1:-1] in source or msgid.replace("\n", "\\n") in source, msgid


def test_every_help_key_in_the_code_exists():
    keys = set(catalog("zh"))
    used = set()
    for name in (
        "cli.py",
        "maps_cli.py",
        "reports/cli.py",
        "documents/cli.py",
        "backup.py",
    ):  # where h = HelpText
        used |= set(
            re.findall(r'\bh\("([a-z_.]+)"', (ROOT / "patrol_app" / name).read_text(encoding="utf-8"))
        )
    assert used and sorted(k for k in used if "help." + k not in keys and not k.endswith(".")) == []


def test_help_imports_nothing_heavy():
    """``patrol --help`` stays fast (< 0.3 s, bench/test_bench_commands.py): building the parser imports no
    database, GIS, document or numeric library."""
    code = (
        "import sys; from patrol_app.cli import build_parser; build_parser('zh'); "
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'pandas', 'shapely', 'docx', 'PIL', 'streamlit', 'folium')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_clean_env(PYTHONPATH=str(ROOT)),
    ).stdout.strip()
    assert out == "[]"
