"""Small 2-D classification problems, generated with NumPy (no download, seeded).

Each function returns ``x`` of shape ``(n, 2)`` float32 and integer labels ``y`` of shape ``(n,)``.
"""

from __future__ import annotations

import numpy as np


def moons(n=400, noise=0.15, rng=None):
    """Two interleaving half circles (not linearly separable)."""
    rng = np.random.default_rng(rng)
    y = np.arange(n) % 2
    t = rng.uniform(0, np.pi, n)
    x = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return (x + rng.normal(0, noise, (n, 2))).astype(np.float32), y


def circles(n=400, noise=0.08, factor=0.5, rng=None):
    """A disc inside a ring: a single neuron cannot separate them, one hidden layer can."""
    rng = np.random.default_rng(rng)
    y = np.arange(n) % 2
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.where(y == 1, factor, 1.0)
    x = np.c_[r * np.cos(t), r * np.sin(t)]
    return (x + rng.normal(0, noise, (n, 2))).astype(np.float32), y


def xor(n=400, noise=0.1, rng=None):
    """Four clusters at the corners; the class is the XOR of the signs."""
    rng = np.random.default_rng(rng)
    corners = rng.integers(0, 2, (n, 2))
    y = corners[:, 0] ^ corners[:, 1]
    x = (corners * 2 - 1) * 0.7 + rng.normal(0, noise * 3, (n, 2))
    return x.astype(np.float32), y


def spiral(n=600, n_classes=3, noise=0.2, rng=None):
    """Interleaved spiral arms (CS231n's classic): needs a few layers."""
    rng = np.random.default_rng(rng)
    y = np.arange(n) % n_classes
    r = rng.uniform(0.05, 1.0, n)
    t = y * (2 * np.pi / n_classes) + r * 4 + rng.normal(0, noise, n)
    return np.c_[r * np.sin(t), r * np.cos(t)].astype(np.float32), y


PROBLEMS = {"moons": moons, "circles": circles, "xor": xor, "spiral": spiral}
