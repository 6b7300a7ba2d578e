"""Figures for genotype images (the model drawings themselves are ``Scenario.draw``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["plot_image"]


def plot_image(
    image: np.ndarray,
    populations: Sequence | None = None,
    path: str | Path | None = None,
    channel: int = 0,
    title: str | None = None,
    ax=None,
):
    """Show one channel of a genotype image ``(rows, n_snps, channels)`` as a heat map.

    Rows are haplotypes (or individuals), columns SNPs. With ``populations`` (one label per row, as in
    the image, i.e. already grouped), a line separates the population blocks and each block is labelled.
    Saves to ``path`` if given; returns the matplotlib ``Axes``.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (rows, n_snps, channels); got shape {image.shape}")
    if not 0 <= channel < image.shape[2]:
        raise ValueError(f"channel={channel} is out of range; expected 0..{image.shape[2] - 1}")
    own_figure = ax is None
    if own_figure and path is not None:
        from matplotlib.figure import Figure  # a figure for a file only: no pyplot, no backend, no screen

        ax = Figure(figsize=(7, 4)).subplots()
    elif own_figure:
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(7, 4))[1]
    values = image[:, :, channel]
    # Genotype channels are centred on 0 (missing/padding), so a diverging colour map shows the sign.
    limit = float(np.abs(values).max()) or 1.0
    ax.imshow(values, aspect="auto", interpolation="nearest", cmap="coolwarm" if values.min() < 0 else "Greys",
              vmin=-limit if values.min() < 0 else 0, vmax=limit)
    ax.set_xlabel("SNP")
    ax.set_ylabel("haplotype" if populations is None or len(populations) == image.shape[0] else "row")
    if populations is not None:
        populations = np.asarray(populations)
        if populations.shape != (image.shape[0],):
            raise ValueError(f"populations must give one label per row, shape ({image.shape[0]},); got {populations.shape}")
        boundaries = np.flatnonzero(populations[1:] != populations[:-1]) + 1
        for boundary in boundaries:
            ax.axhline(boundary - 0.5, color="black", linewidth=1)
        starts = np.concatenate([[0], boundaries])
        ends = np.concatenate([boundaries, [len(populations)]])
        ax.set_yticks((starts + ends - 1) / 2, [str(populations[s]) for s in starts])
    if title:
        ax.set_title(title)
    if path is not None:
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    return ax
