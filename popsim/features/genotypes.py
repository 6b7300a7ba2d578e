"""Genotype-matrix primitives shared by simulated and real data.

Layout: ``calls`` is ``(sites, haplotypes)`` int8 with 0 = ancestral (or REF), 1 = derived (or ALT) and a
negative value for a missing call (real data only). Simulations and real data must keep the same sites, so
there is one definition of which sites those are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segregating_sites", "population_order"]


def segregating_sites(calls: np.ndarray) -> np.ndarray:
    """``(sites,)`` bool: True where both alleles occur among the non-missing calls of the sample.

    A site where every sampled haplotype carries the same allele (or only one allele is left after
    missing calls) says nothing about the sample's history: simulations drop such sites, and real data are
    filtered the same way (also after subsampling individuals, which can make a site monomorphic).
    ``calls`` may have more than two dimensions (``(sites, ...)``); all but the first are pooled.
    """
    calls = np.asarray(calls)
    flat = calls.reshape(calls.shape[0], int(np.prod(calls.shape[1:])))
    return (flat == 1).any(axis=1) & (flat == 0).any(axis=1)


def population_order(labels) -> list[str]:
    """Population names in order of first appearance, e.g. the population of each haplotype
    ``["A", "A", "B", "B"]`` → ``["A", "B"]`` (the block order of images and the column order of statistics)."""
    return list(dict.fromkeys(str(x) for x in labels))
