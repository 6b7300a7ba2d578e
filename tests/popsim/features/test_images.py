"""Genotype images: documented shape, SNP choice, sorting is a permutation within populations, encodings."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popsim.features.images import GenotypeImage, select_snps


def random_data(n_sites=40, n_haplotypes=12, seed=0):
    rng = np.random.default_rng(seed)
    genotypes = (rng.random((n_sites, n_haplotypes)) < 0.3).astype(np.int8)
    positions = np.sort(rng.uniform(0, 10_000, n_sites))
    populations = np.array(["A"] * (n_haplotypes // 2) + ["B"] * (n_haplotypes - n_haplotypes // 2))
    return genotypes, positions, populations


def test_image_has_shape_haplotypes_by_snps_by_channels_as_float32():
    genotypes, positions, populations = random_data()
    image = GenotypeImage(n_snps=16, distance_channel=True)(genotypes, positions, populations, 10_000)
    assert image.shape == (12, 16, 2) and image.dtype == np.float32
    # Channel 0 of the image is the genotype matrix transposed: row = haplotype.
    assert np.array_equal(image[:, :, 0], genotypes[select_snps(positions, 16, "even", None)].T)


def test_snp_selection_first_centre_even():
    positions = np.arange(100) * 10.0
    assert np.array_equal(select_snps(positions, 5, "first", 1000), np.arange(5))
    assert np.array_equal(select_snps(positions, 4, "centre", 1000), np.arange(48, 52))
    assert np.array_equal(select_snps(positions, 3, "even", 1000), [0, 50, 99])


def test_fewer_snps_than_asked_are_zero_padded_on_the_right():
    genotypes, positions, populations = random_data(n_sites=5)
    image = GenotypeImage(n_snps=8, distance_channel=True)(genotypes, positions, populations)
    assert np.array_equal(image[:, :5, 0], genotypes.T)
    assert np.all(image[:, 5:, :] == 0)


def test_distance_channel_is_log1p_of_bp_from_the_previous_snp():
    genotypes, positions, populations = random_data(n_sites=6)
    image = GenotypeImage(n_snps=6, distance_channel=True)(genotypes, positions, populations)
    expected = np.concatenate([[0], np.log1p(np.diff(positions))]).astype(np.float32)
    assert np.allclose(image[0, :, 1], expected) and np.allclose(image[-1, :, 1], expected)


def test_pm1_encoding_makes_the_minor_allele_plus_one_and_missing_zero():
    # Site 0: derived allele in 1 of 4 -> derived is minor. Site 1: derived in 3 of 4 -> ancestral is minor.
    genotypes = np.array([[1, 0, 0, 0], [1, 1, 1, 0], [1, -1, 0, 0]], dtype=np.int8)
    image = GenotypeImage(n_snps=3, encoding="pm1")(genotypes, np.array([1.0, 2, 3]), np.array(["A"] * 4))
    assert image[:, :, 0].T.tolist() == [[1, -1, -1, -1], [-1, -1, -1, 1], [1, 0, -1, -1]]


def test_unphased_rows_are_individuals_with_derived_counts():
    genotypes = np.array([[1, 1, 0, 1], [0, 0, 1, 0]], dtype=np.int8)
    image = GenotypeImage(n_snps=2, unphased=True)(genotypes, np.array([1.0, 2]), np.array(["A", "A", "B", "B"]))
    assert image.shape == (2, 2, 1)
    assert image[:, :, 0].tolist() == [[2, 0], [1, 1]]


def rows_by_population(image, populations):
    return {p: sorted(map(tuple, image[populations == p, :, 0].tolist())) for p in np.unique(populations)}


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), sort=st.sampled_from(["frequency", "similarity"]),
       encoding=st.sampled_from(["01", "pm1"]))
def test_sorting_permutes_rows_only_within_each_population_block(seed, sort, encoding):
    genotypes, positions, populations = random_data(n_sites=10, n_haplotypes=14, seed=seed)
    unsorted = GenotypeImage(n_snps=10, encoding=encoding)(genotypes, positions, populations)
    sorted_ = GenotypeImage(n_snps=10, encoding=encoding, sort_rows=sort)(genotypes, positions, populations)
    assert rows_by_population(sorted_, populations) == rows_by_population(unsorted, populations)


def test_frequency_sort_puts_the_most_common_haplotype_first():
    genotypes = np.array([[0, 1, 1, 0, 1], [0, 1, 1, 1, 1]], dtype=np.int8)
    image = GenotypeImage(n_snps=2, sort_rows="frequency")(genotypes, np.array([1.0, 2]), np.array(["A"] * 5))
    assert image[:, :, 0].tolist() == [[1, 1]] * 3 + [[0, 0], [0, 1]]


def test_population_blocks_are_gathered_in_order_of_first_appearance():
    genotypes = np.array([[0, 1, 0, 1]], dtype=np.int8)
    image = GenotypeImage(n_snps=1)(genotypes, np.array([5.0]), np.array(["B", "A", "B", "A"]))
    assert image[:, 0, 0].tolist() == [0, 0, 1, 1]


def test_missing_data_injection_is_seeded_and_close_to_the_rate():
    genotypes, positions, populations = random_data(n_sites=200, n_haplotypes=50)
    transform = GenotypeImage(n_snps=200, encoding="pm1", missing_rate=0.2)
    a, b = transform(genotypes, positions, populations, seed=3), transform(genotypes, positions, populations, seed=3)
    assert np.array_equal(a, b)
    fraction = (a == 0).mean()
    assert abs(fraction - 0.2) < 4 * np.sqrt(0.2 * 0.8 / a.size)


def test_parameters_round_trip_through_json():
    transform = GenotypeImage(n_snps=64, snp_selection="centre", sort_rows="similarity", encoding="pm1",
                              distance_channel=True, missing_rate=0.05)
    assert GenotypeImage.from_dict(json.loads(transform.to_json())) == transform


def test_real_data_with_missing_genotypes_is_accepted():
    genotypes, positions, populations = random_data()
    genotypes[0, 0] = -1
    image = GenotypeImage(n_snps=10, encoding="01")(genotypes, positions, populations)
    assert image.min() >= 0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_snps": 0}, "n_snps must be an integer >= 1; got 0"),
        ({"snp_selection": "random"}, "snp_selection='random' is unknown"),
        ({"sort_rows": "alphabetical"}, "sort_rows='alphabetical' is unknown"),
        ({"encoding": "pm1", "unphased": True}, "unphased=True needs encoding='01'"),
        ({"missing_rate": 1.5}, "missing_rate must be a number in \\[0, 1\\); got 1.5"),
    ],
)
def test_bad_transform_arguments_raise_one_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        GenotypeImage(**kwargs)


def test_bad_inputs_raise_one_clear_error():
    genotypes, positions, populations = random_data()
    transform = GenotypeImage(n_snps=4)
    with pytest.raises(ValueError, match="positions must have shape \\(40,\\)"):
        transform(genotypes, positions[:-1], populations)
    with pytest.raises(ValueError, match="one label per haplotype"):
        transform(genotypes, positions, populations[:-1])
    with pytest.raises(ValueError, match="needs a seed"):
        GenotypeImage(n_snps=4, missing_rate=0.1)(genotypes, positions, populations)


def test_plot_image_writes_a_png_with_population_blocks(tmp_path):
    from popsim.features.plot import plot_image

    genotypes, positions, populations = random_data()
    image = GenotypeImage(n_snps=16, encoding="pm1")(genotypes, positions, populations)
    plot_image(image, populations, tmp_path / "image.png", title="pm1")
    assert (tmp_path / "image.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="channel=3 is out of range"):
        plot_image(image, channel=3)
