"""popsim — simulate genetic data under competing demographic scenarios (msprime), turn it into
genotype images and summary statistics, and run ABC.

The sub-packages are the steps of the pipeline, in order:

* :mod:`popsim.sim` — priors, scenarios, simulation, datasets on disk;
* :mod:`popsim.features` — genotype images, summary statistics;
* :mod:`popsim.inference` — ABC (the classic method the networks are compared with);
* :mod:`popsim.realdata` — VCF input, model bundles, window-by-window prediction;
* :mod:`popsim.cli` — the ``popsim`` command.

``features`` is the base: ``sim`` uses it for images and the site filter, ``realdata`` for images and
statistics. ``sim``, ``inference`` and ``realdata`` never import one another, and only ``cli`` imports them
all (``tests/popsim/test_layout.py`` checks this). ``popsim`` uses ``minidl``, never ``lessons``.

Units follow msprime/demes: population sizes in diploid individuals, times in generations before
present, rates per bp per generation, sample sizes in diploid individuals (ploidy 2).
"""

__version__ = "0.1.0"
