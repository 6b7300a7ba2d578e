"""Real data: from a sequencing project's files to a trained network's predictions.

* :mod:`popsim.realdata.vcf` — VCF input as ``VcfGenotypes`` (sites × haplotypes, positions, populations),
  windows, subsampling, the segregating-site filter.
* :mod:`popsim.realdata.htslib` — the optional htslib (cyvcf2) reader behind ``read_vcf``: BCF, indexed regions.
* :mod:`popsim.realdata.vcfzarr` — VCF Zarr input (bio2zarr/sgkit layout) and ``write_vcf_zarr`` (tskit → VCF Zarr).
* :mod:`popsim.realdata.mask` — accessibility masks (BED of callable sites) for data windows and, the same way,
  for simulated replicates (``mask_replicate``).
* :mod:`popsim.realdata.bundle` — ``ModelBundle``: a trained network with everything needed to apply it
  (input transform, class/target names, calibration, training-sample description), saved and loaded as one file.
* :mod:`popsim.realdata.windows` — the window pipeline: a bundle applied to a VCF window by window
  (``predict_vcf``; ``predict_genome`` over chromosomes/regions in bounded memory), the results (``WindowPredictions``) and their figure.
"""
