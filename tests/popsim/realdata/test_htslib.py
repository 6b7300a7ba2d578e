"""The htslib backend (cyvcf2): BCF, .tbi/.csi region jumps, one pass over several chromosomes, its errors, and
the fallback to the hand parser when cyvcf2 is absent. Results are compared with the hand parser (the oracle)
on the same content written as plain text."""

import gzip
import sys
import warnings

import msprime
import numpy as np
import pytest

from popsim.realdata import vcf as vcf_module
from popsim.realdata.vcf import VcfFormatError, VcfWarning, iter_chromosomes, read_vcf, vcf_contigs
from tests.popsim.realdata.oracle import HAVE_HTSLIB, assert_same_genotypes

import pysam  # noqa: E402  (installed by the test extra: never skipped)


# Marks the tests that read with cyvcf2; they always run, since cyvcf2 is in the test extra (see below).
needs_htslib = pytest.mark.htslib


def test_the_htslib_backend_is_installed_where_the_tests_run():
    assert HAVE_HTSLIB, "cyvcf2 is installed by pip install -e '.[test]'; without it half of these tests mean nothing"

LENGTHS = {"chr1": 60_000, "chr2": 40_000}
SAME = ("backend", "source")


def _centre_like_vcf(seed=3, phased=False) -> str:
    """Two chromosomes, 6 diploids, GT:DP, ~2 % missing calls, ~5 % LowQual, a few multiallelic records."""
    rng = np.random.default_rng(seed)
    lines = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">',
             '##FILTER=<ID=LowQual,Description="Low quality">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
             '##INFO=<ID=AA,Number=1,Type=String,Description="Ancestral allele">']
    lines += [f"##contig=<ID={c},length={n}>" for c, n in LENGTHS.items()]
    names = [f"ind{i}" for i in range(6)]
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *names]))
    sep = "|" if phased else "/"
    for k, (chrom, length) in enumerate(LENGTHS.items()):
        ts = msprime.sim_ancestry(6, sequence_length=length, recombination_rate=1e-8, population_size=10_000,
                                  random_seed=seed + k)
        ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=seed + 10 + k)
        for var in ts.variants():
            pos = int(var.site.position)
            if pos == 0:
                continue
            alleles = var.alleles
            g = var.genotypes.reshape(6, 2)
            calls = []
            for a, b in g:
                if rng.random() < 0.02:
                    calls.append(f".{sep}.:0")
                else:
                    calls.append(f"{a}{sep}{b}:{rng.integers(5, 40)}")
            alt = ",".join(alleles[1:])
            filt = "LowQual" if rng.random() < 0.05 else "PASS"
            aa = alleles[0] if rng.random() < 0.9 else alleles[-1]
            lines.append("\t".join([chrom, str(pos), ".", alleles[0], alt, "50", filt, f"AA={aa}", "GT:DP", *calls]))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same records as plain text, bgzip + .tbi, bgzip + .csi, BCF + .csi, and bgzip without an index."""
    root = tmp_path_factory.mktemp("htslib")
    text = _centre_like_vcf()
    plain = root / "calls.vcf"
    plain.write_text(text)
    out = {"plain": plain}
    tbi = root / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(tbi))
    pysam.tabix_index(str(tbi), preset="vcf")
    out["tbi"] = tbi
    csi_dir = root / "csi"
    csi_dir.mkdir()
    csi = csi_dir / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(csi))
    pysam.tabix_index(str(csi), preset="vcf", csi=True)
    out["csi"] = csi
    bcf = root / "calls.bcf"
    with pysam.VariantFile(str(tbi)) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for record in src:
            dst.write(record)
    pysam.tabix_index(str(bcf), preset="bcf", csi=True)
    out["bcf"] = bcf
    bare = root / "bare"
    bare.mkdir()
    out["unindexed"] = bare / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(out["unindexed"]))
    pops = root / "pops.tsv"
    pops.write_text("".join(f"ind{i}\t{'A' if i < 4 else 'B'}\n" for i in (5, 0, 2, 1, 4)))
    out["pops"] = pops
    return out


REGIONS = ["chr1", "chr2", "chr1:12,000-30,000", "chr2:5000-", "chr2:30000-40000"]


@needs_htslib
@pytest.mark.parametrize("kind", ["tbi", "csi", "bcf", "unindexed"])
@pytest.mark.parametrize("region", REGIONS[:4])
def test_every_container_reads_like_the_hand_parser_on_plain_text(files, kind, region):
    options = dict(pass_only=True, ancestral_allele="AA")
    reference = read_vcf(files["plain"], files["pops"], region, backend="python", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VcfWarning)
        got = read_vcf(files[kind], files["pops"], region, **options)
    assert got.backend == "htslib" and "htslib backend" in got.summary()
    assert_same_genotypes(reference, got, ignore=SAME)
    assert got.skipped["multiallelic"] + got.skipped["filtered"] > 0 and not got.phased


@needs_htslib
@pytest.mark.parametrize("region", REGIONS)
def test_indexed_region_reads_need_no_scan_and_unindexed_ones_say_they_scan(files, region):
    reference = read_vcf(files["plain"], files["pops"], region, backend="python", drop_monomorphic=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VcfWarning)  # an index is used: no warning
        assert_same_genotypes(reference, read_vcf(files["tbi"], files["pops"], region, drop_monomorphic=False),
                              ignore=SAME)
    with pytest.warns(VcfWarning, match=r"calls.vcf.gz: no .tbi/.csi index .* scanning from the top"):
        read_vcf(files["unindexed"], files["pops"], region, drop_monomorphic=False)


@pytest.mark.parametrize("backend", ["python", pytest.param("htslib", marks=needs_htslib)])
def test_one_pass_over_a_multi_chromosome_file_gives_each_chromosome(files, backend):
    path = files["plain"] if backend == "python" else files["tbi"]
    chromosomes = list(iter_chromosomes(path, files["pops"], backend=backend))
    assert [g.chromosome for g in chromosomes] == ["chr1", "chr2"]
    for g in chromosomes:
        assert g.end == LENGTHS[g.chromosome]
        assert_same_genotypes(read_vcf(files["plain"], files["pops"], g.chromosome, backend="python"), g,
                              ignore=SAME)


@pytest.mark.parametrize("backend", ["python", pytest.param("htslib", marks=needs_htslib)])
def test_a_multi_chromosome_file_without_region_names_the_chromosomes(files, backend):
    path = files["plain"] if backend == "python" else files["tbi"]
    with pytest.raises(VcfFormatError, match=r"calls.vcf.*second chromosome 'chr2' after 'chr1'"):
        read_vcf(path, files["pops"], backend=backend)


@pytest.mark.parametrize("backend", ["python", pytest.param("htslib", marks=needs_htslib)])
def test_a_region_on_a_contig_not_in_the_header_is_one_error_naming_the_file(files, backend):
    path = files["plain"] if backend == "python" else files["tbi"]
    with pytest.raises(ValueError, match=r"calls.vcf.*region 'chr9' is on a contig not in the header; "
                                         r"contigs: chr1, chr2"):
        read_vcf(path, files["pops"], "chr9:1-100", backend=backend)


def test_contigs_come_from_the_header(files):
    assert vcf_contigs(files["plain"], backend="python") == LENGTHS
    if HAVE_HTSLIB:
        assert vcf_contigs(files["bcf"]) == LENGTHS


@pytest.mark.parametrize("backend", ["python", pytest.param("htslib", marks=needs_htslib)])
def test_a_truncated_bgzip_file_is_one_error_naming_it(files, tmp_path, backend):
    data = files["unindexed"].read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VcfFormatError, match=r"cut.vcf.gz: .*(truncated|corrupt)"):
        read_vcf(cut, files["pops"], "chr1", backend=backend)


@pytest.mark.parametrize("backend", ["python", pytest.param("htslib", marks=needs_htslib)])
def test_a_population_file_naming_unknown_samples_is_an_error_naming_them(files, tmp_path, backend):
    pops = tmp_path / "pops.tsv"
    pops.write_text("ind0\tA\nnobody\tA\nind3\tB\n")
    with pytest.raises(ValueError, match=r"1 of 3 samples of the population file are not in .*calls\.(vcf|bcf): nobody"):
        read_vcf(files["plain"] if backend == "python" else files["bcf"], pops, "chr1", backend=backend)


def test_without_cyvcf2_auto_falls_back_to_the_hand_parser_and_bcf_is_a_clear_error(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "cyvcf2", None)  # "import cyvcf2" now raises ImportError
    assert not vcf_module.htslib_available()
    g = read_vcf(files["tbi"], files["pops"], "chr2:5000-")
    assert g.backend == "python" and "python backend" in g.summary()
    assert_same_genotypes(read_vcf(files["plain"], files["pops"], "chr2:5000-", backend="python"), g, ignore=SAME)
    with pytest.raises(ValueError, match=r"calls.bcf is a BCF file: reading BCF needs the htslib backend "
                                         r"\(pip install 'popsim\[vcf\]'"):
        read_vcf(files["bcf"], files["pops"], "chr1")
    with pytest.raises(ValueError, match=r"backend='htslib' needs cyvcf2, which is not installed"):
        read_vcf(files["tbi"], files["pops"], "chr1", backend="htslib")


def test_unknown_backend_is_refused(files):
    with pytest.raises(ValueError, match="backend must be one of auto, htslib, python, zarr"):
        read_vcf(files["plain"], files["pops"], "chr1", backend="bcftools")


def test_gzip_that_is_not_bgzip_reads_with_both_backends(files, tmp_path):
    path = tmp_path / "plain_gzip.vcf.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(files["plain"].read_bytes())
    reference = read_vcf(files["plain"], files["pops"], "chr1", backend="python")
    for backend in ["python"] + (["htslib"] if HAVE_HTSLIB else []):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VcfWarning)
            assert_same_genotypes(reference, read_vcf(path, files["pops"], "chr1", backend=backend), ignore=SAME)


@pytest.mark.parametrize("kind", ["tbi", "bcf"])
def test_split_multiallelic_and_streamed_pieces_read_like_the_hand_parser(files, kind):
    """multiallelic='split' gives the same records from every container; the pieces of a streamed read
    (iter_pieces) put together are the whole read, whatever the backend."""
    from popsim.realdata.vcf import iter_pieces

    options = dict(pass_only=True, ancestral_allele="AA", multiallelic="split")
    for region in ["chr1", "chr2:5000-"]:
        reference = read_vcf(files["plain"], files["pops"], region, backend="python", **options)
        got = read_vcf(files[kind], files["pops"], region, **options)
        assert_same_genotypes(reference, got, ignore=SAME)
        assert got.skipped["multiallelic"] == 0
        assert got.n_split > 0 or region != "chr1"
    for path, backend in [(files["plain"], "python"), (files[kind], "htslib")]:
        pieces = list(iter_pieces(path, files["pops"], piece_sites=7, backend=backend, **options))
        for chrom in ("chr1", "chr2"):
            mine = [p for p in pieces if p.chromosome == chrom]
            whole = read_vcf(files["plain"], files["pops"], chrom, backend="python", **options)
            assert len(mine) > 3 and [p.final for p in mine] == [False] * (len(mine) - 1) + [True]
            assert mine[-1].end == whole.end and sum(p.n_split for p in mine) == whole.n_split
            assert sum(p.n_records for p in mine) == whole.n_records
            for reason, count in whole.skipped.items():
                assert sum(p.skipped[reason] for p in mine) == count, reason
            parts = [p.genotypes for p in mine if p.genotypes is not None]
            np.testing.assert_array_equal(np.concatenate([p.calls for p in parts]), whole.calls)
            np.testing.assert_array_equal(np.concatenate([p.absolute_positions for p in parts]),
                                          whole.absolute_positions)


def test_auto_reads_whole_text_files_by_hand_and_bcf_and_regions_with_htslib(files):
    """backend='auto': the hand parser for a full read of text (faster: benchmarks/RESULTS.md), htslib for BCF and
    for regions (index jumps); the result says which ran, and both give the same genotypes."""
    by_hand = list(iter_chromosomes(files["tbi"], files["pops"]))
    assert [g.backend for g in by_hand] == ["python", "python"]
    assert [g.backend for g in iter_chromosomes(files["bcf"], files["pops"])] == ["htslib", "htslib"]
    assert read_vcf(files["tbi"], files["pops"], "chr2").backend == "htslib"
    for g, other in zip(by_hand, iter_chromosomes(files["tbi"], files["pops"], backend="htslib")):
        assert_same_genotypes(g, other, ignore=SAME)
