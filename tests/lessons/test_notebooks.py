"""Every lesson runs as a Jupyter notebook (jupytext → nbclient, quick mode) and shows each figure it saves.

The notebook must execute without a cell error, carry a kernelspec, and contain one inline image per PNG
the lesson wrote — a figure that is only saved to a file is invisible to a learner in Jupyter.
"""

import nbformat
import pytest

from lessons.__main__ import KERNELSPEC, execute, lessons, notebook

LESSONS = lessons()


def image_outputs(nb) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", []))


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_lesson_runs_as_a_notebook_and_shows_every_saved_figure(name, tmp_path):
    nb = notebook(LESSONS[name])
    assert nb.metadata["kernelspec"] == KERNELSPEC
    executed = execute(nb, tmp_path, quick=True, output=tmp_path / "figures", timeout=600)
    saved = sorted((tmp_path / "figures" / name).glob("*.png"))
    assert saved, f"{name} saved no figure"
    assert image_outputs(executed) == len(saved), [p.name for p in saved]
    nbformat.validate(executed)


def test_html_pages_embed_the_figures_and_an_index_links_them(tmp_path):
    from lessons.__main__ import write_html

    index, page = write_html(tmp_path, ["03"], quick=True)
    text = page.read_text(encoding="utf-8")
    saved = sorted((tmp_path / "lessons_output" / "03_neuron_forward").glob("*.png"))
    assert saved and text.count('src="data:image/png;base64') == len(saved)
    assert "IProgress not found" not in text and "Traceback" not in text
    assert f'href="{page.name}"' in index.read_text(encoding="utf-8")
