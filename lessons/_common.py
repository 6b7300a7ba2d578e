"""Shared plumbing for the lessons: command-line settings, output folder, figure saving, timing.

Every lesson starts with::

    from lessons._common import setup
    settings = setup("07_playground")      # parses --quick, --output, --seed

so it runs the same way as ``python lessons/07_playground.py --quick``, through
``python -m lessons run 7 --quick``, or cell by cell in Jupyter (where the defaults apply; ``LESSONS_QUICK=1``
in the environment selects quick mode there).

Figures: :func:`savefig` always writes the PNG into the lesson's output folder; in a Jupyter kernel it also
shows the figure in the cell that made it (as a script, nothing is shown and no screen is needed).
Figures that a library function writes to a file itself are shown with :func:`show_file`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib


def in_notebook() -> bool:
    """True when running inside a Jupyter (IPython) kernel, where figures can be shown inline."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and hasattr(shell, "kernel")


if not in_notebook():
    matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))  # no screen needed; figures go to files
import matplotlib.pyplot as plt  # noqa: E402


@dataclass
class Settings:
    """What a lesson needs to know about how it is run."""

    name: str
    quick: bool  # small sizes for CI and a first look; full mode is what a learner runs
    output: Path  # where figures (and cached datasets) go
    seed: int
    started: float

    def figure_path(self, filename: str) -> Path:
        return self.output / filename

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def setup(name: str, argv=None) -> Settings:
    """Parse ``--quick``, ``--output DIR`` and ``--seed N`` (unknown arguments, e.g. Jupyter's, are ignored)."""
    parser = argparse.ArgumentParser(prog=f"lessons/{name}.py", add_help=True)
    parser.add_argument("--quick", action="store_true", help="small sizes: runs in seconds (used by the tests)")
    parser.add_argument("--output", default=None, help="folder for figures (default: lessons_output/NAME)")
    parser.add_argument("--seed", type=int, default=2026, help="master random seed (default 2026)")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    quick = args.quick or os.environ.get("LESSONS_QUICK") == "1"
    output = Path(args.output or os.environ.get("LESSONS_OUTPUT", "lessons_output")) / name
    if args.output:
        output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    # Lessons train small networks: thread start-up and synchronisation cost more than a second core
    # gains, and two thread pools (numba + BLAS) fight each other on a busy 2-core laptop. One thread
    # each is faster and predictable; LESSONS_THREADS=2 changes it. Simulations use worker processes.
    from minidl.threads import set_num_threads

    set_num_threads(int(os.environ.get("LESSONS_THREADS", "1")))
    return Settings(name=name, quick=quick, output=output, seed=args.seed, started=time.perf_counter())


def savefig(fig, settings: Settings, filename: str) -> None:
    """Save ``fig`` into the lesson's output folder (and show it, in a notebook), close it, say where it went.

    Returns nothing, so that a cell ending with it shows the figure and not an ``Out[...]`` path."""
    path = settings.figure_path(filename)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path)))  # exactly the saved picture, once
    plt.close(fig)
    print(f"  figure saved: {path}")


def show_file(path) -> None:
    """Show a PNG that something else wrote (in a notebook; as a script, just say where it is)."""
    path = Path(path)
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    print(f"  figure saved: {path}")
