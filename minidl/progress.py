"""Progress bars for long work (training epochs, simulations): tqdm, chosen to fit where the code runs.

In Jupyter with ``ipywidgets`` installed, tqdm's widget bar; everywhere else — a terminal, a script, or a
notebook without widgets — its text bar, so that no "IProgress not found" warning lands in a lesson.
"""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(*args, **kwargs):
    """``tqdm(*args, **kwargs)`` with the right front end (arguments as ``tqdm.tqdm``)."""
    try:
        import ipywidgets  # noqa: F401  (tqdm.auto needs it for the notebook bar)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
