"""stdpopsim catalogue: models with priors (checked against stdpopsim's own demography) and contigs."""

import warnings

import msprime
import numpy as np
import pytest
import stdpopsim

from popsim.sim.catalogue import Contig, GeneticMapUnavailable, catalogue, model_parameters, parse_contig
from popsim.sim.priors import LogUniform, Uniform
from popsim.sim.scenarios import Scenario
from popsim.sim.simulate import SimulationSettings, simulate

SPECIES, MODEL = "AnoGam", "GabonAg1000G_1A17"
# Human chromosome 22 ("22" in stdpopsim 0.3, "chr22" before).
HOMSAP_22 = next(c.id for c in stdpopsim.get_species("HomSap").genome.chromosomes if c.id in ("22", "chr22"))


def stdpopsim_demography():
    return stdpopsim.get_species(SPECIES).get_demographic_model(MODEL).model


def trajectory(demography, steps):
    return demography.debug().population_size_trajectory(steps)[:, 0]


def test_catalogue_model_with_a_prior_on_the_present_size_matches_stdpopsim_elsewhere():
    theirs = stdpopsim_demography()
    present = theirs.populations[0].initial_size
    assert model_parameters(SPECIES, MODEL)["N_GAS"] == pytest.approx(present)
    scenario = Scenario.from_stdpopsim(SPECIES, MODEL, {"GAS": 3}, priors={"N_GAS": LogUniform(1e6, 1e7)})
    params = scenario.sample_params(np.random.default_rng(7))
    ours = scenario.demography(params)
    first_change = min(e.time for e in theirs.events)
    steps = np.concatenate([np.linspace(0, first_change * 0.99, 5), np.geomspace(first_change, 5e4, 200)])
    recent = steps < first_change
    np.testing.assert_allclose(trajectory(ours, steps)[recent], params["N_GAS"])
    np.testing.assert_allclose(trajectory(ours, steps)[~recent], trajectory(theirs, steps)[~recent], rtol=1e-12)
    # At stdpopsim's own value the model is stdpopsim's everywhere.
    np.testing.assert_allclose(trajectory(scenario.demography({"N_GAS": present}), steps), trajectory(theirs, steps),
                               rtol=1e-12)
    # Without priors it is stdpopsim's demography object itself (a copy).
    fixed = Scenario.from_stdpopsim(SPECIES, MODEL, {"GAS": 3})
    np.testing.assert_allclose(trajectory(fixed.demography(), steps), trajectory(theirs, steps))


def test_catalogue_model_simulates_on_a_contig_with_the_chromosome_rates():
    contig = Contig.from_stdpopsim(SPECIES, "2L", left=1_000_000, right=1_002_000)
    chromosome = stdpopsim.get_species(SPECIES).genome.get_chromosome("2L")
    assert contig.length == 2_000 and contig.mutation_rate == chromosome.mutation_rate == 3.5e-9
    assert contig.mean_recombination_rate == pytest.approx(chromosome.recombination_rate)
    scenario = Scenario.from_stdpopsim(SPECIES, MODEL, {"GAS": 3},
                                       priors={"GAS.epochs[0].start_size": Uniform(3e5, 5e5)})
    settings = SimulationSettings(contig=contig, n_loci=1)
    assert (settings.sequence_length, settings.mutation_rate) == (2_000, 3.5e-9)
    result = simulate([scenario], 2, seed=11, settings=settings)
    assert all(r.genotypes.shape[1] == 6 and np.all(r.positions < 2_000) for r in result.replicates)
    assert settings.resolve([scenario]).to_dict()["contig"]["name"] == "AnoGam:2L:1000000-1002000"
    with pytest.raises(ValueError, match="disagrees with the contig's length"):
        SimulationSettings(contig=contig, sequence_length=5)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="is not a name of this model"):
        Scenario.from_stdpopsim(SPECIES, MODEL, {"GAS": 2}, priors={"N_XYZ": Uniform(1, 2)})
    with pytest.raises(ValueError, match="has no demographic model 'nope'"):
        Scenario.from_stdpopsim(SPECIES, "nope", {"GAS": 2})
    with pytest.raises(ValueError, match="has no chromosome '9'"):
        Contig.from_stdpopsim(SPECIES, "9")


def test_a_genetic_map_that_needs_a_download_falls_back_to_the_uniform_rate(tmp_path):
    old = stdpopsim.get_cache_dir()
    stdpopsim.set_cache_dir(tmp_path)  # an empty cache: the map is not there, and nothing is downloaded
    try:
        with pytest.warns(GeneticMapUnavailable, match="needs a download; using the uniform rate"):
            contig = Contig.from_stdpopsim("HomSap", HOMSAP_22, 20_000_000, 20_010_000, genetic_map="HapMapII_GRCh38")
    finally:
        stdpopsim.set_cache_dir(old)
    chromosome = stdpopsim.get_species("HomSap").genome.get_chromosome(HOMSAP_22)
    assert contig.genetic_map is None and contig.recombination_map.num_intervals == 1
    assert contig.mean_recombination_rate == pytest.approx(chromosome.recombination_rate)
    with pytest.raises(ValueError, match="no genetic map 'nope'"):
        Contig.from_stdpopsim(SPECIES, "2L", genetic_map="nope")


def test_parse_contig_and_catalogue_listing():
    contig = parse_contig("AnoGam:3R:0-5000")
    assert contig.length == 5000 and contig.name == "AnoGam:3R:0-5000"
    listed = {entry["species"]: entry for entry in catalogue()}
    assert (MODEL, ["GAS"]) == listed[SPECIES]["models"][0][:2] and "2L" in listed[SPECIES]["chromosomes"]


def test_cli_list_catalogue_and_simulate_a_catalogue_model_on_a_contig(tmp_path, capsys):
    from popsim.cli.main import main
    from popsim.sim.dataset import Dataset

    assert main(["list", "--catalogue"]) == 0
    assert f"stdpopsim:{SPECIES}/{MODEL}  [GAS]" in capsys.readouterr().out
    assert main(["show", f"stdpopsim:{SPECIES}/{MODEL}", "--samples", "GAS=2", "--demes", str(tmp_path / "m.yaml")]) == 0
    assert "Gabon" in capsys.readouterr().out and (tmp_path / "m.yaml").exists()
    out = tmp_path / "ds"
    assert main(["simulate", "--scenarios", f"stdpopsim:{SPECIES}/{MODEL}", "--samples", "GAS=2", "--contig",
                 "AnoGam:2L:0-1000", "--n", "2", "--seed", "3", "--n-snps", "4", "--no-progress", "-o", str(out)]) == 0
    assert Dataset(out).metadata["config"]["settings"]["contig"]["name"] == "AnoGam:2L:0-1000"
