"""Specification of popsim.realdata.vcf: tskit write_vcf -> read_vcf round trips, skipping, errors, regions, windows.

Every file read here is read by both backends: ``read_vcf`` below is the oracle wrapper
(:func:`read_both`) — the hand parser's result is the reference, the htslib backend (cyvcf2) must return an
identical ``VcfGenotypes`` (every field but ``backend``), and where the hand parser raises, htslib must raise
too. Tests of htslib-only features are in ``test_htslib.py``.
"""

import gzip
import io
import tempfile
from pathlib import Path

import msprime
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popsim.realdata import vcf as vcf_module
from popsim.realdata.vcf import VcfFormatError, VcfGenotypes, parse_region, read_populations
from tests.popsim.realdata.oracle import read_both as read_vcf

L = 20_000


@pytest.fixture(scope="module")
def ts():
    """Two populations (A: 4 diploids, B: 3 diploids), binary mutations on a discrete genome."""
    demography = msprime.Demography()
    demography.add_population(name="A", initial_size=1000)
    demography.add_population(name="B", initial_size=1000)
    demography.add_population(name="ANC", initial_size=1000)
    demography.add_population_split(time=500, derived=["A", "B"], ancestral="ANC")
    ts = msprime.sim_ancestry({"A": 4, "B": 3}, demography=demography, sequence_length=L,
                              recombination_rate=1e-8, random_seed=11)
    ts = msprime.sim_mutations(ts, rate=5e-7, model=msprime.BinaryMutationModel(), discrete_genome=True,
                               random_seed=12)
    ts = ts.delete_sites(np.flatnonzero(ts.sites_position == 0))  # VCF POS 0 is reserved
    assert ts.num_sites > 40
    return ts


def _vcf_text(ts, **kwargs) -> str:
    out = io.StringIO()
    ts.write_vcf(out, **kwargs)
    return out.getvalue()


def _pops_of(ts) -> dict:
    """{tsk_i: population name} in individual order, as a population file would list them."""
    names = {}
    for ind in ts.individuals():
        pop = ts.population(ts.node(ind.nodes[0]).population).metadata["name"]
        names[f"tsk_{ind.id}"] = pop
    return names


def _write(tmp_path, text, name="data.vcf"):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _write_pops(tmp_path, pops, header="sample\tpopulation\n", name="pops.tsv"):
    path = tmp_path / name
    path.write_text(header + "".join(f"{s}\t{p}\n" for s, p in pops.items()))
    return path


def _edit_gt(text, edits, sep="|"):
    """Replace the GT of (data line index, sample index) by the given strings."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("#CHROM")) + 1
    for (row, sample), gt in edits.items():
        cols = lines[first + row].split("\t")
        cols[9 + sample] = gt
        lines[first + row] = "\t".join(cols)
    return "\n".join(lines) + "\n"


def _segregating(G):
    return (G == 1).any(axis=1) & (G == 0).any(axis=1)


HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n"
POPS3 = {"s1": "X", "s2": "X", "s3": "Y"}


def _small(tmp_path, body, header=HEADER, name="small.vcf"):
    return _write(tmp_path, header + body, name)


# ----------------------------------------------------------------------------------------- round trips


def test_phased_round_trip_gives_tskit_genotype_matrix_and_positions(tmp_path, ts):
    path = _write(tmp_path, _vcf_text(ts))
    g = read_vcf(path, _write_pops(tmp_path, _pops_of(ts)), drop_monomorphic=False)
    np.testing.assert_array_equal(g.genotypes, ts.genotype_matrix())
    np.testing.assert_array_equal(g.positions, ts.sites_position.astype(np.int64))
    assert g.genotypes.dtype == np.int8 and g.positions.dtype == np.int64
    assert g.phased and g.ploidy == 2 and g.chromosome == "1"
    assert g.population_names == ("A", "B")
    np.testing.assert_array_equal(g.populations, ts.nodes_population[ts.samples()])
    assert g.population_sizes == {"A": 4, "B": 3}
    assert g.sequence_length == L  # from the ##contig length tskit writes
    assert g.samples == tuple(f"tsk_{i}" for i in range(7))


def test_default_keeps_only_sites_segregating_in_the_selected_samples(tmp_path, ts):
    G = ts.genotype_matrix()
    path = _write(tmp_path, _vcf_text(ts))
    only_b = {s: p for s, p in _pops_of(ts).items() if p == "B"}
    g = read_vcf(path, only_b)
    seg = _segregating(G[:, 8:])
    np.testing.assert_array_equal(g.genotypes, G[seg][:, 8:])
    np.testing.assert_array_equal(g.positions, ts.sites_position[seg].astype(np.int64))
    assert g.skipped["monomorphic"] == int((~seg).sum()) > 0
    assert g.n_ignored_samples == 4 and g.ignored_samples == ("tsk_0", "tsk_1", "tsk_2", "tsk_3")


def test_haplotype_order_follows_population_file(tmp_path, ts):
    G = ts.genotype_matrix()
    pops = {"tsk_5": "B", "tsk_4": "B", "tsk_1": "A", "tsk_6": "B", "tsk_0": "A"}
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), pops, drop_monomorphic=False)
    assert g.samples == ("tsk_5", "tsk_4", "tsk_6", "tsk_1", "tsk_0")  # B first: it is listed first
    assert g.population_names == ("B", "A")
    order = [10, 11, 8, 9, 12, 13, 2, 3, 0, 1]  # the two haplotypes of an individual stay adjacent
    np.testing.assert_array_equal(g.genotypes, G[:, order])
    np.testing.assert_array_equal(g.populations, [0] * 6 + [1] * 4)
    np.testing.assert_array_equal(g.haplotype_individuals, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])


def test_unphased_round_trip_gives_dosages_and_refuses_haplotypes(tmp_path, ts):
    G = ts.genotype_matrix()
    path = _write(tmp_path, _vcf_text(ts).replace("|", "/"))
    g = read_vcf(path, _pops_of(ts), drop_monomorphic=False)
    assert not g.phased
    np.testing.assert_array_equal(g.dosages, G[:, 0::2] + G[:, 1::2])
    assert g.dosages.shape == (ts.num_sites, 7) and g.dosages.dtype == np.int8
    with pytest.raises(ValueError, match="unphased .* use .dosages"):
        g.genotypes


def test_one_unphased_call_makes_the_whole_read_unphased(tmp_path, ts):
    text = _edit_gt(_vcf_text(ts), {(3, 2): "1/0"})
    g = read_vcf(_write(tmp_path, text), _pops_of(ts), drop_monomorphic=False)
    assert not g.phased
    with pytest.raises(VcfFormatError, match=r"line 10: unphased genotype"):
        read_vcf(_write(tmp_path, text), _pops_of(ts), require_phased=True)


def test_missing_calls_are_minus_one_exactly_where_injected(tmp_path, ts, monkeypatch):
    monkeypatch.setattr(vcf_module, "_BATCH", 4)  # exercise batch boundaries around per-call lines
    G = ts.genotype_matrix().copy()
    edits = {(0, 0): ".|.", (5, 3): ".", (5, 6): "0|.", (17, 1): ".|1", (30, 6): ".|."}
    for (row, ind), gt in edits.items():
        a, b = (gt.split("|") + ["."])[:2] if gt != "." else (".", ".")
        G[row, 2 * ind] = -1 if a == "." else int(a)
        G[row, 2 * ind + 1] = -1 if b == "." else int(b)
    g = read_vcf(_write(tmp_path, _edit_gt(_vcf_text(ts), edits)), _pops_of(ts), drop_monomorphic=False)
    np.testing.assert_array_equal(g.genotypes, G)
    assert (g.genotypes == -1).sum() == 8
    assert g.phased  # missing calls carry no phase information


def test_missing_unphased_calls_give_missing_dosage(tmp_path, ts):
    G = ts.genotype_matrix()
    text = _edit_gt(_vcf_text(ts).replace("|", "/"), {(2, 1): "./.", (9, 4): ".", (9, 5): "1/."})
    g = read_vcf(_write(tmp_path, text), _pops_of(ts), drop_monomorphic=False)
    expected = (G[:, 0::2] + G[:, 1::2]).astype(np.int8)
    expected[2, 1] = expected[9, 4] = expected[9, 5] = -1
    np.testing.assert_array_equal(g.dosages, expected)


def test_gzip_file_reads_identically(tmp_path, ts):
    text = _vcf_text(ts)
    plain = read_vcf(_write(tmp_path, text), _pops_of(ts))
    packed = read_vcf(_write(tmp_path, text, "data.vcf.gz"), _pops_of(ts))
    np.testing.assert_array_equal(plain.genotypes, packed.genotypes)
    np.testing.assert_array_equal(plain.positions, packed.positions)


def test_truncated_gzip_is_a_clear_error(tmp_path, ts):
    path = _write(tmp_path, _vcf_text(ts), "data.vcf.gz")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VcfFormatError, match="corrupt or truncated gzip"):
        read_vcf(path, _pops_of(ts))


def test_haploid_round_trip(tmp_path):
    ts = msprime.sim_ancestry(6, ploidy=1, sequence_length=L, population_size=1000, random_seed=3)
    ts = msprime.sim_mutations(ts, rate=5e-7, model=msprime.BinaryMutationModel(), random_seed=4)
    ts = ts.delete_sites(np.flatnonzero(ts.sites_position == 0))
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), None, drop_monomorphic=False)
    assert g.ploidy == 1 and g.phased and g.population_names == ("all",)
    np.testing.assert_array_equal(g.genotypes, ts.genotype_matrix())


def test_extra_format_fields_and_crlf_line_endings_are_handled(tmp_path, ts):
    lines = _vcf_text(ts).splitlines()
    out = []
    for line in lines:
        if line.startswith("#"):
            out.append(line)
            continue
        cols = line.split("\t")
        cols[8] = "GT:DP:GQ"
        cols[9:] = [c + ":12:99" for c in cols[9:]]
        out.append("\t".join(cols))
    g = read_vcf(_write(tmp_path, "\r\n".join(out) + "\r\n"), _pops_of(ts), drop_monomorphic=False)
    np.testing.assert_array_equal(g.genotypes, ts.genotype_matrix())


def test_gt_not_first_in_format_and_dropped_trailing_fields(tmp_path):
    body = ("1\t10\t.\tA\tG\t.\tPASS\t.\tDP:GT\t3:0|1\t4:1|1\t5\n"   # s3: trailing GT dropped = missing
            "1\t20\t.\tC\tT\t.\tPASS\t.\tGT:DP\t1|0:3\t0|0\t0|1:2\n")
    g = read_vcf(_small(tmp_path, body), POPS3)
    np.testing.assert_array_equal(g.genotypes, [[0, 1, 1, 1, -1, -1], [1, 0, 0, 0, 0, 1]])


def test_mixed_ploidy_individuals_like_chrX(tmp_path):
    body = ("X\t10\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1\t0|0\n"
            "X\t20\t.\tC\tT\t.\tPASS\t.\tGT\t.\t0\t1|1\n"
            "X\t30\t.\tG\tA\t.\tPASS\t.\tGT\t1|1\t.\t0|1\n")
    g = read_vcf(_small(tmp_path, body), POPS3)
    np.testing.assert_array_equal(g.ploidies, [2, 1, 2])
    np.testing.assert_array_equal(g.genotypes, [[0, 1, 1, 0, 0], [-1, -1, 0, 1, 1], [1, 1, -1, 0, 1]])
    np.testing.assert_array_equal(g.dosages, [[1, 1, 0], [-1, 0, 2], [2, -1, 1]])
    np.testing.assert_array_equal(g.populations, [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="different ploidies"):
        g.ploidy


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25), st.integers(1, 5), st.sampled_from([1, 2]), st.floats(0, 0.3), st.booleans(),
       st.integers(1, 6), st.integers(0, 2**31))
def test_any_genotype_matrix_written_as_text_reads_back(n_sites, n_ind, ploidy, missing, phased, batch, seed):
    """Law: read(write(G)) == G for random 0/1/missing matrices, any batch size, phased or not."""
    rng = np.random.default_rng(seed)
    G = rng.integers(0, 2, size=(n_sites, n_ind * ploidy)).astype(np.int8)
    G[rng.random(G.shape) < missing] = -1
    G[0, 0] = 0  # one called allele somewhere, so the ploidy is observable
    sep = "|" if phased else "/"
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
             + "\t".join(f"i{j}" for j in range(n_ind))]
    for site in range(n_sites):
        calls = []
        for j in range(n_ind):
            alleles = ["." if a < 0 else str(a) for a in G[site, j * ploidy:(j + 1) * ploidy]]
            calls.append("." if all(a == "." for a in alleles) and rng.random() < 0.5 else sep.join(alleles))
        lines.append(f"7\t{10 * site + 1}\t.\tC\tA\t.\t.\t.\tGT\t" + "\t".join(calls))
    old_batch = vcf_module._BATCH
    vcf_module._BATCH = batch
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "random.vcf"
            path.write_text("\n".join(lines) + "\n")
            g = read_vcf(path, None, drop_monomorphic=False)
    finally:
        vcf_module._BATCH = old_batch
    np.testing.assert_array_equal(g.calls, G)
    np.testing.assert_array_equal(g.positions, 10 * np.arange(n_sites) + 1)
    assert g.ploidy == ploidy
    called_pairs = ploidy == 2 and bool((G.reshape(n_sites, n_ind, 2).max(axis=2) >= 0).any())
    assert g.phased == (phased or not called_pairs)
    dose = G.reshape(n_sites, n_ind, ploidy).sum(axis=2)
    dose[(G.reshape(n_sites, n_ind, ploidy) < 0).any(axis=2)] = -1
    np.testing.assert_array_equal(g.dosages, dose)


# ------------------------------------------------------------------------------------------ skipping


def test_non_snp_records_are_skipped_and_counted(tmp_path):
    body = ("1\t1\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"
            "1\t2\t.\tA\tG,T\t.\tPASS\t.\tGT\t0|2\t0|0\t1|1\n"       # multiallelic
            "1\t3\t.\tAT\tA\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"        # deletion
            "1\t4\t.\tA\tACC\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"       # insertion
            "1\t5\t.\tA\t<DEL>\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"     # symbolic
            "1\t6\t.\tA\t*\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"         # spanning deletion
            "1\t7\t.\tA\t.\t.\tPASS\t.\tGT\t0|0\t0|0\t0|0\n"         # no ALT
            "1\t8\t.\tN\tA\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"         # not A/C/G/T
            "1\t9\t.\tC\tT\t.\tPASS\t.\tGT\t1|1\t1|1\t1|.\n"         # monomorphic among the samples
            "1\t10\t.\tc\tt\t.\tq10\t.\tGT\t0|1\t0|0\t1|1\n")        # lower case is fine
    g = read_vcf(_small(tmp_path, body), POPS3)
    np.testing.assert_array_equal(g.positions, [1, 10])
    assert g.skipped == {"multiallelic": 1, "symbolic": 2, "indel": 2, "no_alt": 1, "non_acgt": 1,
                         "filtered": 0, "no_ancestral": 0, "monomorphic": 1, "telomere": 0, "masked": 0}
    assert g.n_records == 10
    kept = read_vcf(_small(tmp_path, body), POPS3, drop_monomorphic=False, pass_only=True)
    np.testing.assert_array_equal(kept.positions, [1, 9])
    assert kept.skipped["filtered"] == 1 and kept.skipped["monomorphic"] == 0


def test_ancestral_allele_polarises_genotypes(tmp_path):
    body = ("1\t1\t.\tA\tG\t.\tPASS\tAA=A\tGT\t0|1\t0|0\t1|.\n"        # REF ancestral: unchanged
            "1\t2\t.\tA\tG\t.\tPASS\tDP=3;AA=g|||\tGT\t0|1\t0|0\t1|.\n"  # ALT ancestral: swapped
            "1\t3\t.\tA\tG\t.\tPASS\tAA=.\tGT\t0|1\t0|0\t1|1\n"        # unknown ancestral
            "1\t4\t.\tA\tG\t.\tPASS\tAA=T\tGT\t0|1\t0|0\t1|1\n"        # neither REF nor ALT
            "1\t5\t.\tA\tG\t.\tPASS\tDP=4\tGT\t0|1\t0|0\t1|1\n"        # no AA
            "1\t6\t.\tA\tG\t.\tPASS\tXAA=G;AA=G\tGT\t0|1\t0|0\t1|1\n")  # AA must be its own key
    g = read_vcf(_small(tmp_path, body), POPS3, ancestral_allele="AA")
    assert g.polarised
    np.testing.assert_array_equal(g.positions, [1, 2, 6])
    np.testing.assert_array_equal(g.genotypes, [[0, 1, 0, 0, 1, -1], [1, 0, 1, 1, 0, -1], [1, 0, 1, 1, 0, 0]])
    assert g.skipped["no_ancestral"] == 3
    assert not read_vcf(_small(tmp_path, body), POPS3).polarised


def test_no_usable_sites_error_reports_skip_counts(tmp_path):
    body = ("1\t2\t.\tA\tG,T\t.\tPASS\t.\tGT\t0|2\t0|0\t1|1\n"
            "1\t3\t.\tAT\tA\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n")
    with pytest.raises(ValueError, match=r"no usable biallelic SNPs .*multiallelic 1, indel 1"):
        read_vcf(_small(tmp_path, body), POPS3)


# ------------------------------------------------------------------------------------------ samples


def test_unknown_samples_in_population_file_are_an_error_naming_them(tmp_path, ts):
    pops = dict(_pops_of(ts), ghost_1="A", ghost_2="B")
    with pytest.raises(ValueError, match=r"2 of 9 samples .* not in .*ghost_1, ghost_2"):
        read_vcf(_write(tmp_path, _vcf_text(ts)), pops)


def test_population_file_header_comments_and_whitespace(tmp_path):
    path = tmp_path / "pops.txt"
    path.write_text("# populations of the study\nID   POP\n\ns1 X\ns2\tX   # not allowed?\n")
    with pytest.raises(VcfFormatError, match=r"pops.txt, line 5: expected 2 columns"):
        read_populations(path)
    path.write_text("# populations\nID   POP\n\ns1 X\n  s3\tY\n")
    assert read_populations(path) == {"s1": "X", "s3": "Y"}
    path.write_text("s1 X\ns3 Y\n")                 # no header line
    assert read_populations(path) == {"s1": "X", "s3": "Y"}
    path.write_text("s1 X\ns1 Y\n")
    with pytest.raises(VcfFormatError, match=r"line 2: sample 's1' listed twice"):
        read_populations(path)


# ------------------------------------------------------------------------------------------ malformed


def _good_lines():
    return ["1\t10\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1", "1\t20\t.\tC\tT\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1"]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0", r"line 5: expected 12 tab-separated columns .* got 11"),
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\t0|0", r"line 5: expected 12 .* got 13"),
        ("1\tthirty\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1", r"line 5: POS must be an integer; got 'thirty'"),
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|x\t1|1", r"line 5: sample 's2' has malformed GT '0\|x'"),
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|2\t1|1", r"line 5: .*'s2' .* allele index 2, .* single ALT"),
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0\t1|1", r"line 5: sample 's2' has 1 alleles here but 2"),
        ("1\t15\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1", r"line 5: records not sorted: POS 15 after 20"),
        ("1\t30\t.\tA\tG\t.\tPASS\t.\tDP\t3\t4\t5", r"line 5: FORMAT 'DP' has no GT field"),
        ("2\t30\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1", r"line 5: second chromosome '2' after '1'"),
    ],
)
def test_malformed_line_errors_name_file_and_line(tmp_path, bad_line, message):
    path = _small(tmp_path, "\n".join(_good_lines() + [bad_line]) + "\n")
    # htslib ignores sample columns beyond the header's (a warning on stderr): only the hand parser refuses
    lenient = "got 13" in message
    with pytest.raises(VcfFormatError, match=message) as info:
        read_vcf(path, POPS3, backend="python" if lenient else None)
    assert str(path) in str(info.value)


def test_missing_header_line_is_an_error(tmp_path):
    path = _write(tmp_path, "##fileformat=VCFv4.2\n" + "\n".join(_good_lines()) + "\n")
    with pytest.raises(VcfFormatError, match=r"line 2: data line before the #CHROM header line"):
        read_vcf(path, POPS3)
    path = _write(tmp_path, "##fileformat=VCFv4.2\n")
    with pytest.raises(VcfFormatError, match="no '#CHROM ...' header line"):
        read_vcf(path, POPS3)
    path = _write(tmp_path, "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "1\t1\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(VcfFormatError, match="line 1: header line has no FORMAT column"):
        read_vcf(path, POPS3)


def test_a_malformed_call_inside_a_vectorised_batch_reports_its_own_line(tmp_path):
    lines = [f"1\t{10 * i}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1" for i in range(1, 40)]
    lines[25] = lines[25].replace("0|0", "0|a")
    with pytest.raises(VcfFormatError, match=r"line 28: sample 's2' has malformed GT '0\|a'"):
        read_vcf(_small(tmp_path, "\n".join(lines) + "\n"), POPS3)


# ------------------------------------------------------------------------------------ regions, windows


def test_parse_region_follows_samtools_conventions():
    assert parse_region("chr1:1,000-2,000") == ("chr1", 1000, 2000)
    assert parse_region("chr1:1000-") == ("chr1", 1000, None)
    assert parse_region("chr1:1000") == ("chr1", 1000, 1000)
    assert parse_region("chr1") == ("chr1", 1, None)
    assert parse_region(("2", 5, 10)) == ("2", 5, 10)
    assert parse_region("{HLA-A*01:01}") == ("HLA-A*01:01", 1, None)  # htslib braces for names with ':'
    assert parse_region("{HLA-A*01:01}:5-9") == ("HLA-A*01:01", 5, 9)
    with pytest.raises(ValueError, match="need 1 <= start <= end"):
        parse_region("chr1:200-100")


def test_region_selects_one_based_inclusive_interval(tmp_path, ts):
    G, pos = ts.genotype_matrix(), ts.sites_position.astype(np.int64)
    a, b = int(pos[10]), int(pos[30])  # both ends are sites: they must be included
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), _pops_of(ts), region=f"1:{a}-{b}", drop_monomorphic=False)
    np.testing.assert_array_equal(g.absolute_positions, pos[10:31])
    np.testing.assert_array_equal(g.positions, pos[10:31] - (a - 1))  # 1-based within the region
    assert g.offset == a - 1
    np.testing.assert_array_equal(g.genotypes, G[10:31])
    assert (g.start, g.end, g.sequence_length) == (a, b, b - a + 1)


def test_region_picks_a_chromosome_from_a_multi_chromosome_file(tmp_path):
    body = ("1\t10\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"
            "2\t5\t.\tA\tG\t.\tPASS\t.\tGT\t1|1\t0|0\t1|0\n"
            "2\t7\t.\tA\tG\t.\tPASS\t.\tGT\t0|0\t0|1\t0|0\n"
            "3\t1\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n")
    g = read_vcf(_small(tmp_path, body), POPS3, region="2")
    assert g.chromosome == "2"
    np.testing.assert_array_equal(g.positions, [5, 7])
    with pytest.raises(ValueError, match=r"no records on chr9.*chromosomes in the file: 1, 2, 3"):
        read_vcf(_small(tmp_path, body), POPS3, region="chr9")


def test_windows_of_fixed_length_have_relative_positions(tmp_path, ts):
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), _pops_of(ts), drop_monomorphic=False)
    windows = g.windows(5000)
    assert len(windows) == L // 5000
    for k, w in enumerate(windows):
        assert isinstance(w, VcfGenotypes) and w.sequence_length == 5000
        assert w.start == 1 + 5000 * k and w.end == 5000 * (k + 1) and w.offset == 5000 * k
        assert np.all((w.positions >= 1) & (w.positions <= 5000))
        np.testing.assert_array_equal(w.absolute_positions, g.positions[(g.positions >= w.start)
                                                                         & (g.positions <= w.end)])
    np.testing.assert_array_equal(np.concatenate([w.genotypes for w in windows]), g.genotypes)
    assert len(g.windows(6000)) == 3 and len(g.windows(6000, keep_partial=True)) == 4
    assert g.windows(6000, keep_partial=True)[-1].sequence_length == L - 18000
    assert len(g.windows(5000, step_bp=2500)) == 7
    inner = windows[1].windows(1000)[2]            # windows of windows use the same coordinates
    assert (inner.start, inner.end) == (7001, 8000)
    np.testing.assert_array_equal(inner.absolute_positions,
                                  g.positions[(g.positions >= 7001) & (g.positions <= 8000)])
    assert all(w.num_sites >= 3 for w in g.windows(1000, min_sites=3))


def test_windows_of_n_snps(tmp_path, ts):
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), _pops_of(ts), drop_monomorphic=False)
    windows = g.windows_by_snps(10)
    assert len(windows) == g.num_sites // 10
    for k, w in enumerate(windows):
        assert w.num_sites == 10 and w.positions[0] == 1
        assert w.start == g.positions[10 * k] and w.end == g.positions[10 * k + 9]
        assert w.sequence_length == w.positions[-1]
        np.testing.assert_array_equal(w.genotypes, g.genotypes[10 * k:10 * k + 10])
        np.testing.assert_array_equal(w.populations, g.populations)
    assert len(g.windows_by_snps(10, keep_partial=True)) == -(-g.num_sites // 10)
    assert len(g.windows_by_snps(10, step=5)) == (g.num_sites - 10) // 5 + 1
    with pytest.raises(ValueError, match="n_snps must be a positive integer"):
        g.windows_by_snps(0)


def test_summary_mentions_counts(tmp_path, ts):
    g = read_vcf(_write(tmp_path, _vcf_text(ts)), {s: p for s, p in _pops_of(ts).items() if p == "A"})
    text = g.summary()
    assert "4 A" in text and "phased" in text and "3 VCF samples not in the population file" in text


def test_subsample_draws_whole_individuals_per_population_and_segregating_drops_monomorphic_sites():
    from popsim.realdata.vcf import VcfGenotypes

    calls = np.array([[0, 1, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]], dtype=np.int8)
    data = VcfGenotypes(calls=calls, positions=np.array([10, 20, 30]), chromosome="1",
                        samples=("a", "b", "c", "d"), population_names=("P", "Q"),
                        individual_populations=np.array([0, 0, 1, 1]), ploidies=np.array([2, 2, 2, 2]),
                        phased=True, start=1, end=100)
    small = data.subsample({"P": 1, "Q": 1}, seed=4)
    assert small.num_individuals == 2 and small.population_sizes == {"P": 1, "Q": 1}
    for k, sample in enumerate(small.samples):
        column = 2 * data.samples.index(sample)
        np.testing.assert_array_equal(small.calls[:, 2 * k:2 * k + 2], calls[:, column:column + 2])
    assert data.subsample({"P": 1, "Q": 1}, seed=4).samples == small.samples
    assert data.segregating().positions.tolist() == [10, 20]
    kept = data.segregating()
    assert kept.segregating() is kept  # nothing left to drop: the same object
    with pytest.raises(ValueError, match="population 'P' has 2 individuals; cannot draw 3"):
        data.subsample({"P": 3, "Q": 1}, seed=0)


def test_a_record_at_pos_0_is_a_telomere_and_counted_as_skipped(tmp_path):
    body = ("1\t0\t.\tA\tT\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n"
            "1\t5\t.\tA\tT\t.\tPASS\t.\tGT\t0|1\t0|0\t1|1\n")
    g = read_vcf(_small(tmp_path, body), POPS3)
    assert g.positions.tolist() == [5] and g.skipped["telomere"] == 1


def test_directories_given_as_vcf_or_population_file_are_named(tmp_path):
    with pytest.raises(ValueError, match="is a directory; expected a .vcf"):
        read_vcf(tmp_path)
    with pytest.raises(ValueError, match="population file .* is a directory"):
        read_populations(tmp_path)


# --------------------------------------------------------------------------------- multiallelic split


def test_multiallelic_records_split_into_one_biallelic_record_per_alt_as_bcftools_norm(tmp_path):
    header = ('##fileformat=VCFv4.2\n##INFO=<ID=AA,Number=1,Type=String,Description="Ancestral">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n")
    body = ("1\t2\t.\tA\tC,G\t.\tPASS\tAA=A\tGT\t1|2\t0|0\t2|.\n"      # two SNP ALTs: two records at POS 2
            "1\t3\t.\tA\tC,AT,*\t.\tPASS\tAA=C\tGT\t1|2\t0|3\t1|1\n"   # C kept (AA=C: polarised), AT indel, * symbolic
            "1\t4\t.\tG\tT\t.\tPASS\tAA=G\tGT\t0|1\t0|0\t1|1\n"        # biallelic, unchanged
            "1\t5\t.\tC\tA,T\t.\tq10\tAA=C\tGT\t0|1\t2|0\t1|1\n")      # filtered (with pass_only)
    path = _small(tmp_path, body, header=header)
    skipped = read_vcf(path, POPS3)
    assert skipped.skipped["multiallelic"] == 3 and skipped.n_split == 0
    np.testing.assert_array_equal(skipped.positions, [4])
    g = read_vcf(path, POPS3, multiallelic="split")
    np.testing.assert_array_equal(g.positions, [2, 2, 3, 4, 5, 5])
    np.testing.assert_array_equal(g.calls, [[1, 0, 0, 0, 0, -1],    # A>C: carriers of C are 1, G and REF 0
                                            [0, 1, 0, 0, 1, -1],    # A>G
                                            [1, 0, 0, 0, 1, 1],     # A>C
                                            [0, 1, 0, 0, 1, 1],
                                            [0, 1, 0, 0, 1, 1],     # C>A
                                            [0, 0, 1, 0, 0, 0]])    # C>T
    assert g.n_split == 3 and g.skipped["multiallelic"] == 0
    assert g.skipped["indel"] == 1 and g.skipped["symbolic"] == 1 and g.n_records == 4
    assert "3 multiallelic records split" in g.summary()
    polar = read_vcf(path, POPS3, multiallelic="split", ancestral_allele="AA", pass_only=True)
    np.testing.assert_array_equal(polar.positions, [2, 2, 3, 4])
    np.testing.assert_array_equal(polar.calls[2], [0, 1, 1, 1, 0, 0])  # AA=C: C is 0, the others 1
    assert polar.skipped["filtered"] == 2
    with pytest.raises(ValueError, match="multiallelic must be one of skip, split; got 'keep'"):
        vcf_module.read_vcf(path, POPS3, multiallelic="keep")
    bad = _small(tmp_path, "1\t2\t.\tA\tC,G\t.\tPASS\t.\tGT\t1|3\t0|0\t0|0\n", name="bad.vcf")
    with pytest.raises(VcfFormatError, match=r"allele index 3, but the record has 2 ALT alleles"):
        vcf_module.read_vcf(bad, POPS3, multiallelic="split", backend="python")
    with pytest.raises(VcfFormatError, match=r"allele index 3"):
        vcf_module.read_vcf(bad, POPS3, multiallelic="split", backend="htslib")
