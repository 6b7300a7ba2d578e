"""popsim — simulate genetic data under competing demographic scenarios (msprime), turn it into
genotype images and summary statistics, and run ABC.

Units follow msprime/demes: population sizes in diploid individuals, times in generations before
present, rates per bp per generation, sample sizes in diploid individuals (ploidy 2).
"""

__version__ = "0.1.0"
