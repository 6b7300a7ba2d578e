"""Accessibility masks: BED reading (sorted, merged, errors naming the file), accessible coordinates against a
brute-force count, and the same window mask applied to a data window and to a simulated replicate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popsim.realdata.mask import AccessibilityMask, mask_replicate, read_bed
from popsim.realdata.vcf import VcfGenotypes


def test_bed_intervals_are_sorted_and_merged_per_contig(tmp_path):
    bed = tmp_path / "mask.bed"
    bed.write_text("track name=callable\n# comment\nchr2\t50\t60\nchr1\t30\t40\tx\nchr1\t0\t10\nchr1\t5\t20\n"
                   "chr1\t20\t25\n")
    mask = AccessibilityMask.from_bed(bed)
    np.testing.assert_array_equal(mask.intervals["chr1"], [[0, 25], [30, 40]])  # overlap and touching merged
    np.testing.assert_array_equal(mask.intervals["chr2"], [[50, 60]])
    assert mask.accessible_length("chr1", 1, 40) == 35 and mask.accessible_length("chr2", 1, 1000) == 10
    np.testing.assert_array_equal(mask.contains("chr1", [1, 25, 26, 30, 31, 40, 41]), [1, 1, 0, 0, 1, 1, 0])
    assert not mask.contains("chr3", [1]).any() and mask.accessible_length("chr3", 1, 100) == 0
    np.testing.assert_array_equal(mask.window("chr1", 21, 35), [[0, 5], [10, 15]])
    assert "3 intervals on 2 contig(s), 45 accessible bp" in mask.summary()


@pytest.mark.parametrize("text, message", [
    ("chr1\t10\n", "line 1: expected a BED line 'chrom start end'"),
    ("chr1\t10\t10\n", "line 1: expected a BED line"),
    ("chr1\t-1\t10\n", "line 1: expected a BED line"),
    ("# only a comment\n", "no intervals in the BED file"),
])
def test_bad_bed_files_are_named_with_the_line(tmp_path, text, message):
    bed = tmp_path / "bad.bed"
    bed.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        read_bed(bed)
    assert str(bed) in str(error.value)
    with pytest.raises(ValueError, match="is a directory; expected a text file"):
        read_bed(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_bed(tmp_path / "none.bed")


def test_a_mask_contig_unknown_to_the_data_is_an_error_naming_the_bed(tmp_path):
    bed = tmp_path / "mask.bed"
    bed.write_text("1\t0\t100\n")
    mask = AccessibilityMask.from_bed(bed)
    with pytest.raises(ValueError, match=r"mask.bed: contig '1' of the mask is not a contig of calls.vcf .*chr1"):
        mask.check_contigs({"chr1": 100, "chr2": 50}, "calls.vcf")
    mask.check_contigs({}, "calls.vcf")  # a VCF without ##contig lines: nothing to check against


intervals = st.lists(st.tuples(st.integers(0, 200), st.integers(1, 40)), min_size=0, max_size=8)


@settings(max_examples=60, deadline=None)
@given(intervals, st.integers(1, 220), st.integers(0, 60), st.lists(st.integers(1, 260), max_size=20))
def test_accessible_coordinates_count_the_accessible_bases(pieces, start, length, positions):
    mask = AccessibilityMask.from_intervals({"c": [(a, a + n) for a, n in pieces]})
    accessible = np.zeros(300, dtype=bool)  # accessible[b]: 1-based base b
    for a, n in pieces:
        accessible[a + 1:a + n + 1] = True
    end = start + length
    assert mask.accessible_length("c", start, end) == accessible[start:end + 1].sum()
    positions = np.array(sorted(positions), dtype=np.int64)
    np.testing.assert_array_equal(mask.contains("c", positions), accessible[positions])
    inside = positions[positions >= start]  # sites of the window starting at `start`
    expected = [accessible[start:p + 1].sum() for p in inside]
    np.testing.assert_array_equal(mask.coordinates("c", inside, start), expected)


def test_the_window_mask_applied_to_a_replicate_gives_what_the_data_window_gives():
    """A data window and a simulated replicate laid on it, masked with the same window mask, give the network
    the same sites, accessible positions and accessible length (data 1-based, simulations 0-based)."""
    rng = np.random.default_rng(4)
    mask = AccessibilityMask.from_intervals({"chr1": [(0, 130), (170, 420), (600, 1000)]})
    start, end = 101, 700
    positions = np.sort(rng.choice(np.arange(start, end + 1), size=60, replace=False))
    calls = rng.integers(0, 2, size=(60, 6)).astype(np.int8)
    window = VcfGenotypes(calls=calls, positions=positions - (start - 1), chromosome="chr1", samples=("a", "b", "c"),
                          population_names=("p",), individual_populations=np.zeros(3, np.int32),
                          ploidies=np.full(3, 2, np.int32), phased=True, start=start, end=end)
    kept = mask.apply(window)
    assert kept.skipped["masked"] == int((~mask.contains("chr1", positions)).sum()) > 0
    data_positions = mask.coordinates("chr1", kept.absolute_positions, start)
    data_length = mask.accessible_length("chr1", start, end)
    sim_calls, sim_positions, sim_length = mask_replicate(calls, positions - start, end - start + 1,
                                                          mask.window("chr1", start, end))
    np.testing.assert_array_equal(sim_calls, kept.calls)
    np.testing.assert_array_equal(sim_positions + 1, data_positions)
    assert sim_length == data_length == 30 + 250 + 100  # [100, 700) 0-based
    continuous, moved, _ = mask_replicate(calls[:2], np.array([5.25, 200.5]), 600, [(0, 10), (150, 400)])
    np.testing.assert_allclose(moved, [5.25, 10 + 50.5])  # a continuous position keeps its fraction of a bp


def test_sampled_window_masks_have_the_window_length_and_lie_inside_the_mask():
    mask = AccessibilityMask.from_intervals({"chr1": [(100, 300), (500, 900)], "chr2": [(0, 50)]})
    windows = mask.sample_windows(120, 50, seed=3)
    assert len(windows) == 50
    for w in windows:
        assert w.shape[1] == 2 and (w[:, 0] >= 0).all() and (w[:, 1] <= 120).all()
    assert all(np.array_equal(a, b) for a, b in zip(windows, mask.sample_windows(120, 50, seed=3)))
    assert any((w[:, 1] - w[:, 0]).sum() < 120 for w in windows)  # some windows reach into the gap
    with pytest.raises(ValueError, match="no contig spans a window of 5000 bp"):
        mask.sample_windows(5000, 1, seed=0)
