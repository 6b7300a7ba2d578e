"""``SimulationSettings(mutation_model=...)``: msprime's binary model (default) or its own default, JC69
(nucleotides on a discrete genome), and the T1 scenarios as the course's published tables were simulated."""

import msprime
import numpy as np
import pytest

from popsim.sim.scenarios import get_scenario
from popsim.sim.simulate import SimulationSettings, _locus_genotypes, simulate


def test_jc69_sites_with_three_or_four_alleles_are_kept_as_ancestral_versus_derived():
    ts = msprime.sim_ancestry(20, population_size=10_000, sequence_length=2_000, recombination_rate=0,
                              random_seed=4)
    ts = msprime.sim_mutations(ts, rate=2e-6, model=msprime.JC69(), discrete_genome=True, random_seed=5)
    raw = ts.genotype_matrix()
    assert raw.max() >= 2, "the fixture must contain multiallelic sites"
    genotypes, positions = _locus_genotypes(ts)
    # kept: sites where the sample has the ancestral allele and some other one (a site whose sample carries
    # two derived alleles and no ancestral one says "all derived" in 0/1 terms: not segregating)
    polymorphic = np.array([(row == 0).any() and (row > 0).any() for row in raw])
    assert set(np.unique(genotypes)) == {0, 1}
    np.testing.assert_array_equal(genotypes, (raw[polymorphic] > 0).astype(np.int8))
    np.testing.assert_array_equal(positions, ts.sites_position[polymorphic])


def test_jc69_simulates_on_integer_positions_and_is_recorded_only_when_chosen():
    settings = SimulationSettings(sequence_length=5_000, mutation_rate=1e-6, recombination_rate=1e-8, n_loci=1,
                                  discrete_genome=True, mutation_model="jc69")
    sim = simulate("flagship_split", 3, seed=2, settings=settings)
    for r in sim.replicates:
        assert len(r.positions) > 0 and np.all(r.positions == np.round(r.positions))
        assert set(np.unique(r.genotypes)) <= {0, 1}
    assert sim.settings.to_dict()["mutation_model"] == "jc69"
    binary = SimulationSettings(sequence_length=5_000, mutation_rate=1e-6, recombination_rate=1e-8, n_loci=1,
                                keep_genotypes=True)
    assert "mutation_model" not in binary.to_dict()  # datasets written before the option still resume
    # Same seeds, other mutation model: same genealogies, other mutations.
    other = simulate("flagship_split", 3, seed=2, settings=SimulationSettings(
        sequence_length=5_000, mutation_rate=1e-6, recombination_rate=1e-8, n_loci=1, discrete_genome=True))
    assert any(a.genotypes.shape != b.genotypes.shape or np.any(a.genotypes != b.genotypes)
               for a, b in zip(sim.replicates, other.replicates))


@pytest.mark.parametrize("kwargs, words", [
    ({"mutation_model": "jc69"}, "needs discrete_genome=True"),
    ({"mutation_model": "HKY"}, r"mutation_model must be one of \['binary', 'jc69'\]; got 'HKY'"),
    ({"mutation_model": "jc69", "discrete_genome": True, "segregating_sites": 3}, "requires discrete_genome=False"),
])
def test_bad_mutation_models_raise_one_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        SimulationSettings(**kwargs)


def test_published_t1_scenarios_have_the_doubled_sample_and_the_literal_demography():
    for model in ("isolation", "im"):
        published, literal = get_scenario(f"mosquito_{model}_published"), get_scenario(f"mosquito_{model}")
        assert published.samples == {"GN": 82, "BF": 198} and published.n_haplotypes == 560
        assert published.defaults == literal.defaults and published.priors.keys() == literal.priors.keys()
        params = dict(literal.reference_params(), T_split=300.0)
        assert str(published.demography(params).debug()) == str(literal.demography(params).debug())
