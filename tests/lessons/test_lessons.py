"""Every lesson runs in quick mode and produces its figures (non-trivial PNG files)."""

import runpy
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest

from lessons.__main__ import FLAGSHIP_CANDIDATES, lessons, main, title

LESSONS = lessons()


def run_lesson(path, output):
    saved = sys.argv
    sys.argv = [str(path), "--quick", "--output", str(output)]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_lesson_runs_in_quick_mode_and_saves_figures(name, tmp_path):
    run_lesson(LESSONS[name], tmp_path)
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{name} saved no figure"
    for fig in figures:
        image = mpimg.imread(fig)
        assert image.shape[0] > 100 and image.shape[1] > 100, fig
        assert np.std(image) > 0.01, f"{fig} looks blank"


def test_every_lesson_has_a_title_and_a_try_this_section():
    for name, path in LESSONS.items():
        text = path.read_text(encoding="utf-8")
        assert title(path) != name, f"{name} has no '# # Title' markdown heading"
        assert "## Try this" in text, f"{name} has no 'Try this' list"
        assert "# %%" in text, f"{name} is not a jupytext percent script"


def test_flagship_command_points_to_an_existing_lesson():
    assert any(c in LESSONS for c in FLAGSHIP_CANDIDATES)


def test_runner_lists_lessons(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in LESSONS:
        assert name[:2] in out
