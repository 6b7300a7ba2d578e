"""``popsim predict``: apply a model bundle to a VCF, window by window.

    popsim predict MODEL.npz DATA.{vcf[.gz],bcf,vcz} --pops POPS.tsv [--region chr:a-b | --regions R1,R2|BED]
                   [--window-bp N | --window-snps N] [--ref-is-ancestral | --ancestral-allele AA]
                   [--mask ACCESSIBLE.bed [--min-accessible F]] [--multiallelic skip|split]
                   [--subsample --seed S] [-o OUTDIR]

``MODEL.npz`` is a bundle written by ``popsim.realdata.bundle.ModelBundle.save`` (network + image transform or
statistics scaler + class/target names + calibration + scenario metadata). ``POPS.tsv`` assigns VCF samples to
the populations of the simulations (two columns: sample, population; see ``popsim.realdata.vcf.read_populations``).

Every chromosome of the file (or the regions given) is cut into windows of the simulated region length (default) or of N consecutive
SNPs, each turned into the network's input exactly as the training data were, and predicted. Written to
OUTDIR: ``windows.csv`` (one row per window: position, SNPs, class probabilities or parameter estimates),
``summary.csv`` (per class/parameter: mean over windows, sd, 2.5–97.5 % quantiles of the windows and a 95 %
percentile bootstrap interval of the mean, windows resampled with replacement) and ``predictions.png``
(values along the chromosome; histogram and Gaussian KDE over windows). A short summary is printed.

Mismatches between the data and what the network was trained on (populations, individuals per population,
ploidy, phasing, allele polarisation, too few SNPs) stop with one error naming them all; differences that leave
the prediction defined (zero-padded windows, missing calls, SNP counts outside the simulated range) are printed
as warnings. The file is read as a stream, a few windows at a time, whatever its size and whether or not it is
indexed. With ``--mask`` (a BED of callable sites) sites outside are dropped and each window is given to the
network in accessible coordinates (see ``popsim.realdata.mask``); windows.csv then has an
``accessible_fraction`` column. The work is :func:`popsim.realdata.windows.predict_vcf_file`, which lessons
call from Python.

This module exposes ``add_parser(subparsers)`` for ``popsim.cli.main`` (listed in ``SUBCOMMAND_MODULES``).
"""

from __future__ import annotations

from pathlib import Path

import argparse

from popsim.cli.common import HelpFormatter, check_output_folder, positive_int

__all__ = ["add_parser", "run_predict"]


def accessible_fraction(text: str) -> float:
    """argparse ``type=`` of ``--min-accessible``: a fraction of a window's bp in (0, 1] (NaN refused)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:  # also false for NaN
        raise argparse.ArgumentTypeError(f"expected a fraction of the window's bp in (0, 1]; got {text!r}")
    return value


def run_predict(args) -> int:
    """The ``popsim predict`` subcommand (argparse namespace in, exit status out)."""
    from popsim.realdata.windows import predict_vcf_file

    output = check_output_folder(args.output or f"{Path(args.vcf).name.split('.')[0]}_predict", "-o/--output")
    predict_vcf_file(args.model, args.vcf, args.pops, region=args.region, regions=args.regions,
                     backend=args.backend, window_bp=args.window_bp, mask=args.mask,
                     min_accessible=args.min_accessible, multiallelic=args.multiallelic,
                     window_snps=args.window_snps, step=args.step, min_snps=args.min_snps,
                     subsample=args.subsample, seed=args.seed, ref_is_ancestral=args.ref_is_ancestral,
                     ancestral_allele=args.ancestral_allele, pass_only=args.pass_only,
                     calibrated=not args.uncalibrated, output=output)
    return 0


def add_parser(subparsers):
    """Register ``popsim predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="apply a trained model bundle to a VCF, window by window",
        description="Apply a network trained on simulations (a model bundle written by "
        "popsim.realdata.bundle.ModelBundle.save) to a VCF. The region is cut into windows of the simulated region "
        "length (default) or of N consecutive SNPs; each window is transformed exactly like the training data "
        "(the image transform or statistics scaler stored in the bundle) and predicted. Writes OUTDIR/windows.csv "
        "(per-window class probabilities or parameter estimates), OUTDIR/summary.csv (mean over windows, sd, "
        "2.5-97.5% quantiles of the windows, 95% percentile bootstrap interval of the mean resampling windows) "
        "and OUTDIR/predictions.png (values along the chromosome, histogram and KDE). Differences between the "
        "data and the training sample (population names/order, individuals per population, ploidy, phasing, "
        "allele polarisation, too few SNPs) are errors; nothing is silently subsampled or reordered.",
        epilog="examples:\n"
        "  popsim predict bundle.npz mystery.vcf.gz --pops pops.tsv --ref-is-ancestral -o mystery_predict\n"
        "  popsim predict bundle.npz genome.bcf --pops pops.tsv --regions chr1,chr2 -o genome_predict\n"
        "  popsim predict bundle.npz calls.vcf.gz --pops pops.tsv --mask strict_mask.bed --multiallelic split\n"
        "  popsim predict bundle.npz chr2.vcf.gz --pops pops.tsv --region chr2:1-5000000 \\\n"
        "      --ancestral-allele AA --subsample --seed 1 --window-snps 512\n"
        "exit status: 0 on success, 2 on a usage error or a data/model mismatch (one line on stderr)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model bundle (.npz) written by ModelBundle.save")
    parser.add_argument("vcf", metavar="VCF", help="VCF file (plain or gzip/bgzip), BCF file, or VCF Zarr store "
                        "(bio2zarr/sgkit layout); with a .tbi/.csi index or VCF Zarr the file is read a few windows "
                        "at a time (bounded memory)")
    parser.add_argument("--pops", required=True, metavar="POPS.tsv",
                        help="two columns: VCF sample name, population name (as in the simulations); samples not "
                        "listed are ignored")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", metavar="CHR[:A-B]",
                       help="one chromosome or 1-based inclusive interval (samtools syntax); default: every "
                       "chromosome of the file")
    where.add_argument("--regions", metavar="R1,R2|BED",
                       help="several regions, comma-separated (chr1,chr2:1-5000000) or a BED file (0-based, "
                       "half-open); windows.csv has one table for all, summary_by_chromosome.csv one summary each")
    parser.add_argument("--backend", choices=["auto", "htslib", "python", "zarr"], default="auto",
                        help="reader: htslib (cyvcf2: BCF, index jumps), python (the hand parser, no dependency), "
                        "zarr (VCF Zarr); auto reads a VCF Zarr store as such, BCF and --region(s) with htslib when "
                        "cyvcf2 is installed, and whole text files with the hand parser (faster); the summary says "
                        "which ran")
    parser.add_argument("--multiallelic", choices=["skip", "split"], default="skip",
                        help="records with several ALT alleles: skip them (counted), or split them into one "
                        "biallelic record per ALT as bcftools norm -m- (carriers of that ALT = 1, REF and the other "
                        "ALTs = 0)")
    parser.add_argument("--mask", metavar="BED",
                        help="accessibility mask: BED of callable sites (0-based, half-open; any order, overlaps "
                        "merged); sites outside are dropped, windows (fixed in bp) are given to the network in "
                        "accessible coordinates (distance channel and per-bp statistics use accessible bp); its "
                        "contigs must be contigs of the VCF")
    parser.add_argument("--min-accessible", type=accessible_fraction, default=0.5, metavar="F",
                        help="with --mask: warn about windows whose accessible fraction is below F")
    windows = parser.add_mutually_exclusive_group()
    windows.add_argument("--window-bp", type=positive_int, metavar="N",
                         help="windows of N bp (default: the simulated region length stored in the bundle)")
    windows.add_argument("--window-snps", type=positive_int, metavar="N",
                         help="windows of N consecutive segregating SNPs instead (N >= the image width)")
    parser.add_argument("--step", type=positive_int, metavar="N",
                        help="step between window starts, in bp or SNPs like the window (default: adjacent)")
    parser.add_argument("--min-snps", type=positive_int, metavar="N",
                        help="skip windows with fewer SNPs (default: the fewest of any training simulation, >= 1)")
    alleles = parser.add_mutually_exclusive_group()
    alleles.add_argument("--ancestral-allele", metavar="KEY",
                         help="INFO key of the ancestral allele (e.g. AA): polarise 0 = ancestral, 1 = derived")
    alleles.add_argument("--ref-is-ancestral", action="store_true",
                         help="state that REF is the ancestral allele (true for VCFs written by tskit from "
                         "simulations); needed by models using derived-allele (01) encoding")
    parser.add_argument("--subsample", action="store_true",
                        help="if a population has more individuals than the model was trained on, draw that many "
                        "at random (with --seed); without it a different count is an error")
    parser.add_argument("--seed", type=int, default=0, help="seed for --subsample")
    parser.add_argument("--pass-only", action="store_true", help="keep only records with FILTER PASS or '.'")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="report the network's raw probabilities, ignoring the bundle's temperature scaling")
    parser.add_argument("-o", "--output", metavar="OUTDIR",
                        help="output folder (default: <VCF name>_predict in the current folder)")
    parser.set_defaults(func=run_predict)
    return parser
