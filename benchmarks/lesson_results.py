"""Full-mode headline numbers of the lessons, recorded: run the lessons, keep their ``results.json``.

    python benchmarks/lesson_results.py                 # lesson 14 (the flagship), full mode, seed 2026
    python benchmarks/lesson_results.py 14 --check      # run again and compare with the recorded numbers
    python benchmarks/lesson_results.py 13 16 --output lessons_output   # reuse the lessons' cached simulations

Lessons 13 and 16 simulate for tens of minutes; ``--output DIR`` runs each lesson in ``DIR/<lesson>`` (the
lesson's own default folder is ``lessons_output/<lesson>``), so simulations cached there are reused and a
run interrupted during simulation resumes. Without it each lesson runs in a fresh temporary folder.

Writes ``benchmarks/lesson_results.json``: ``{lesson: {seed, n_per_scenario, n_test, accuracy: {method: value},
...}}`` plus the machine and date. ``tests/lessons/test_full_results.py`` (run explicitly with
``python -m pytest -m full``; it is not part of the default test run, it takes minutes) does the same check.
A lesson's numbers move by a few points when floating-point rounding changes (another kernel, another thread
count: early stopping ends at another epoch; see lesson 14's text), so the check allows ``TOLERANCE``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import runpy
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD = HERE / "lesson_results.json"
TOLERANCE = 0.04  # absolute accuracy: ± 4 points (600 test replicates: binomial s.e. ≈ 1.5 %, plus rounding)
LESSONS = {"13": "13_mosquito_t1", "14": "14_flagship", "16": "16_learning_curve", "17": "17_network_outputs_and_intervals"}


def run(name: str, output: Path) -> dict:
    """Run lesson ``name`` in full mode with its default seed; return its results.json."""
    from lessons.__main__ import lessons

    path = lessons()[name]
    saved = sys.argv
    sys.argv = [str(path), "--output", str(output)]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved
    return json.loads((output / "results.json").read_text())


def differences(recorded: dict, new: dict) -> list[str]:
    """Methods whose accuracy moved by more than TOLERANCE (empty when the lesson still says the same)."""
    out = []
    for method, value in recorded["accuracy"].items():
        got = new["accuracy"].get(method)
        if got is None or abs(got - value) > TOLERANCE:
            out.append(f"{method}: recorded {value:.3f}, now {got}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", default=["14"], choices=sorted(LESSONS), help="lesson numbers (default: 14)")
    parser.add_argument("--output", type=Path, help="run lesson NAME in OUTPUT/NAME, reusing its cached simulations")
    parser.add_argument("--check", action="store_true", help="compare with the record instead of writing it")
    args = parser.parse_args(argv)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    failed = []
    for number in args.lessons:
        name = LESSONS[number]
        if args.output is not None:
            result = run(name, args.output / name)
        else:
            with tempfile.TemporaryDirectory() as folder:
                result = run(name, Path(folder))
        print(json.dumps(result, indent=1))
        if args.check:
            failed += differences(record[name], result)
        else:
            record[name] = {**result, "date": datetime.date.today().isoformat(), "machine": platform.processor()
                            or platform.machine(), "cores": os.cpu_count()}
    if args.check:
        print("\n".join(failed) or f"all within ±{TOLERANCE}")
        return 1 if failed else 0
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
