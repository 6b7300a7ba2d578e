"""What every ``popsim`` subcommand shares: the help style, the user-error type and option parsers.

A subcommand module defines ``add_parser(subparsers)`` (registering its parsers with
``formatter_class=HelpFormatter`` and ``set_defaults(func=run)``, where ``run(args) -> int``) and raises
:class:`CommandError` for a user error; :func:`popsim.cli.main.main` prints any user error as one line
``popsim: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["HelpFormatter", "CommandError", "USER_ERRORS", "parse_mapping", "positive_int", "non_negative_int",
           "fraction", "check_output_folder", "check_output_file"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: ...)" only where there is a meaningful default; keep the line breaks of an epilog
    that starts with ``examples:``."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


# Exceptions that mean "the input was wrong", printed as one line by ``popsim.cli.main.main`` (library
# functions raise ValueError/KeyError/TypeError with a message naming the bad input and what was expected).
USER_ERRORS = (CommandError, ValueError, KeyError, TypeError, FileNotFoundError)


def parse_mapping(text: str, option: str, cast=float) -> dict:
    """``'A=10,B=12'`` → ``{'A': 10.0, 'B': 12.0}`` (values through ``cast``); ``option`` names the flag in
    error messages."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise CommandError(f"{option} item {item!r} has no '='; expected NAME=VALUE[,NAME=VALUE...]")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = cast(value)
        except ValueError:
            raise CommandError(f"{option} value {value!r} for {key!r} is not a {cast.__name__}") from None
    return out


def _integer_at_least(minimum: int, words: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {words}; got {value}")
        return value

    return parse


positive_int = _integer_at_least(1, "a positive integer")      # argparse ``type=`` for an integer >= 1
non_negative_int = _integer_at_least(0, "an integer >= 0")     # argparse ``type=`` for an integer >= 0


def fraction(text: str) -> float:
    """argparse ``type=`` for a fraction in (0, 1] (NaN is refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1]; got {text!r}") from None
    if not 0 < value <= 1:  # also false for NaN
        raise argparse.ArgumentTypeError(f"expected a fraction of simulations in (0, 1]; got {text}")
    return value


def _writable_parent(path: Path, option: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists():  # the first existing ancestor must let us create the rest
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"{option} {str(path)!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"{option} {str(path)!r}: cannot write in {str(existing)!r} (permission denied)")


def check_output_folder(path, option: str) -> Path:
    """Check *before any work* that ``path`` can be (or is) a writable folder: not empty, not an existing
    file, with a writable first existing ancestor. Raises :class:`CommandError` naming ``option``."""
    if path is None or not str(path).strip():
        raise CommandError(f"{option} is empty; expected a folder path")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CommandError(f"{option} {str(path)!r} is an existing file; expected a folder (new or existing)")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise CommandError(f"{option} {str(path)!r}: the folder is not writable (permission denied)")
    else:
        _writable_parent(path, option)
    return path


def check_output_file(path, option: str) -> Path:
    """Check before any work that ``path`` can be written as a file (not a folder, writable location)."""
    if path is None or not str(path).strip():
        raise CommandError(f"{option} is empty; expected a file path")
    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{option} {str(path)!r} is a folder; expected a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise CommandError(f"{option} {str(path)!r} exists and is not writable")
    _writable_parent(path, option)
    return path
