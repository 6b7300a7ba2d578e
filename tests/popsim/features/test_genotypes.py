"""The one segregating-site filter shared by simulations and real data."""

import numpy as np

from popsim.features.genotypes import population_order, segregating_sites


def test_a_site_segregates_when_both_alleles_occur_among_non_missing_calls():
    calls = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0], [-1, 1, 1], [-1, 0, 1], [-1, -1, -1]], dtype=np.int8)
    assert segregating_sites(calls).tolist() == [True, False, False, False, True, False]


def test_extra_dimensions_are_pooled_and_empty_inputs_give_empty_or_false_masks():
    alleles = np.array([[[0, -2], [0, -2]], [[0, 1], [0, 0]]], dtype=np.int8)  # (records, individuals, ploidy)
    assert segregating_sites(alleles).tolist() == [False, True]
    assert segregating_sites(np.zeros((0, 4), np.int8)).shape == (0,)
    assert segregating_sites(np.zeros((2, 0), np.int8)).tolist() == [False, False]


def test_population_order_is_first_appearance():
    assert population_order(["B", "B", "A", "A", "B"]) == ["B", "A"]
