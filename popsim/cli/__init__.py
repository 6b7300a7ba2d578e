"""The ``popsim`` command line (entry point :func:`popsim.cli.main.main`; also ``python -m popsim.cli``).

* :mod:`popsim.cli.main` — the parser assembled from the subcommand modules, error handling, ``main``.
* :mod:`popsim.cli.common` — what every subcommand shares: the help formatter, ``CommandError``, option parsers.
* :mod:`popsim.cli.simulation` — ``popsim list``, ``show``, ``simulate``, ``info``.
* :mod:`popsim.cli.analysis` — ``popsim stats``, ``abc``.
* :mod:`popsim.cli.predict` — ``popsim predict``.
"""
