"""Specification of popsim.realdata.bundle: one file holds the network and how its inputs were made.

The shared fixture simulates two scenarios a tiny network separates easily — a constant-size population and
the same population squeezed through a strong recent bottleneck (far fewer, younger SNPs) — trains a tiny
CNN on their genotype images, and writes "mystery" VCFs with tskit from fresh simulations of each scenario.
``tests/popsim/realdata/test_predict.py`` reuses it (``trained()``, ``mystery_vcf()``).
"""

import atexit
import functools
import shutil
import tempfile
import warnings
from pathlib import Path

import msprime
import numpy as np
import pytest

from minidl import Adam, Conv2D, Dense, GlobalAveragePooling2D, Input, Sequential, load_model
from minidl.calibration import TemperatureScaling
from minidl.model import load_metadata
from minidl.preprocessing import StandardScaler
from minidl.threads import limit_threads
from popsim.features.images import GenotypeImage
from popsim.features.stats import statistics_table
from popsim.realdata.bundle import BundleWarning, MismatchError, ModelBundle
from popsim.realdata.vcf import read_vcf
from popsim.realdata.windows import WindowPredictions
from popsim.sim.dataset import simulate_dataset
from popsim.sim.priors import Fixed, Uniform
from popsim.sim.scenarios import Scenario
from popsim.sim.simulate import SimulationSettings

LOCUS_BP = 20_000
N_WINDOWS = 12
MUTATION_RATE = 1e-7
DEFAULTS = {"sequence_length": LOCUS_BP, "mutation_rate": MUTATION_RATE, "recombination_rate": 1e-8, "n_loci": 1}
STATISTICS = ["S", "pi", "tajimas_d"]


def _constant(p):
    demography = msprime.Demography()
    demography.add_population(name="pop", initial_size=p["N"])
    return demography


def _bottleneck(p):
    demography = _constant(p)
    # Backwards in time: the population is N_b from T to T + 1000 generations ago, long enough for all
    # lineages to coalesce inside the bottleneck — few, recent SNPs.
    demography.add_population_parameters_change(time=p["T"], initial_size=p["N_b"], population="pop")
    demography.add_population_parameters_change(time=p["T"] + 1000, initial_size=p["N"], population="pop")
    return demography


def scenarios(individuals=8):
    constant = Scenario("constant", {"pop": individuals}, {"N": Uniform(8_000, 12_000)}, _constant,
                        "constant size N", DEFAULTS)
    bottleneck = Scenario("bottleneck", {"pop": individuals},
                          {"N": Uniform(8_000, 12_000), "N_b": Fixed(50), "T": Uniform(50, 150)}, _bottleneck,
                          "size N, squeezed to 50 individuals from T to T + 1000 generations ago", DEFAULTS)
    return {"constant": constant, "bottleneck": bottleneck}


def _tmpdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="popsim_bundle_test_"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.lru_cache(maxsize=None)
def dataset():
    """60 replicates per scenario, images of 32 SNPs with a distance channel, raw genotypes kept."""
    transform = GenotypeImage(n_snps=32, snp_selection="even", distance_channel=True)
    return simulate_dataset(_tmpdir() / "train", list(scenarios().values()), 60, seed=5,
                            settings=SimulationSettings(transform=transform, keep_genotypes=True), progress=False)


def tiny_cnn(shape, outputs=2, activation="softmax", seed=0):
    model = Sequential([Input(shape), Conv2D(4, (1, 3), activation="relu"), GlobalAveragePooling2D(),
                        Dense(outputs, activation=activation)], seed=seed)
    model.compile(Adam(0.05), "sparse_categorical_crossentropy" if activation == "softmax" else "mse")
    return model


@functools.lru_cache(maxsize=None)
def trained():
    """(bundle, path of the saved bundle): the tiny CNN trained on the dataset, calibrated, saved."""
    ds = dataset()
    x, y = ds.arrays()
    model = tiny_cnn(ds.image_shape)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    calibration = TemperatureScaling.from_config({"input": "probs", "t_min": 0.01, "t_max": 100.0, "tol": 1e-7,
                                                  "temperature": 1.5, "n_classes": 2})
    bundle = ModelBundle.from_dataset(model, ds, "classification", calibration=calibration)
    path = bundle.save(_tmpdir() / "bundle.npz")
    return bundle, path


@functools.lru_cache(maxsize=None)
def mystery_vcf(scenario="constant", individuals=8, seed=1, windows=N_WINDOWS):
    """(VCF path, population file path): a chromosome of ``windows`` loci simulated under ``scenario``."""
    chosen = scenarios(individuals)[scenario]
    params = chosen.sample_params(np.random.default_rng(seed))
    ts = msprime.sim_ancestry({"pop": individuals}, demography=chosen.demography(params),
                              sequence_length=windows * LOCUS_BP, recombination_rate=1e-8, random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=MUTATION_RATE, model=msprime.BinaryMutationModel(),
                               discrete_genome=True, random_seed=seed + 1)
    ts = ts.delete_sites(np.flatnonzero(ts.sites_position == 0))  # VCF POS 0 is not allowed
    folder = _tmpdir()
    vcf = folder / f"{scenario}.vcf"
    with open(vcf, "w") as fh:
        ts.write_vcf(fh)
    pops = folder / "pops.tsv"
    pops.write_text("sample\tpopulation\n" + "".join(f"tsk_{i}\tpop\n" for i in range(individuals)))
    return vcf, pops


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks on a shared 2-core machine: one numba/BLAS thread is many times faster than two."""
    with limit_threads(1):
        yield


# ------------------------------------------------------------------------------------------- round trip


def test_bundle_round_trip_gives_identical_predictions_and_restores_transform():
    bundle, path = trained()
    loaded = ModelBundle.load(path)
    x, _ = dataset().arrays(np.arange(10))
    np.testing.assert_array_equal(loaded.predict_images(x), bundle.predict_images(x))
    np.testing.assert_array_equal(loaded.predict_images(x, calibrated=False), bundle.predict_images(x, calibrated=False))
    assert loaded.transform == dataset().transform
    assert loaded.names == ["constant", "bottleneck"] and loaded.kind == "classification"
    assert loaded.calibration.temperature_ == 1.5
    assert loaded.sample_sizes == {"pop": 8} and loaded.phased and loaded.window_bp == LOCUS_BP
    assert [s["name"] for s in loaded.scenarios] == ["constant", "bottleneck"]
    assert "demes_at_reference_params" in loaded.scenarios[1]
    assert loaded.training_sites["n"] == 120 and loaded.training_sites["min"] < 32 < loaded.training_sites["max"]


def test_bundle_file_is_a_plain_minidl_model_file():
    bundle, path = trained()
    x, _ = dataset().arrays(np.arange(4))
    np.testing.assert_array_equal(load_model(path).predict(x), bundle.model.predict(x))
    assert load_metadata(path)["format"] == "popsim-model-bundle"
    assert set(load_metadata(path)["versions"]) >= {"popsim", "minidl", "msprime", "tskit", "dataset"}


def test_calibration_softens_probabilities_without_changing_the_class():
    bundle, _ = trained()
    x, _ = dataset().arrays(np.arange(20))
    raw, calibrated = bundle.predict_images(x, calibrated=False), bundle.predict_images(x)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1, atol=1e-9)
    assert np.array_equal(raw.argmax(axis=1), calibrated.argmax(axis=1))
    assert np.all(calibrated.max(axis=1) <= raw.max(axis=1) + 1e-9)  # T = 1.5 > 1 softens


def test_regression_bundle_inverts_the_target_scaler_after_loading(tmp_path):
    ds = dataset()
    column = ds.parameter_names.index("N")
    scaler = StandardScaler(log=True).fit(ds.params[:, [column]])
    model = tiny_cnn(ds.image_shape, outputs=1, activation=None, seed=3)
    bundle = ModelBundle.from_dataset(model, ds, "regression", target_names=["N"], target_scaler=scaler)
    loaded = ModelBundle.load(bundle.save(tmp_path / "regression.npz"))
    x, _ = ds.arrays(np.arange(6))
    estimates = loaded.predict_images(x)
    np.testing.assert_allclose(estimates, scaler.inverse_transform(model.predict(x)), rtol=1e-6)
    np.testing.assert_array_equal(estimates, bundle.predict_images(x))
    assert loaded.target_scaler.log is True and loaded.names == ["N"]
    vcf, pops = mystery_vcf("constant")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)
        result = loaded.predict_vcf(vcf, pops, ref_is_ancestral=True)
    assert result.kind == "regression" and result.values.shape == (N_WINDOWS, 1)
    assert np.all(result.values > 0)  # back on the scale of N (diploid individuals), not log/standardised
    assert [row["name"] for row in result.summary_rows()] == ["N"]


def _statistics(ds):
    populations = np.array(ds.haplotype_populations)
    return statistics_table((r.genotypes for r in ds.iter_replicates()), LOCUS_BP, populations, STATISTICS).values


def test_statistics_bundle_stores_the_training_scaler_and_scales_observed_data_with_it(tmp_path):
    ds = dataset()
    values = _statistics(ds)
    scaler = StandardScaler().fit(values)
    model = Sequential([Input((3,)), Dense(8, activation="relu"), Dense(2, activation="softmax")], seed=1)
    model.compile(Adam(0.05), "sparse_categorical_crossentropy")
    model.fit(scaler.transform(values), ds.labels, epochs=30, batch_size=32, verbose=0)
    bundle = ModelBundle.from_dataset(model, ds, "classification", statistics=STATISTICS, input_scaler=scaler)
    loaded = ModelBundle.load(bundle.save(tmp_path / "stats.npz"))
    assert loaded.statistic_names == ["S", "pi", "tajimas_d"] and loaded.input_kind == "statistics"
    np.testing.assert_array_equal(loaded.input_scaler.mean_, scaler.mean_)
    np.testing.assert_array_equal(loaded.predict_statistics(values[:5]),
                                  model.predict(scaler.transform(values[:5])))
    assert not loaded.phased and not loaded.polarised  # S, pi, D need neither phase nor ancestral alleles
    vcf, pops = mystery_vcf("bottleneck")
    result = loaded.predict_vcf(vcf, pops)  # unpolarised REF/ALT is fine for these statistics
    assert result.values.shape == (N_WINDOWS, 2)
    assert result.verdict().startswith("bottleneck")


def test_model_and_transform_shapes_must_agree():
    ds = dataset()
    wrong = tiny_cnn((16, 64, 2))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(16, 64, 2\).*give \(16, 32, 2\)"):
        ModelBundle.from_dataset(wrong, ds)


def test_a_plain_minidl_model_is_not_a_bundle(tmp_path):
    model = tiny_cnn(dataset().image_shape)
    model.save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="without popsim bundle metadata"):
        ModelBundle.load(tmp_path / "plain.npz")


# ---------------------------------------------------------------------------------- real-data windows


@pytest.mark.parametrize("scenario", ["constant", "bottleneck"])
def test_vcf_of_a_known_scenario_is_recognised(scenario):
    bundle, _ = trained()
    vcf, pops = mystery_vcf(scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)  # bottleneck windows have < 32 SNPs: padded, as simulated
        result = bundle.predict_vcf(vcf, pops, ref_is_ancestral=True)
    assert isinstance(result, WindowPredictions)
    assert len(result) + result.skipped_windows == N_WINDOWS
    assert result.names[int(np.argmax(result.mean()))] == scenario
    assert result.mean()[result.names.index(scenario)] > 0.8
    np.testing.assert_allclose(result.values.sum(axis=1), 1, atol=1e-9)
    assert np.all(np.diff(result.starts) == LOCUS_BP) and np.all(result.ends - result.starts == LOCUS_BP - 1)


def test_windows_use_exactly_the_stored_transform():
    bundle, _ = trained()
    vcf, pops = mystery_vcf("constant")
    data = read_vcf(vcf, pops)
    window = data.windows(LOCUS_BP)[3]
    expected = dataset().transform(window.calls, window.positions, ["pop"] * 16, window.sequence_length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)
        result = bundle.predict_vcf(data, ref_is_ancestral=True)
    np.testing.assert_allclose(result.values[3], bundle.predict_images(expected[None])[0])


def test_wrong_sample_count_is_one_clear_error_and_subsampling_is_explicit():
    bundle, _ = trained()
    vcf, pops = mystery_vcf("constant", individuals=10)
    with pytest.raises(MismatchError, match=r"population 'pop' has 10 individuals in the VCF, the model was "
                                            r"trained on 8 .*--subsample"):
        bundle.predict_vcf(vcf, pops, ref_is_ancestral=True)
    with pytest.warns(BundleWarning, match="subsampled at random"):
        result = bundle.predict_vcf(vcf, pops, ref_is_ancestral=True, subsample=True, seed=3)
    assert result.names[int(np.argmax(result.mean()))] == "constant"


def test_unphased_vcf_for_a_phased_model_is_an_error(tmp_path):
    bundle, _ = trained()
    vcf, pops = mystery_vcf("constant")
    lines = vcf.read_text().splitlines(keepends=True)
    unphased = tmp_path / "unphased.vcf"
    unphased.write_text("".join(line if line.startswith("#") else line.replace("|", "/") for line in lines))
    with pytest.raises(MismatchError, match=r"unphased genotypes .* trained on phased haplotype rows"):
        bundle.predict_vcf(unphased, pops, ref_is_ancestral=True)


def test_a_model_trained_on_unphased_images_accepts_unphased_genotypes(tmp_path):
    transform = GenotypeImage(n_snps=32, snp_selection="even", unphased=True, distance_channel=True)
    model = tiny_cnn(transform.output_shape(16))  # 8 rows: one per diploid individual
    bundle = ModelBundle(model, "classification", ["pop"] * 16, transform=transform,
                         class_names=["constant", "bottleneck"], sequence_length=LOCUS_BP)
    vcf, pops = mystery_vcf("constant")
    unphased = tmp_path / "unphased.vcf"
    unphased.write_text("".join(line if line.startswith("#") else line.replace("|", "/")
                                for line in vcf.read_text().splitlines(keepends=True)))
    assert not bundle.phased
    result = bundle.predict_vcf(unphased, pops, ref_is_ancestral=True)
    window = read_vcf(unphased, pops).windows(LOCUS_BP)[0]
    image = transform(window.calls, window.positions, ["pop"] * 16, LOCUS_BP)  # rows = 0/1/2 dosages
    assert image.shape == (8, 32, 2) and image[..., 0].max() == 2
    np.testing.assert_allclose(result.values[0], bundle.predict_images(image[None])[0])


def test_unpolarised_alleles_for_a_derived_allele_model_are_an_error():
    bundle, _ = trained()
    vcf, pops = mystery_vcf("constant")
    with pytest.raises(MismatchError, match=r"derived-allele encoding '01'.*REF/ALT.*ref_is_ancestral"):
        bundle.predict_vcf(vcf, pops)


def test_population_names_and_order_are_checked_and_all_problems_are_listed_together(tmp_path):
    bundle, _ = trained()
    vcf, _ = mystery_vcf("constant")
    pops = tmp_path / "pops.tsv"
    pops.write_text("".join(f"tsk_{i}\t{'X' if i < 4 else 'pop'}\n" for i in range(8)))
    with pytest.raises(MismatchError) as error:
        bundle.predict_vcf(vcf, pops)
    message = str(error.value)
    assert "(1) populations differ: the model was trained on ['pop'], the population file gives ['X', 'pop']" \
        in message and "(2) the model uses the derived-allele encoding" in message and "\n" not in message


def test_too_few_snps_per_window_is_an_error_and_short_windows_a_warning():
    bundle, _ = trained()
    vcf, pops = mystery_vcf("constant")
    with pytest.raises(MismatchError, match="too few SNPs: no window has at least 10000 segregating SNPs"):
        bundle.predict_vcf(vcf, pops, ref_is_ancestral=True, min_snps=10_000)
    with pytest.raises(MismatchError, match="narrower than the model's images"):
        bundle.predict_vcf(vcf, pops, ref_is_ancestral=True, n_snps_windows=16)
    with pytest.warns(BundleWarning, match="windows of 10000 bp differ from the simulated region of 20000 bp"):
        result = bundle.predict_vcf(vcf, pops, ref_is_ancestral=True, window_bp=10_000)
    assert len(result) + result.skipped_windows == 2 * N_WINDOWS
