"""Specification of ``popsim predict``: a bundle and a VCF in, per-window CSV, summary CSV, figure and a
printed summary out; usage errors and data/model mismatches exit with status 2 and one line on stderr.

The subcommand is reached through ``popsim.cli.main.main``, as the ``popsim`` command reaches it. The trained
bundle and mystery VCFs come from ``tests/popsim/realdata/test_bundle.py``.
"""

import argparse
import warnings

import matplotlib.image as mpimg
import numpy as np
import pytest

import popsim.cli.main as cli
from minidl.threads import limit_threads
from popsim.cli.predict import add_parser
from popsim.realdata.windows import WindowPredictions, plot_predictions
from tests.popsim.realdata.test_bundle import LOCUS_BP, N_WINDOWS, mystery_vcf, trained


@pytest.fixture(autouse=True)
def one_thread():
    with limit_threads(1):  # tiny networks: one thread beats two fighting over shared cores
        yield


@pytest.fixture
def popsim_main():
    assert "popsim.cli.predict" in cli.SUBCOMMAND_MODULES
    return cli.main


def _error_lines(text):
    return [line for line in text.strip().splitlines() if "error" in line]


def test_add_parser_registers_predict_on_any_argparse_parser():
    parser = argparse.ArgumentParser(prog="popsim")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", "m.npz", "d.vcf", "--pops", "p.tsv", "--window-snps", "64"])
    assert (args.model, args.vcf, args.pops, args.window_snps, args.window_bp) == ("m.npz", "d.vcf", "p.tsv", 64, None)
    assert args.func.__name__ == "run_predict"


def test_predict_has_complete_help(popsim_main, capsys):
    with pytest.raises(SystemExit) as exit_:
        popsim_main(["predict", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: popsim predict" in out
    for option in ("MODEL", "VCF", "--pops", "--region", "--window-bp", "--window-snps", "--step", "--min-snps",
                   "--ref-is-ancestral", "--ancestral-allele", "--subsample", "--seed", "--uncalibrated", "-o",
                   "--mask", "--min-accessible", "--multiallelic", "--backend", "--regions",
                   "bootstrap", "windows.csv", "summary.csv", "predictions.png", "examples:"):
        assert option in out, option


def test_predict_end_to_end_writes_csv_and_figure_and_prints_the_verdict(popsim_main, tmp_path, capsys):
    _, bundle_path = trained()
    vcf, pops = mystery_vcf("constant")
    out_dir = tmp_path / "out"
    status = popsim_main(["predict", str(bundle_path), str(vcf), "--pops", str(pops), "--ref-is-ancestral",
                          "-o", str(out_dir)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "verdict: constant" in printed and "95% bootstrap CI of mean" in printed
    rows = (out_dir / "windows.csv").read_text().splitlines()
    assert rows[0] == "window,chromosome,start,end,n_snps,padded,p_constant,p_bottleneck,most_probable"
    assert len(rows) == 1 + N_WINDOWS and rows[1].startswith(f"0,1,1,{LOCUS_BP},")
    probabilities = np.array([[float(v) for v in row.split(",")[6:8]] for row in rows[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    summary = (out_dir / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("name,mean,sd,windows_q2.5,windows_q97.5,mean_boot95_low,mean_boot95_high")
    assert summary[1].startswith("constant,") and len(summary) == 3
    image = mpimg.imread(out_dir / "predictions.png")
    assert image.shape[0] > 100 and np.std(image) > 0.01


def test_region_and_snp_windows_options(popsim_main, tmp_path, capsys):
    _, bundle_path = trained()
    vcf, pops = mystery_vcf("constant")
    assert popsim_main(["predict", str(bundle_path), str(vcf), "--pops", str(pops), "--ref-is-ancestral",
                        "--region", f"1:1-{4 * LOCUS_BP}", "-o", str(tmp_path / "region")]) == 0
    assert len((tmp_path / "region" / "windows.csv").read_text().splitlines()) == 1 + 4
    assert popsim_main(["predict", str(bundle_path), str(vcf), "--pops", str(pops), "--ref-is-ancestral",
                        "--window-snps", "64", "-o", str(tmp_path / "snps")]) == 0
    rows = (tmp_path / "snps" / "windows.csv").read_text().splitlines()[1:]
    assert rows and all(row.split(",")[4] == "64" for row in rows)
    assert "64 consecutive SNPs" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--window-bp", "1000", "--window-snps", "64"], "argument --window-snps: not allowed with argument --window-bp"),
    (["--window-bp", "0"], "argument --window-bp: expected a positive integer; got 0"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["--window-snps", "0"], "argument --window-snps: expected a positive integer; got 0"),
    (["--window-snps", "-3"], "argument --window-snps: expected a positive integer; got -3"),
    (["--multiallelic", "keep"], "argument --multiallelic: invalid choice: 'keep' (choose from "),
    (["--min-accessible", "2"], "argument --min-accessible: expected a fraction of the window's bp in (0, 1]; got '2'"),
])
def test_bad_arguments_exit_2_with_one_error_line(popsim_main, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_:
        popsim_main(["predict", "m.npz", "d.vcf", "--pops", "p.tsv", *arguments])
    assert exit_.value.code == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith(f"popsim predict: error: {message}"), errors


def test_mismatch_and_missing_files_exit_2_with_one_line(popsim_main, tmp_path, capsys):
    _, bundle_path = trained()
    vcf, pops = mystery_vcf("constant")
    assert popsim_main(["predict", str(bundle_path), str(vcf), "--pops", str(pops), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("popsim: error: ") and "does not match the model bundle" in err and "\n" not in err
    assert "--ref-is-ancestral" in err
    wrong, _ = mystery_vcf("constant", individuals=10)
    assert popsim_main(["predict", str(bundle_path), str(wrong), "--pops", str(pops), "--ref-is-ancestral",
                        "-o", str(tmp_path)]) == 0  # the 8 listed samples are read, the other 2 ignored
    capsys.readouterr()
    assert popsim_main(["predict", str(tmp_path / "none.npz"), str(vcf), "--pops", str(pops)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"popsim: error: model bundle {str(tmp_path / 'none.npz')!r} does not exist"


def test_subsample_is_needed_when_the_population_file_lists_more_individuals(popsim_main, tmp_path, capsys):
    _, bundle_path = trained()
    vcf, pops = mystery_vcf("bottleneck", individuals=10)
    arguments = ["predict", str(bundle_path), str(vcf), "--pops", str(pops), "--ref-is-ancestral", "-o", str(tmp_path)]
    assert popsim_main(arguments) == 2
    assert "population 'pop' has 10 individuals in the VCF, the model was trained on 8" in capsys.readouterr().err
    assert popsim_main([*arguments, "--subsample", "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert "verdict: bottleneck" in printed and "warning: individuals subsampled at random (seed 4)" in printed


def test_regression_predictions_are_summarised_and_plotted(tmp_path):
    rng = np.random.default_rng(0)
    starts = np.arange(1, 10 * LOCUS_BP, LOCUS_BP)
    result = WindowPredictions("regression", ["N", "T"], rng.normal([1e4, 300], [500, 20], size=(10, 2)), "chr1",
                               starts, starts + LOCUS_BP - 1, np.full(10, 100), np.zeros(10, bool), "20000 bp windows")
    rows = result.summary_rows()
    assert [r["name"] for r in rows] == ["N", "T"] and "windows_most_probable" not in rows[0]
    assert rows[0]["mean_boot95_low"] < rows[0]["mean"] < rows[0]["mean_boot95_high"]
    assert rows[0]["windows_q2.5"] <= rows[0]["mean_boot95_low"]
    assert "verdict" not in result.summary_text()
    plot_predictions(result, tmp_path / "regression.png")
    assert mpimg.imread(tmp_path / "regression.png").shape[0] > 300
    header = result.to_csv(tmp_path / "w.csv").read_text().splitlines()[0]
    assert header == "window,chromosome,start,end,n_snps,padded,N,T"


# ------------------------------------------------------------------------------------------ genome-wide


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """The same two simulated chromosomes (6 and 4 loci, 'constant') as plain VCF, bgzip + .tbi, BCF and VCF Zarr."""
    import io

    import msprime

    from popsim.realdata.vcfzarr import write_vcf_zarr
    from tests.popsim.realdata.test_bundle import MUTATION_RATE, scenarios

    import pysam  # installed by the test extra: never skipped
    root = tmp_path_factory.mktemp("genome")
    chosen = scenarios(8)["constant"]
    params = chosen.sample_params(np.random.default_rng(5))
    chromosomes = {}
    for k, (name, loci) in enumerate({"chr1": 6, "chr2": 4}.items()):
        ts = msprime.sim_ancestry({"pop": 8}, demography=chosen.demography(params), sequence_length=loci * LOCUS_BP,
                                  recombination_rate=1e-8, random_seed=20 + k)
        ts = msprime.sim_mutations(ts, rate=MUTATION_RATE, model=msprime.BinaryMutationModel(),
                                   discrete_genome=True, random_seed=30 + k)
        chromosomes[name] = ts.delete_sites(np.flatnonzero(ts.sites_position == 0))
    texts = []
    for name, ts in chromosomes.items():
        out = io.StringIO()
        ts.write_vcf(out, contig_id=name)
        texts.append(out.getvalue().splitlines())
    header_end = next(i for i, line in enumerate(texts[0]) if line.startswith("#CHROM"))
    contig2 = next(line for line in texts[1] if line.startswith("##contig"))
    body2 = [line for line in texts[1] if not line.startswith("#")]
    plain = root / "genome.vcf"
    plain.write_text("\n".join(texts[0][:header_end] + [contig2] + texts[0][header_end:] + body2) + "\n")
    packed = root / "genome.vcf.gz"
    pysam.tabix_compress(str(plain), str(packed))
    pysam.tabix_index(str(packed), preset="vcf")
    bcf = root / "genome.bcf"
    with pysam.VariantFile(str(packed)) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for record in src:
            dst.write(record)
    pysam.tabix_index(str(bcf), preset="bcf", csi=True)
    store = write_vcf_zarr(chromosomes, root / "genome.vcz", chunk_variants=64)
    pops = root / "pops.tsv"
    pops.write_text("".join(f"tsk_{i}\tpop\n" for i in range(8)))
    return {"plain": plain, "tbi": packed, "bcf": bcf, "zarr": store, "pops": pops}


def test_genome_wide_prediction_is_the_same_whatever_the_container_and_chunking(genome):
    from popsim.realdata.bundle import ModelBundle
    from popsim.realdata.vcf import read_vcf
    from popsim.realdata.windows import predict_genome, predict_vcf

    _, bundle_path = trained()
    bundle = ModelBundle.load(bundle_path)
    expected = [predict_vcf(bundle, read_vcf(genome["plain"], genome["pops"], c, backend="python"),
                            ref_is_ancestral=True) for c in ("chr1", "chr2")]
    values = np.concatenate([p.values for p in expected])
    for kind, backend, chunk, piece in [("plain", "python", 64, 4096), ("plain", "htslib", 64, 50),
                                        ("tbi", "auto", 2, 7), ("bcf", "auto", 4, 4096), ("zarr", "auto", 1, 30)]:
        got = predict_genome(bundle, genome[kind], genome["pops"], ref_is_ancestral=True, backend=backend,
                             chunk_windows=chunk, piece_sites=piece)
        assert got.window_chromosomes().tolist() == ["chr1"] * 6 + ["chr2"] * 4, kind
        np.testing.assert_array_equal(got.starts, np.r_[expected[0].starts, expected[1].starts])
        np.testing.assert_allclose(got.values, values, rtol=1e-6, atol=1e-7, err_msg=f"{kind} {backend}")
        ran = {"plain": "python", "tbi": "python", "bcf": "htslib", "zarr": "zarr"}[kind]  # auto: full text reads by hand
        assert f"{backend if backend != 'auto' else ran} backend, streamed" in got.data_summary


@pytest.mark.parametrize("options", [dict(n_snps_windows=40), dict(n_snps_windows=40, step=15, keep_partial=True),
                                     dict(window_bp=15_000, step=6_000), dict(window_bp=15_000, step=6_000,
                                                                              keep_partial=True)])
def test_streamed_windows_in_snps_and_bp_are_those_of_the_whole_chromosome(genome, options):
    """Windows of N SNPs and overlapping bp windows, cut from a stream of small pieces in chunks of a few
    windows (bounded memory), are exactly the windows of predict_vcf on each whole chromosome."""
    from popsim.realdata.bundle import BundleWarning, ModelBundle
    from popsim.realdata.vcf import read_vcf
    from popsim.realdata.windows import predict_genome, predict_vcf

    _, bundle_path = trained()
    bundle = ModelBundle.load(bundle_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)  # e.g. windows differ from the simulated region
        expected = [predict_vcf(bundle, read_vcf(genome["plain"], genome["pops"], c, backend="python"),
                                ref_is_ancestral=True, **options) for c in ("chr1", "chr2")]
    for chunk, piece in [(1, 9), (3, 64)]:
        got = predict_genome(bundle, genome["tbi"], genome["pops"], ref_is_ancestral=True, chunk_windows=chunk,
                             piece_sites=piece, **options)
        np.testing.assert_array_equal(got.starts, np.r_[expected[0].starts, expected[1].starts])
        np.testing.assert_array_equal(got.ends, np.r_[expected[0].ends, expected[1].ends])
        np.testing.assert_array_equal(got.n_snps, np.r_[expected[0].n_snps, expected[1].n_snps])
        np.testing.assert_allclose(got.values, np.r_[expected[0].values, expected[1].values], rtol=1e-6, atol=1e-7)


def test_predict_regions_and_bed_write_one_table_and_per_chromosome_summaries(popsim_main, genome, tmp_path, capsys):
    _, bundle_path = trained()
    bed = tmp_path / "regions.bed"
    bed.write_text("# accessible\nchr1\t0\t60000\nchr2\t0\t40000\n")
    for regions, n_windows in [("chr1,chr2:1-40,000", 8), (str(bed), 5)]:
        out = tmp_path / f"out{n_windows}"
        assert popsim_main(["predict", str(bundle_path), str(genome["tbi"]), "--pops", str(genome["pops"]),
                            "--ref-is-ancestral", "--regions", regions, "-o", str(out)]) == 0
        rows = (out / "windows.csv").read_text().splitlines()
        assert len(rows) == 1 + n_windows and rows[1].split(",")[1] == "chr1" and rows[-1].split(",")[1] == "chr2"
        by_chromosome = (out / "summary_by_chromosome.csv").read_text().splitlines()
        assert by_chromosome[0].startswith("chromosome,windows,name,mean")
        assert [r.split(",")[0] for r in by_chromosome[1:]] == ["chr1", "chr1", "chr2", "chr2", "genome", "genome"]
        assert (out / "predictions.png").exists()
    printed = capsys.readouterr().out
    assert "chr2: 2 windows; mean" in printed


def test_bad_genome_inputs_exit_2_with_one_line_naming_the_file(popsim_main, genome, tmp_path, capsys, monkeypatch):
    import sys

    _, bundle_path = trained()
    base = ["predict", str(bundle_path)]
    cases = [
        ([str(tmp_path), "--pops", str(genome["pops"])], f"{tmp_path}' is a directory; expected a .vcf"),
        ([str(genome["tbi"]), "--pops", str(genome["pops"]), "--region", "chr9:1-10"],
         "genome.vcf.gz: region 'chr9' is on a contig not in the header"),
        ([str(genome["zarr"]), "--pops", str(genome["pops"]), "--region", "chrX"],
         "genome.vcz: region 'chrX' is on a contig not in the header"),
        ([str(genome["tbi"]), "--pops", str(tmp_path)], "is a directory; expected a two-column text file"),
    ]
    for arguments, message in cases:
        assert popsim_main([*base, *arguments, "--ref-is-ancestral", "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("popsim: error: ") and message in err and "\n" not in err, err
    monkeypatch.setitem(sys.modules, "cyvcf2", None)  # no htslib backend
    assert popsim_main([*base, str(genome["bcf"]), "--pops", str(genome["pops"]), "--ref-is-ancestral",
                        "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "genome.bcf is a BCF file: reading BCF needs the htslib backend" in err and "\n" not in err


def test_mask_on_the_command_line_drops_sites_and_records_the_accessible_fraction(popsim_main, genome, tmp_path,
                                                                                   capsys):
    """--mask: a mask covering everything changes nothing; a gap drops its sites, shortens the windows'
    accessible length (recorded in windows.csv) and warns below --min-accessible; --multiallelic split runs."""
    _, bundle_path = trained()
    base = ["predict", str(bundle_path), str(genome["tbi"]), "--pops", str(genome["pops"]), "--ref-is-ancestral"]
    assert popsim_main([*base, "-o", str(tmp_path / "plain")]) == 0
    full = tmp_path / "full.bed"
    full.write_text("chr2\t0\t80000\nchr1\t0\t120000\n")
    gap = tmp_path / "gap.bed"  # chr1 bases 25,001-31,000 not callable: 60 % of window 2 (20,001-40,000) left...
    gap.write_text("chr1\t0\t25000\nchr1\t31000\t120000\nchr2\t0\t80000\n")
    assert popsim_main([*base, "--mask", str(full), "-o", str(tmp_path / "full")]) == 0
    assert popsim_main([*base, "--mask", str(gap), "--min-accessible", "0.9", "--multiallelic", "split",
                        "-o", str(tmp_path / "gap")]) == 0
    printed = capsys.readouterr().out
    assert "1 of 10 windows have less than 90 % accessible sequence (lowest 70 %)" in printed
    assert "outside the mask dropped" in printed
    plain, masked, gapped = [(tmp_path / d / "windows.csv").read_text().splitlines() for d in ("plain", "full", "gap")]
    assert masked[0] == "window,chromosome,start,end,n_snps,padded,accessible_fraction,p_constant,p_bottleneck," \
                        "most_probable"
    drop = lambda row: row.split(",")[:6] + row.split(",")[7:]  # noqa: E731  (without the fraction column)
    assert [drop(r) for r in masked[1:]] == [r.split(",") for r in plain[1:]]
    fractions = [float(r.split(",")[6]) for r in gapped[1:]]
    assert fractions == [1.0, 0.7] + [1.0] * 8
    n_plain, n_gap = int(plain[2].split(",")[4]), int(gapped[2].split(",")[4])
    assert n_gap < n_plain and [r.split(",")[4] for r in gapped[3:]] == [r.split(",")[4] for r in plain[3:]]


def test_bad_mask_inputs_exit_2_with_one_line_naming_the_file(popsim_main, genome, tmp_path, capsys):
    _, bundle_path = trained()
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t100\n")
    other = tmp_path / "other.bed"
    other.write_text("chr1\t0\t100\nchr9\t0\t100\n")
    cases = [(bad, "bad.bed, line 1: expected a BED line 'chrom start end' (0-based, half-open, 0 <= start < end)"),
             (other, "other.bed: contig 'chr9' of the mask is not a contig of"),
             (tmp_path, "is a directory; expected a text file with lines 'chrom start end'"),
             (tmp_path / "none.bed", "none.bed' does not exist")]
    for mask, message in cases:
        assert popsim_main(["predict", str(bundle_path), str(genome["tbi"]), "--pops", str(genome["pops"]),
                            "--ref-is-ancestral", "--mask", str(mask), "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("popsim: error: ") and message in err and "\n" not in err, err
