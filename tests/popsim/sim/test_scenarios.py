"""Scenarios: demographies checked with msprime's DemographyDebugger, demes export, drawing, clear errors."""

import demes
import msprime
import numpy as np
import pytest

from popsim.sim.priors import LogUniform, Uniform
from popsim.sim.scenarios import Scenario, get_scenario, list_scenarios, scenario_names


def epochs(scenario, params):
    return scenario.demography(params).debug().epochs


def sizes(epoch, names):
    return {p.name: p.start_size for p in epoch.populations if p.name in names}


@pytest.mark.parametrize("name", scenario_names())
def test_every_builtin_scenario_builds_a_valid_demography_from_its_priors(name):
    scenario = get_scenario(name)
    rng = np.random.default_rng(1)
    for _ in range(3):
        demography = scenario.demography(scenario.sample_params(rng))
        demography.validate()
        graph = scenario.to_demes()
        assert isinstance(graph, demes.Graph)
        # The demes export converts back to an equivalent msprime model.
        assert msprime.Demography.from_demes(graph).num_populations == demography.num_populations


def test_split_has_the_sizes_split_time_and_no_migration():
    scenario = get_scenario("split")
    params = {"N_A": 1000.0, "N_B": 2000.0, "N_ANC": 3000.0, "T_split": 500.0}
    first, second = epochs(scenario, params)
    assert (first.start_time, first.end_time) == (0, 500)
    assert sizes(first, ["A", "B"]) == {"A": 1000, "B": 2000}
    assert np.all(first.migration_matrix == 0)
    assert sizes(second, ["ANC"]) == {"ANC": 3000}


def test_isolation_with_migration_migrates_from_the_present_to_the_split():
    scenario = get_scenario("isolation_with_migration")
    params = {"N_A": 1000.0, "N_B": 2000.0, "N_ANC": 3000.0, "T_split": 500.0, "m": 1e-3}
    first, second = epochs(scenario, params)
    assert first.end_time == 500
    assert first.migration_matrix[0, 1] == first.migration_matrix[1, 0] == 1e-3
    assert np.all(second.migration_matrix == 0)


def test_secondary_contact_migrates_only_since_the_contact():
    scenario = get_scenario("secondary_contact")
    params = {"N_A": 1000.0, "N_B": 2000.0, "N_ANC": 3000.0, "T_split": 500.0, "T_contact": 100.0, "m": 1e-3}
    contact, isolation, ancestral = epochs(scenario, params)
    assert (contact.end_time, isolation.end_time) == (100, 500)
    assert contact.migration_matrix[0, 1] == 1e-3
    assert np.all(isolation.migration_matrix == 0) and np.all(ancestral.migration_matrix == 0)


def test_bottleneck_and_expansion_change_size_at_the_right_times():
    bottleneck = get_scenario("bottleneck")
    e = epochs(bottleneck, {"N": 10000.0, "N_bottleneck": 100.0, "T_end": 50.0, "T_start": 80.0})
    assert [(x.start_time, x.populations[0].start_size) for x in e] == [(0, 10000), (50, 100), (80, 10000)]
    expansion = get_scenario("expansion")
    e = epochs(expansion, {"N": 100000.0, "N_ancestral": 1000.0, "T_growth": 200.0})
    assert e[0].populations[0].start_size == pytest.approx(100000)
    assert e[0].populations[0].end_size == pytest.approx(1000)
    assert e[1].populations[0].start_size == pytest.approx(1000) and e[1].populations[0].growth_rate == 0


def test_mosquito_models_follow_tasks_t1_exactly():
    isolation, im = get_scenario("mosquito_isolation"), get_scenario("mosquito_im")
    for scenario in (isolation, im):
        assert scenario.samples == {"GN": 41, "BF": 99}
        assert scenario.n_haplotypes == 280  # 82 + 198, not 560
        assert scenario.defaults == {
            "sequence_length": 150_000, "mutation_rate": 3.5e-8, "recombination_rate": 1.45e-7, "n_loci": 1
        }
        rng = np.random.default_rng(0)
        split_times = {scenario.sample_params(rng)["T_split"] for _ in range(3000)}
        assert split_times == set(map(float, range(200, 400)))
    params = dict(isolation.reference_params(), T_split=300.0)
    first, second = epochs(isolation, params)
    assert sizes(first, ["GN", "BF"]) == {"GN": 75000, "BF": 150000} and first.end_time == 300
    assert sizes(second, ["ANC"]) == {"ANC": 50000}
    assert np.all(first.migration_matrix == 0)
    first, _ = epochs(im, dict(params, m=0.1))
    assert first.migration_matrix[0, 1] == first.migration_matrix[1, 0] == 0.1


def test_flagship_scenarios_share_samples_and_settings():
    flagship = [get_scenario(n) for n in ("flagship_split", "flagship_im", "flagship_sc")]
    assert all(s.samples == flagship[0].samples and s.defaults == flagship[0].defaults for s in flagship)


def test_draw_writes_a_png(tmp_path):
    path = get_scenario("secondary_contact").draw(tmp_path / "model.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_user_scenario_with_the_same_class():
    def build(p):
        d = msprime.Demography()
        d.add_population(name="pop", initial_size=p["N"])
        return d

    scenario = Scenario("mine", {"pop": 3}, {"N": LogUniform(100, 1000)}, build)
    assert scenario.haplotype_populations() == ["pop"] * 6


def test_scenario_from_demes_yaml_with_placeholders(tmp_path):
    yaml = tmp_path / "model.yaml"
    yaml.write_text(
        "time_units: generations\n"
        "demes:\n"
        "- name: ANC\n  epochs: [{start_size: 1000, end_time: ${T}}]\n"
        "- name: A\n  ancestors: [ANC]\n  epochs: [{start_size: 500}]\n"
        "- name: B\n  ancestors: [ANC]\n  epochs: [{start_size: 800}]\n"
    )
    scenario = Scenario.from_demes(yaml, {"A": 2, "B": 2}, priors={"T": Uniform(100, 200)})
    assert scenario.name == "model"
    first, _ = epochs(scenario, {"T": 150.0})
    assert first.end_time == 150 and sizes(first, ["A", "B"]) == {"A": 500, "B": 800}
    with pytest.raises(ValueError, match="placeholders \\['T'\\] do not match priors \\[\\]"):
        Scenario.from_demes(yaml, {"A": 2})


@pytest.mark.parametrize(
    "params, words",
    [
        ({"N_A": -5.0}, "parameter N_A must be a positive finite number; got -5.0"),
        ({"T_contact": 600.0}, "T_contact=600 must be more recent"),
        ({"m": -1e-3}, "parameter m must be a finite number >= 0"),
    ],
)
def test_invalid_parameters_raise_one_clear_error(params, words):
    scenario = get_scenario("secondary_contact")
    base = {"N_A": 1000.0, "N_B": 2000.0, "N_ANC": 3000.0, "T_split": 500.0, "T_contact": 100.0, "m": 1e-3}
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        scenario.demography({**base, **params})


def test_unknown_population_and_parameter_and_scenario_raise_clear_errors():
    with pytest.raises(ValueError, match="samples population 'C', which is not in the demography"):
        get_scenario("split").with_samples({"A": 2, "C": 2})
    with pytest.raises(ValueError, match="expected exactly \\['N'\\]"):
        get_scenario("constant_size").demography({"N": 1.0, "bogus": 2.0})
    with pytest.raises(KeyError, match="scenario 'nope' is unknown"):
        get_scenario("nope")


def test_library_lists_every_required_model():
    names = {s.name for s in list_scenarios()}
    assert {"constant_size", "bottleneck", "expansion", "split", "isolation_with_migration",
            "secondary_contact", "mosquito_isolation", "mosquito_im"} <= names
