"""Whole commands side by side in one run: this checkout against an older commit, alternating, best and median.

    PYTHONDONTWRITEBYTECODE= .venv/bin/python bench/compare_with_commit.py b2b7676 [rounds]

Builds the 100,000-incident stores of ``bench/test_bench_report.py`` and ``bench/test_bench_map.py`` once (in a
temporary directory, one copy per side: a newer side may migrate its store past what the older one knows),
extracts the commit with ``git archive``, then runs ``patrol report --year 2025 --format json`` and ``patrol map
--year 2025`` from both, alternately, after a warm-up round. Bytecode is cached as in an installed package (run
it with PYTHONDONTWRITEBYTECODE unset or empty). Prints wall and CPU seconds (user + system) of each command.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Dirs:
    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        p = self.base / name
        p.mkdir(parents=True, exist_ok=True)
        return p


def _fixture(f):  # type: ignore[no-untyped-def]
    return f._get_wrapped_function() if hasattr(f, "_get_wrapped_function") else f.__wrapped__


def build_stores(root: Path, base: Path) -> None:
    """The stores, built by ``root``'s own bench fixtures (so at its schema; a newer side migrates its copy in
    the warm-up round)."""
    sys.path.insert(0, str(root))
    import bench.test_bench_map as bench_map
    import bench.test_bench_report as bench_report

    next(_fixture(bench_report.big_store)(_Dirs(base)))
    _fixture(bench_map.store_100k)(_Dirs(base))


def run(root: Path, data: Path, args: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PATROL_DATA_DIR": str(data), "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": ""}
    env.pop("PATROL_DB_URL", None)
    env.pop("PATROL_BASEMAP", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", *args], env=env, cwd=root, capture_output=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(p.stderr.decode()[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    if sys.argv[1] == "--build":
        build_stores(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    commit, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        old = base / "old"
        old.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        stores = base / "stores"
        subprocess.run(
            [sys.executable, __file__, "--build", str(old), str(stores)],
            cwd=old,
            env={**os.environ, "PATROL_DATA_DIR": str(stores / "var")},
            check=True,
        )
        report_dir, map_dir = stores / "report-bench", stores / "map100k"
        sides = {"before": old, "after": ROOT}
        data = {}
        for side in sides:
            for name, d in (("report", report_dir), ("map", map_dir)):
                data[side, name] = shutil.copytree(d, base / side / name)
        commands = {
            "report": ["--user", "manager", "report", "--year", "2025", "--format", "json"],
            "map": ["map", "--year", "2025", "--out", "{out}"],
        }
        for name, args in commands.items():
            times: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
            for r in range(rounds + 1):
                for side, root in sides.items():
                    out = base / side / "map.html"
                    w = run(root, data[side, name], [a.replace("{out}", str(out)) for a in args])
                    if r:  # the first round warms the page cache and the bytecode
                        times[side].append(w)
            for side, ts in times.items():
                walls, cpus = sorted(t[0] for t in ts), sorted(t[1] for t in ts)
                extra = ""
                if name == "map":
                    extra = f"; file {(base / side / 'map.html').stat().st_size / 1e6:.2f} MB"
                print(
                    f"patrol {name:6s} {side:6s}: wall best {walls[0]:.2f} s, median {walls[len(walls) // 2]:.2f} s;"
                    f" cpu best {cpus[0]:.2f} s, median {cpus[len(cpus) // 2]:.2f} s{extra}"
                )


if __name__ == "__main__":
    main()
