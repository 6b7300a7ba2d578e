"""Lesson runner.

    python -m lessons                 # list the lessons
    python -m lessons run 7           # run lesson 07 (full mode)
    python -m lessons run 7 --quick   # small sizes, seconds
    python -m lessons run all --quick
    python -m lessons flagship        # the whole practical in one command (README's first command)
    python -m lessons notebooks -o workshop/ [--execute] [--quick]   # the lessons as Jupyter notebooks
    python -m lessons html -o site/ [--quick]                       # executed, as browsable HTML pages

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


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def notebook(path: Path):
    """Lesson ``path`` (a jupytext percent script) as an ``nbformat`` notebook with a kernelspec."""
    import jupytext

    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)  # a plain notebook for learners, not paired with the script
    return nb


def execute(nb, folder: Path, quick: bool, output: Path | None = None, timeout: int = 1800):
    """Run every cell of ``nb`` in a fresh kernel started in ``folder`` (stops at the first cell error).

    Quick mode and the figure folder reach the lesson through ``LESSONS_QUICK`` / ``LESSONS_OUTPUT``."""
    import os

    from nbclient import NotebookClient

    saved = {k: os.environ.get(k) for k in ("LESSONS_QUICK", "LESSONS_OUTPUT")}
    os.environ["LESSONS_QUICK"] = "1" if quick else "0"
    if output is not None:
        os.environ["LESSONS_OUTPUT"] = str(output)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=KERNELSPEC["name"],
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def write_notebooks(folder: Path, keys: list[str], run_them: bool, quick: bool) -> list[Path]:
    """Write ``NN_name.ipynb`` for each lesson into ``folder`` (executed if ``run_them``)."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key in keys:
        for path in resolve(key):
            nb = notebook(path)
            if run_them:
                start = time.perf_counter()
                execute(nb, folder, quick)
                print(f"executed {path.stem} in {time.perf_counter() - start:.0f} s")
            target = folder / f"{path.stem}.ipynb"
            nbformat.write(nb, target)
            written.append(target)
            print(f"wrote {target}")
    return written


def write_html(folder: Path, keys: list[str], quick: bool) -> list[Path]:
    """Execute each lesson as a notebook and write it as a self-contained HTML page (figures embedded),
    plus ``index.html`` linking them: the lessons to browse without Jupyter."""
    import html

    from nbconvert import HTMLExporter

    folder.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    pages = []
    for key in keys:
        for path in resolve(key):
            start = time.perf_counter()
            nb = execute(notebook(path), folder, quick)
            body, _ = exporter.from_notebook_node(nb)
            target = folder / f"{path.stem}.html"
            target.write_text(body, encoding="utf-8")
            pages.append(target)
            print(f"wrote {target} ({time.perf_counter() - start:.0f} s)")
    items = "\n".join(f'<li><a href="{p.name}">{html.escape(title(HERE / (p.stem + ".py")))}</a></li>' for p in pages)
    index = folder / "index.html"
    index.write_text(f"<!doctype html><meta charset='utf-8'><title>Lessons</title>"
                     f"<h1>Deep learning for population genomics — lessons</h1>"
                     f"<p>{'Quick mode (small sizes).' if quick else 'Full mode.'}</p><ol>{items}</ol>\n",
                     encoding="utf-8")
    print(f"wrote {index}")
    return [index, *pages]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="list the lessons")
    p_run = sub.add_parser("run", help="run one lesson (number or name) or 'all'")
    p_run.add_argument("lesson")
    sub.add_parser("flagship", help="run the flagship practical on its built-in defaults")
    p_nb = sub.add_parser("notebooks", help="write the lessons as Jupyter notebooks (.ipynb) for a workshop")
    p_nb.add_argument("lessons", nargs="*", default=["all"], help="lesson numbers or names (default: all)")
    p_nb.add_argument("-o", "--output", default="notebooks", help="folder for the .ipynb files")
    p_nb.add_argument("--execute", action="store_true", help="run each notebook so it opens with its outputs")
    p_nb.add_argument("--quick", action="store_true", help="with --execute: small sizes (seconds per lesson)")
    p_html = sub.add_parser("html", help="the lessons, executed, as browsable HTML pages (needs nbconvert)")
    p_html.add_argument("lessons", nargs="*", default=["all"], help="lesson numbers or names (default: all)")
    p_html.add_argument("-o", "--output", default="lessons_html", help="folder for the pages")
    p_html.add_argument("--quick", action="store_true", help="small sizes (seconds per lesson)")
    args, extra = parser.parse_known_args(argv)

    if args.command == "html":
        write_html(Path(args.output), args.lessons, args.quick)
        return 0
    if args.command == "notebooks":
        write_notebooks(Path(args.output), args.lessons, args.execute, args.quick)
        return 0
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
