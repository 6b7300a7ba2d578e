"""Resolve Keras-style string identifiers (``"relu"``, ``"adam"``, ``"mse"`` ...) to objects.

Every public factory (``activations.get``, ``losses.get``, ``optimizers.get``...) goes through
:func:`lookup`, so an unknown name always gives the same kind of error: one sentence naming the
argument, the value received and the list of valid names.
"""

from __future__ import annotations


def lookup(table: dict, identifier: str, *, kind: str, argument: str):
    """Return ``table[identifier]`` (case-insensitive), or raise a ``ValueError`` listing valid names."""
    if not isinstance(identifier, str):
        raise TypeError(f"{argument} must be a string or a {kind} object; got {type(identifier).__name__}")
    key = identifier.lower()
    if key not in table:
        valid = ", ".join(sorted(table))
        raise ValueError(f"Unknown {kind} {identifier!r} for argument {argument!r}; valid names are: {valid}")
    return table[key]
