"""What every ``popsim`` subcommand shares: the help style, the user-error type and option parsers.

A subcommand module defines ``add_parser(subparsers)`` (registering its parsers with
``formatter_class=HelpFormatter`` and ``set_defaults(func=run)``, where ``run(args) -> int``) and raises
:class:`CommandError` for a user error; :func:`popsim.cli.main.main` prints any user error as one line
``popsim: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter", "CommandError", "USER_ERRORS", "parse_mapping", "positive_int"]


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


def positive_int(text: str) -> int:
    """argparse ``type=`` for an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value
