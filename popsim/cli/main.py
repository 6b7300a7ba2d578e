"""The ``popsim`` command: one parser assembled from the subcommand modules, one error path.

    popsim list | show | simulate | info | verify   (popsim.cli.simulation)
    popsim stats | abc                        (popsim.cli.analysis)
    popsim predict                            (popsim.cli.predict)

Every subcommand has complete ``--help``. A user error (:data:`popsim.cli.common.USER_ERRORS`) prints one line
``popsim: error: ...`` and exits with status 2 — the same for the ``popsim`` entry point and
``python -m popsim.cli``, which both call :func:`main`.

Adding a subcommand
-------------------
A module that wants a subcommand defines::

    def add_parser(subparsers):
        parser = subparsers.add_parser("stats", help="one line for `popsim --help`",
                                       description="the full text for `popsim stats --help`",
                                       formatter_class=HelpFormatter)
        parser.add_argument("dataset")
        parser.set_defaults(func=run)      # run(args) -> int exit status
        return parser

and is listed in ``SUBCOMMAND_MODULES`` below. Subcommand modules import what they need inside their
``run`` functions, so that ``popsim --help`` and ``popsim list`` start without loading msprime, the
statistics or the VCF reader. A listed module that does not exist yet, or has no ``add_parser``, is
skipped, so the list can name modules before they are written.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from popsim.cli.common import USER_ERRORS

__all__ = ["main", "build_parser", "SUBCOMMAND_MODULES"]

# Modules contributing subcommands, in the order they appear in --help.
SUBCOMMAND_MODULES: list[str] = [
    "popsim.cli.simulation",  # list, show, simulate, info, verify
    "popsim.cli.analysis",  # stats, abc
    "popsim.cli.predict",  # predict
]


def build_parser() -> argparse.ArgumentParser:
    """The full parser: subcommands from every importable module in ``SUBCOMMAND_MODULES``."""
    from popsim import __version__

    parser = argparse.ArgumentParser(
        prog="popsim",
        description="Simulate genetic data under competing demographic scenarios (msprime), as genotype images "
        "and raw genotypes, for deep learning and ABC.",
    )
    parser.add_argument("--version", action="version", version=f"popsim {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:  # not written yet: skip
                continue
            # A broken extension must not take the core commands down with it: warn and go on.
            print(f"popsim: warning: subcommands of {module_name} unavailable: {error}", file=sys.stderr)
            continue
        except Exception as error:
            print(f"popsim: warning: subcommands of {module_name} unavailable: {error}", file=sys.stderr)
            continue
        if hasattr(module, "add_parser"):
            try:
                module.add_parser(subparsers)
            except argparse.ArgumentError as error:  # e.g. two modules claiming the same subcommand name
                print(f"popsim: warning: subcommands of {module_name} not added: {error}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``popsim`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"popsim: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: what was finished is kept (datasets resume where they stopped); no traceback.
        print("popsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`popsim show ... | head -1`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured in tests)
        pass
