"""Statistics on the data the image sees: the transform's missing-data injection (same seed, same mask) reaches
SummaryStatistics(data="masked" | "image"), and columns left without information are named once, with why."""

import warnings

import numpy as np
import pytest

from popsim.features.images import GenotypeImage
from popsim.features.stats import DegenerateStatisticWarning, compute_statistics
from popsim.sim.simulate import SimulationSettings, SummaryStatistics, simulate

# pm1 encoding: every called genotype is ±1, so the image's zeros are exactly its missing calls.
TRANSFORM = GenotypeImage(n_snps=24, snp_selection="even", encoding="pm1", missing_rate=0.15)


def run(data, preset="default", n=3, transform=TRANSFORM):
    settings = SimulationSettings(sequence_length=4_000, n_loci=2, transform=transform, keep_genotypes=True,
                                  statistics=SummaryStatistics(preset, data=data))
    return simulate(["flagship_split", "flagship_im"], n, seed=7, settings=settings)


@pytest.fixture(scope="module")
def masked():
    return run("image")


def _observed(transform, r, sequence_length=4_000, n_loci=2, sites="image"):
    return transform.observed_genotypes(r.genotypes, r.positions + r.locus * float(sequence_length),
                                        sequence_length * n_loci, seed=int(r.seeds[3]), sites=sites)


def test_image_snps_carry_exactly_the_images_missing_calls(masked):
    for r in masked.replicates:
        observed = _observed(TRANSFORM, r)                      # (image SNPs, haplotypes), -1 missing
        image_missing = r.image[:, : observed.shape[0], 0].T == 0
        assert observed.shape[0] > 0 and np.array_equal(observed < 0, image_missing)
        assert 0.05 < np.mean(observed < 0) < 0.3


def test_masked_sites_extend_the_image_mask_to_every_site(masked):
    r = masked.replicates[0]
    every = _observed(TRANSFORM, r, sites="all")
    assert every.shape == r.genotypes.shape
    image_only = _observed(TRANSFORM, r)
    with_missing_calls = np.count_nonzero(np.any(every < 0, axis=1))
    assert with_missing_calls > image_only.shape[0]              # sites beyond the image get missing calls too
    called = every >= 0
    assert np.array_equal(every[called], r.genotypes[called])    # only calls are removed, none changed


def test_statistics_with_data_image_are_computed_on_the_images_genotypes(masked):
    r = masked.replicates[1]
    expected = compute_statistics(_observed(TRANSFORM, r), 8_000.0, r_populations(masked), "default")
    assert r.statistics == pytest.approx(expected, nan_ok=True)
    clean = compute_statistics(r.genotypes, 8_000.0, r_populations(masked), "default")
    assert r.statistics["pi"] != clean["pi"]


def r_populations(sim):
    return [p for p, count in sim.scenarios[0].samples.items() for _ in range(2 * count)]


def test_complete_site_statistics_are_named_once_with_the_reason():
    sim = run("masked")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names, values = sim.statistics()
    found = [w for w in caught if issubclass(w.category, DegenerateStatisticWarning)]
    assert len(found) == 1
    message = str(found[0].message)
    # 40 haplotypes at 15 % missing: 0.85**40 ≈ 0.15 % of sites complete, none in practice.
    assert "theta_h" in message and "needs complete sites" in message and "15 % of genotypes are missing" in message
    assert "pi:" not in message
    assert np.all(values[:, names.index("theta_h")] == 0)


def test_clean_statistics_need_no_transform_and_masked_ones_do():
    assert run("clean", transform=None).statistics()[1].shape[0] == 6
    with pytest.raises(ValueError, match="needs the image transform"):
        run("masked", transform=None)
    with pytest.raises(ValueError, match="data expected"):
        SummaryStatistics("default", data="noisy")


def test_summary_statistics_repr_keeps_old_fingerprints():
    assert repr(SummaryStatistics("t1")) == "SummaryStatistics(preset='t1', per_bp=True)"
    assert "data='masked'" in repr(SummaryStatistics("t1", data="masked"))
