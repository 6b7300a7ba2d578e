"""VCF Zarr input: our writer (tskit -> VCF Zarr) and bio2zarr's vcf2zarr both read back exactly as the hand parser
reads the same content as text; regions read only their variants; errors name the store."""

import io
import warnings

import msprime
import numpy as np
import pytest

from popsim.realdata.vcf import VcfFormatError, iter_chromosomes, read_vcf, vcf_contigs
from popsim.realdata.vcfzarr import write_vcf_zarr
from tests.popsim.realdata.oracle import assert_same_genotypes

SAME = ("backend", "source")


def _ts(seed, length, n=5):
    ts = msprime.sim_ancestry(n, sequence_length=length, recombination_rate=1e-8, population_size=10_000,
                              random_seed=seed)
    return msprime.sim_mutations(ts, rate=2e-8, random_seed=seed + 1)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("vcz")
    chromosomes = {"chr1": _ts(1, 50_000), "chr2": _ts(3, 30_000)}
    store = write_vcf_zarr(chromosomes, root / "sim.vcz", chunk_variants=17)
    texts = {}
    for name, ts in chromosomes.items():
        out = io.StringIO()
        ts.write_vcf(out, contig_id=name)
        texts[name] = out.getvalue()
    lines = texts["chr1"].splitlines()
    body2 = [line for line in texts["chr2"].splitlines() if not line.startswith("#")]
    contig2 = next(line for line in texts["chr2"].splitlines() if line.startswith("##contig"))
    header_end = next(i for i, line in enumerate(lines) if line.startswith("#CHROM"))
    merged = lines[:header_end] + [contig2] + lines[header_end:] + body2
    plain = root / "sim.vcf"
    plain.write_text("\n".join(merged) + "\n")
    pops = {f"tsk_{i}": ("A" if i % 2 else "B") for i in (4, 1, 0, 3)}
    return store, plain, pops


@pytest.mark.parametrize("region", ["chr1", "chr2", "chr1:10,000-20,000", "chr2:25000-", "chr1:1-5000"])
def test_written_store_reads_like_the_vcf_tskit_writes(simulated, region):
    store, plain, pops = simulated
    reference = read_vcf(plain, pops, region, backend="python", drop_monomorphic=False)
    got = read_vcf(store, pops, region, drop_monomorphic=False)
    assert got.backend == "zarr" and "zarr backend" in got.summary()
    assert_same_genotypes(reference, got, ignore=SAME)


def test_written_store_gives_tskit_genotypes_and_one_pass_over_contigs(simulated):
    store, _, _ = simulated
    ts = _ts(1, 50_000)
    g = read_vcf(store, None, "chr1", drop_monomorphic=False)
    np.testing.assert_array_equal(g.genotypes, ts.genotype_matrix()[ts.sites_position > 0])
    np.testing.assert_array_equal(g.positions, ts.sites_position[ts.sites_position > 0].astype(np.int64))
    assert [c.chromosome for c in iter_chromosomes(store)] == ["chr1", "chr2"]
    assert vcf_contigs(store) == {"chr1": 50_000, "chr2": 30_000}
    with pytest.raises(VcfFormatError, match=r"sim.vcz, record \d+: second chromosome 'chr2' after 'chr1'"):
        read_vcf(store)


def test_store_errors_name_the_store(simulated, tmp_path):
    store, _, _ = simulated
    with pytest.raises(ValueError, match=r"sim.vcz: region 'chrX' is on a contig not in the header"):
        read_vcf(store, None, "chrX")
    with pytest.raises(ValueError, match=r"samples of the population file are not in .*sim.vcz: nobody"):
        read_vcf(store, {"tsk_0": "A", "nobody": "A"}, "chr1")
    import zarr

    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").create_array("x", shape=(2,), dtype="i1")
    with pytest.raises(VcfFormatError, match=r"other.zarr is a zarr store but not VCF Zarr: no call_genotype"):
        read_vcf(tmp_path / "other.zarr")
    with pytest.raises(ValueError, match="is a VCF Zarr store; read it with backend='zarr' or 'auto'"):
        read_vcf(store, None, "chr1", backend="python")


def test_bio2zarr_vcf2zarr_store_reads_like_the_text(tmp_path):
    """The documented one-liner ``vcf2zarr convert calls.vcf.gz calls.vcz`` (here through its Python API) on a
    sequencing-centre-like file: unphased, GT:DP, missing calls, LowQual, multiallelic records, AA."""
    import pysam  # installed by the test extra: never skipped
    from bio2zarr import vcf as b2z

    from tests.popsim.realdata.test_htslib import _centre_like_vcf

    plain = tmp_path / "calls.vcf"
    plain.write_text(_centre_like_vcf())
    packed = tmp_path / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(packed))
    pysam.tabix_index(str(packed), preset="vcf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b2z.convert([str(packed)], str(tmp_path / "calls.vcz"), variants_chunk_size=50)
    pops = {f"ind{i}": ("A" if i < 4 else "B") for i in (5, 0, 2, 1, 4)}
    for region in ["chr1", "chr2", "chr1:12,000-30,000"]:
        options = dict(pass_only=True, ancestral_allele="AA")
        reference = read_vcf(plain, pops, region, backend="python", **options)
        got = read_vcf(tmp_path / "calls.vcz", pops, region, **options)
        assert_same_genotypes(reference, got, ignore=SAME)
        assert got.skipped["multiallelic"] + got.skipped["filtered"] > 0 and not got.phased
        options["multiallelic"] = "split"
        reference = read_vcf(plain, pops, region, backend="python", **options)
        got = read_vcf(tmp_path / "calls.vcz", pops, region, **options)
        assert_same_genotypes(reference, got, ignore=SAME)
        assert got.n_split > 0 or region != "chr1"
