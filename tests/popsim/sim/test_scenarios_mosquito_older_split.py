"""The alternative ("older split") reading of TASKS.md T1: registered, same samples, and it simulates."""

import numpy as np
import pytest

from popsim.sim.scenarios import get_scenario, scenario_names
from popsim.sim.simulate import SimulationSettings, SummaryStatistics, simulate


def test_older_split_scenarios_are_registered_with_the_alternative_scaling():
    assert {"mosquito_isolation_older_split", "mosquito_im_older_split"} <= set(scenario_names())
    literal = get_scenario("mosquito_isolation")
    for name in ("mosquito_isolation_older_split", "mosquito_im_older_split"):
        old = get_scenario(name)
        assert old.samples == literal.samples == {"GN": 41, "BF": 99}
        assert old.defaults == {"sequence_length": 150_000, "mutation_rate": 3.5e-7,
                                "recombination_rate": 1.45e-6, "n_loci": 1}
        params = old.reference_params()
        assert (params["N_GN"], params["N_BF"], params["N_ANC"]) == (7_500, 15_000, 5_000)
        # Same expected diversity per bp (4Nμ) as the literal reading: only T/2N differs.
        assert 4 * params["N_GN"] * old.defaults["mutation_rate"] == pytest.approx(
            4 * 75_000 * literal.defaults["mutation_rate"])
        split_times = {old.sample_params(np.random.default_rng(k))["T_split"] for k in range(400)}
        assert min(split_times) >= 200 and max(split_times) <= 399
    epoch = get_scenario("mosquito_im_older_split").demography(
        dict(get_scenario("mosquito_im_older_split").reference_params(), T_split=300.0)).debug().epochs[0]
    assert epoch.migration_matrix[0, 1] == epoch.migration_matrix[1, 0] == 0.1


def test_older_split_scenarios_simulate_and_isolation_is_more_differentiated():
    result = simulate(["mosquito_isolation_older_split", "mosquito_im_older_split"], 2, seed=3,
                      settings=SimulationSettings(sequence_length=20_000, statistics=SummaryStatistics("t1")))
    labels = np.array([r.label for r in result.replicates])
    fst = np.array([r.statistics["fst_tskit_GN_BF"] for r in result.replicates])
    assert all(r.genotypes.shape[1] == 280 and r.genotypes.shape[0] > 0 for r in result.replicates)
    assert fst[labels == 0].mean() > fst[labels == 1].mean()
