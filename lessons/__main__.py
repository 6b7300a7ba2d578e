"""Lesson runner.

    python -m lessons                 # list the lessons
    python -m lessons run 7           # run lesson 07 (full mode)
    python -m lessons run 7 --quick   # small sizes, seconds
    python -m lessons run all --quick
    python -m lessons flagship        # the whole practical in one command (README's first command)

Figures go to ``lessons_output/<lesson>/`` (change with ``--output``).
"""

from __future__ import annotations

import argparse
import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: the lesson the README's first command runs; it becomes 14_flagship once that lesson exists
FLAGSHIP_CANDIDATES = ["14_flagship", "07_playground"]


def lessons() -> dict[str, Path]:
    """``{"07_playground": path, ...}`` for every numbered lesson file, in order."""
    return {p.stem: p for p in sorted(HERE.glob("[0-9][0-9]_*.py"))}


def title(path: Path) -> str:
    """The lesson's title: the first Markdown heading in the file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("# ").strip()
        if line.startswith("# #") and text:
            return text
    return path.stem


def resolve(key: str) -> list[Path]:
    """Lesson paths for ``"all"``, a number (``"7"``, ``"07"``) or a name (``"07_playground"``)."""
    available = lessons()
    if key == "all":
        return list(available.values())
    for stem, path in available.items():
        if key == stem or (key.isdigit() and int(stem[:2]) == int(key)):
            return [path]
    raise SystemExit(f"No lesson {key!r}; run 'python -m lessons' to list them "
                     f"({', '.join(s[:2] for s in available)})")


def run(path: Path, extra_args: list[str]) -> float:
    """Run one lesson file as ``__main__`` with ``extra_args``; return the time it took in seconds."""
    print(f"\n=== {path.stem}: {title(path)} ===")
    start = time.perf_counter()
    saved_argv = sys.argv
    sys.argv = [str(path), *extra_args]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved_argv
    seconds = time.perf_counter() - start
    print(f"=== {path.stem} finished in {seconds:.1f} s ===")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="list the lessons")
    p_run = sub.add_parser("run", help="run one lesson (number or name) or 'all'")
    p_run.add_argument("lesson")
    sub.add_parser("flagship", help="run the flagship practical on its built-in defaults")
    args, extra = parser.parse_known_args(argv)

    if args.command in (None, "list"):
        for stem, path in lessons().items():
            heading = title(path)
            print(f"{heading if heading.startswith(stem[:2]) else stem[:2] + '  ' + heading}   (lessons/{path.name})")
        return 0
    if args.command == "flagship":
        available = lessons()
        stem = next(s for s in FLAGSHIP_CANDIDATES if s in available)
        run(available[stem], extra)
        return 0
    times = {path.stem: run(path, extra) for path in resolve(args.lesson)}
    if len(times) > 1:
        print("\nTimes: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
