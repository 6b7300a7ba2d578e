"""Specification of popsim.features.sfs and the spectrum keys of popsim.features.stats: binned spectra equal
tskit's allele_frequency_spectrum (one-way and joint, polarised and not), named columns, missing data, and
the warning for columns that carry no information."""

import warnings

import numpy as np
import pytest

from popsim.features import sfs as F
from popsim.features import stats as S
from tests.popsim.features.test_stats import close, two_population_ts


@pytest.fixture(scope="module")
def tree_sequences():
    return [two_population_ts(seed, discrete_genome=bool(seed % 2), sizes=(5, 7)) for seed in range(11, 15)]


def _sets(ts):
    g, _, pops = S.from_tree_sequence(ts)
    return g, pops, np.flatnonzero(pops == "GN"), np.flatnonzero(pops == "BF")


def test_binned_population_spectrum_with_one_bin_per_class_equals_tskit(tree_sequences):
    for ts in tree_sequences:
        g, pops, a, b = _sets(ts)
        n = {"GN": a.size, "BF": b.size}
        for polarised in (True, False):
            key = "sfs_pop" if polarised else "sfs_folded_pop"
            prefix = "sfs" if polarised else "sfs_folded"
            # Edges 0..n+1: every class 0..n gets its own column, so the columns are the whole spectrum.
            for pop, hap in (("GN", a), ("BF", b)):
                d = S.compute_statistics(g, None, {pop: hap}, [key], sfs_bins=np.arange(n[pop] + 2),
                                         sfs_scale="span")
                theirs = ts.allele_frequency_spectrum([hap], polarised=polarised, span_normalise=False)
                top = n[pop] if polarised else n[pop] // 2
                assert list(d) == [f"{prefix}_{pop}_{i}" for i in range(top + 1)]
                assert close(list(d.values()), theirs[: top + 1])
                assert np.all(theirs[top + 1:] == 0)  # tskit's folded layout: zeros above n/2


def test_binned_joint_spectrum_with_one_bin_per_class_equals_tskit_cell_by_cell(tree_sequences):
    for ts in tree_sequences:
        g, pops, a, b = _sets(ts)
        for polarised in (True, False):
            key = "jsfs" if polarised else "jsfs_folded"
            d = S.compute_statistics(g, None, pops, [key], sfs_bins="all", sfs_scale="span")
            theirs = ts.allele_frequency_spectrum([a, b], polarised=polarised, span_normalise=False)
            seen = np.zeros(theirs.shape, dtype=bool)
            for name, value in d.items():
                x1, x2 = (int(v) for v in name.rsplit("_", 2)[1:])
                assert close(value, theirs[x1, x2]), (name, value, theirs[x1, x2])
                seen[x1, x2] = True
            # Cells not reported are the monomorphic corners and (folded) the mirrored half, all zero in tskit.
            assert np.all(theirs[~seen] == 0)
            assert not seen[0, 0] and not seen[-1, -1]


def test_default_bins_add_up_tskit_classes_and_proportions_sum_to_one(tree_sequences):
    ts = tree_sequences[0]
    g, pops, a, b = _sets(ts)
    n = a.size  # 10 haplotypes in GN: bins 1, 2, 3-5, 6-9
    counts = S.compute_statistics(g, None, pops, ["sfs_pop"], sfs_scale="span")
    xi = ts.allele_frequency_spectrum([a], polarised=True, span_normalise=False)
    assert [k for k in counts if k.startswith("sfs_GN_")] == ["sfs_GN_1", "sfs_GN_2", "sfs_GN_3-5", "sfs_GN_6-9"]
    assert close([counts["sfs_GN_1"], counts["sfs_GN_2"], counts["sfs_GN_3-5"], counts["sfs_GN_6-9"]],
                 [xi[1], xi[2], xi[3:6].sum(), xi[6:n].sum()])
    props = S.compute_statistics(g, None, pops, ["sfs_pop", "jsfs"])
    for prefix in ("sfs_GN_", "sfs_BF_", "jsfs_GN_BF_"):
        assert np.isclose(sum(v for k, v in props.items() if k.startswith(prefix)), 1.0)
    # Per bp: tskit's default span_normalise=True.
    per_bp = S.compute_statistics(g, ts.sequence_length, pops, ["sfs_pop"], sfs_scale="span")
    assert close(per_bp["sfs_GN_1"], ts.allele_frequency_spectrum([a], polarised=True)[1])


def test_joint_default_axis_is_absent_singleton_rare_common_fixed():
    assert F.class_bins(12, joint_axis=True)[1] == ["0", "1", "2-6", "7-11", "12"]
    assert F.class_bins(40)[1] == ["1", "2", "3-5", "6-10", "11-20", "21-39"]
    assert F.class_bins(40, folded=True)[1] == ["1", "2", "3-5", "6-10", "11-20"]


def test_frequency_edges_give_the_same_columns_for_different_sample_sizes():
    edges = [0.0, 0.25, 0.5, 1.0]
    assert F.class_bins(8, edges)[1] == ["0-1", "2-3", "4-8"]      # the last edge 1.0 is included
    assert len(F.class_bins(20, edges)[1]) == 3
    with pytest.raises(ValueError, match="holds no allele-count class"):
        F.class_bins(2, [0.0, 0.1, 0.2, 1.0])


@pytest.mark.parametrize("bins, match", [([3, 2], "strictly increasing"), ([1], "at least two edges"),
                                         ("some", "sfs_bins expected"), ([-1, 2], ">= 0"),
                                         ([0.5, 1.5], r"\[0, 1\]"), ([50, 60], "hold no allele-count class")])
def test_bad_bins_raise_one_clear_error(bins, match):
    with pytest.raises(ValueError, match=match):
        F.class_bins(10, bins)


def test_bad_scale_raises():
    g = np.array([[0, 1, 1, 0]], dtype=np.int8)
    with pytest.raises(ValueError, match="sfs_scale expected"):
        S.compute_statistics(g, None, ["A", "A", "B", "B"], ["sfs_pop"], sfs_scale="percent")


def test_spectra_use_complete_sites_of_the_set_only(tree_sequences):
    g, pops, a, b = _sets(tree_sequences[1])
    rng = np.random.default_rng(3)
    gm = g.copy()
    gm[rng.random(g.shape) < 0.02] = -1
    d = S.compute_statistics(gm, None, pops, ["sfs_pop", "jsfs"], sfs_bins="all", sfs_scale="span")
    complete_a = np.all(gm[:, a] >= 0, axis=1)
    expected = np.bincount(gm[complete_a][:, a].sum(axis=1), minlength=a.size + 1)
    assert close([d[f"sfs_GN_{i}"] for i in range(1, a.size)], expected[1:a.size])
    both = complete_a & np.all(gm[:, b] >= 0, axis=1)
    x1, x2 = gm[both][:, a].sum(axis=1), gm[both][:, b].sum(axis=1)
    assert d["jsfs_GN_BF_1_0"] == np.sum((x1 == 1) & (x2 == 0))


def test_presets_with_spectra_are_one_keyword_away(tree_sequences):
    g, pops, a, b = _sets(tree_sequences[0])
    d = S.compute_statistics(g, 20_000, pops, "default_sfs")
    assert list(d)[: len(S.compute_statistics(g, 20_000, pops, "default"))] == list(
        S.compute_statistics(g, 20_000, pops, "default"))
    assert "sfs_GN_1" in d and "jsfs_GN_BF_1_0" in d and "jsfs_GN_BF_0_1" in d
    t1 = S.compute_statistics(g, 20_000, pops, "t1_sfs")
    assert "fst_tskit_GN_BF" in t1 and "sfs_BF_1" in t1


def test_column_key_names_the_statistic_of_a_column():
    assert S.column_key("S_GN") == "S_pop"
    assert S.column_key("sfs_folded_GN_3-5") == "sfs_folded_pop"
    assert S.column_key("jsfs_folded_GN_BF_0_1") == "jsfs_folded"
    assert S.column_key("theta_h") == "theta_h"
    assert S.column_key("tajimas_d_BF") == "tajimas_d_pop"
    assert S.column_key("sfs_3") == "sfs" and S.column_key("sfs_folded_0") == "sfs_folded"
    assert S.column_key("sfs_GN_3") == "sfs_pop"
    assert S.column_key("nonsense") is None


def test_missing_data_warning_names_complete_site_columns_once_per_table(tree_sequences):
    rng = np.random.default_rng(0)
    reps = []
    for ts in tree_sequences:
        g, pops, _, _ = _sets(ts)
        g = g.copy()
        g[rng.random(g.shape) < 0.3] = -1  # 30 % missing: no site has all 24 haplotypes called
        reps.append(g)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = S.statistics_table(reps, 20_000, pops, ["S", "theta_h", "haplotype_diversity"])
    degenerate = [w for w in caught if issubclass(w.category, S.DegenerateStatisticWarning)]
    assert len(degenerate) == 1
    message = str(degenerate[0].message)
    assert "theta_h" in message and "needs complete sites" in message and "haplotype_diversity" in message
    assert "S:" not in message
    assert set(table.meta["degenerate"]) == {"theta_h", "haplotype_diversity"}
    assert 0.25 < table.meta["missing_fraction"] < 0.35


def test_no_warning_when_every_column_varies(tree_sequences):
    reps = [_sets(ts)[0] for ts in tree_sequences]
    pops = _sets(tree_sequences[0])[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", S.DegenerateStatisticWarning)
        table = S.statistics_table(reps, 20_000, pops, "t1")
    assert table.meta["degenerate"] == {}


def test_spectrum_columns_can_be_selected_back_from_a_statistics_file(tree_sequences):
    from popsim.cli.analysis import select_columns

    g, pops, _, _ = _sets(tree_sequences[0])
    table = S.statistics_table([g, g], 20_000, pops, "default_sfs", warn=False)
    data = {"names": np.array(table.names), "values": table.values, "populations": np.array(["GN", "BF"])}
    picked = select_columns(data, ["sfs_pop", "jsfs"])["names"].tolist()
    assert picked == [n for n in table.names if n.startswith(("sfs_GN_", "sfs_BF_", "jsfs_GN_BF_"))]


def test_complete_site_columns_mostly_zero_with_missing_data_are_reported_too():
    names = ["theta_h", "pi"]
    values = np.column_stack([[0, 0, 0, 0.3], [1.0, 2.0, 0.0, 0.0]])
    found = S.degenerate_columns(names, values, missing_fraction=0.15)
    assert list(found) == ["theta_h"] and found["theta_h"].startswith("0 in 3 of 4 rows: theta_h needs complete")
    assert S.degenerate_columns(names, values, missing_fraction=0.0) == {}   # clean data: sparse, not broken
