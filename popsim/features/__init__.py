"""Features: what a method sees of a replicate.

* :mod:`popsim.features.images` — genotype matrices as images ``(haplotypes, SNPs, channels)`` for CNNs,
  one transform applied identically to simulated and real data (``GenotypeImage``).
* :mod:`popsim.features.stats` — summary statistics (S, π, θ_W, Tajima's D, SFS, Fst, dxy ...), equal to tskit's.
* :mod:`popsim.features.haplotypes` — haplotype-structure statistics of two populations, per locus (Hudson's
  Snn, the spread of between-population differences): what whole haplotypes show and single sites do not.
* :mod:`popsim.features.genotypes` — the one segregating-site filter simulated and real data share.
* :mod:`popsim.features.plot` — a genotype image as a figure.
"""
