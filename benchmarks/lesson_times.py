"""Time every lesson in full (or quick) mode, each in a fresh process: wall time, CPU time and peak RSS.

    python benchmarks/lesson_times.py                    # every lesson but 13, 14 and 16, full mode
    python benchmarks/lesson_times.py 03 07 --quick      # some lessons, quick mode

Writes ``benchmarks/lesson_times.json`` (``{lesson: {mode, wall_s, cpu_s, peak_rss_mb, load_before}}`` plus the
machine). CPU time (user + system of the lesson and its worker processes) depends far less on other jobs than
the wall time does: on a shared machine, read it as "the wall time on an idle one" for lessons that run on one
core (lessons train with one thread; simulations use worker processes, whose CPU time is added). Lessons 13, 14
and 16 simulate for many minutes and record their times in their own ``results.json`` (see
``benchmarks/lesson_results.py``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECORD = HERE / "lesson_times.json"
LONG = ("13", "14", "16")


def time_lesson(path: Path, quick: bool) -> dict:
    """Run one lesson in a child process; its wall time, CPU time and peak RSS (of the lesson process; CPU time
    includes the worker processes it waited for)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, str(path), "--output", folder] + (["--quick"] if quick else [])
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
        _, status, usage = os.wait4(child.pid, 0)   # this child's own resource usage (kB RSS on Linux)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{path.name} failed with exit status {child.returncode}")
    wall = time.perf_counter() - start
    return {"mode": "quick" if quick else "full", "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "load_before": round(load, 1)}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from lessons.__main__ import lessons

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all but 13, 14, 16)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    available = lessons()
    chosen = args.lessons or [name[:2] for name in available if name[:2] not in LONG]
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    for number in chosen:
        name = next(n for n in available if n.startswith(number))
        result = time_lesson(available[name], args.quick)
        record[name] = {**result, "date": datetime.date.today().isoformat()}
        print(name, result, flush=True)
        RECORD.write_text(json.dumps({**record, "machine": f"{platform.machine()}, {os.cpu_count()} cores"},
                                     indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
