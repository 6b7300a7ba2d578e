"""Datasets: chunked writing, exact resume, partial chunks never valid, streaming, splits, raw replicates."""

import json
from dataclasses import replace

import numpy as np
import pytest

from popsim.features.images import GenotypeImage
from popsim.sim.dataset import Dataset, simulate_dataset
from popsim.sim.simulate import SimulationSettings, simulate

FLAGSHIP = ["flagship_split", "flagship_im", "flagship_sc"]
TRANSFORM = GenotypeImage(n_snps=32, sort_rows="similarity", encoding="pm1", distance_channel=True)
SMALL = SimulationSettings(sequence_length=2_000, n_loci=2)


def make(path, n=4, settings=None, **kwargs):
    settings = replace(SMALL, transform=TRANSFORM, keep_genotypes=True) if settings is None else settings
    arguments = dict(chunk_size=5, progress=False)
    arguments.update(kwargs)
    return simulate_dataset(path, FLAGSHIP, n, 11, settings, **arguments)


def chunk_contents(path):
    out = {}
    for chunk in sorted(path.glob("chunk-*.npz")):
        with np.load(chunk) as data:
            out[chunk.name] = {key: data[key].tobytes() for key in data.files}
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "data"
    return make(path)


def test_dataset_holds_the_same_images_labels_params_and_seeds_as_simulate(reference):
    sim = simulate(FLAGSHIP, 4, 11, settings=replace(SMALL, transform=TRANSFORM))
    x, y = reference.arrays()
    assert x.shape == (12, 48, 32, 2) and x.dtype == np.float32
    assert np.array_equal(x, sim.images()) and np.array_equal(y, sim.labels)
    assert np.array_equal(reference.params, sim.params, equal_nan=True)
    assert np.array_equal(reference.seeds, sim.seeds)


def test_images_are_stored_as_int8_in_chunks_with_a_manifest(reference):
    with np.load(reference.path / "chunk-000000.npz") as data:
        assert data["image"].dtype == np.int8 and data["image"].shape == (5, 48, 32, 1)
    metadata = json.loads((reference.path / "metadata.json").read_text())
    assert metadata["complete"] and metadata["n_chunks"] == 3
    assert metadata["config"]["settings"]["transform"] == TRANSFORM.to_dict()
    assert metadata["scenarios"][2]["priors"]["T_contact"]["low"] == "0.02 * T_split"
    assert "demes_at_reference_params" in metadata["scenarios"][0] and "msprime" in metadata["versions"]


def test_interrupted_run_resumes_to_exactly_the_uninterrupted_result(tmp_path, reference):
    partial = make(tmp_path / "data", stop_after_chunks=1)
    assert len(partial) == 5 and not partial.complete
    with pytest.raises(ValueError, match="is incomplete"):
        Dataset(tmp_path / "data")
    # A crash in the middle of writing leaves only a hidden temporary file, which is never read as a chunk.
    (tmp_path / "data" / ".chunk-000001.npz.xyz.partial").write_bytes(b"PK\x03\x04 truncated")
    assert len(Dataset(tmp_path / "data", allow_incomplete=True)) == 5
    resumed = make(tmp_path / "data", workers=2)
    assert resumed.complete and not list((tmp_path / "data").glob(".*partial"))
    assert chunk_contents(tmp_path / "data") == chunk_contents(reference.path)


def test_resume_with_another_configuration_is_refused(tmp_path):
    make(tmp_path / "data", n=1)
    with pytest.raises(ValueError, match="was started with another configuration"):
        make(tmp_path / "data", n=1, chunk_size=2)


def test_batches_stream_every_requested_replicate_once_in_a_seeded_order(reference):
    train, _, _ = reference.split((0.5, 0.25, 0.25))
    batches = list(reference.batches(batch_size=4, indices=train, seed=1, buffer_chunks=1))
    seen = np.concatenate([index for _, _, index in batches])
    assert sorted(seen.tolist()) == train.tolist()
    assert all(x.shape[1:] == (48, 32, 2) and len(x) == len(y) <= 4 for x, y, _ in batches)
    x0, y0, index0 = batches[0]
    assert np.array_equal(y0, reference.labels[index0]) and np.array_equal(x0, reference.images(index0))
    again = [index for _, _, index in reference.batches(batch_size=4, indices=train, seed=1, buffer_chunks=1)]
    assert all(np.array_equal(a, b) for a, b in zip(again, [i for _, _, i in batches]))


def test_split_is_contiguous_disjoint_and_balanced(reference):
    train, validation, test = reference.split((0.5, 0.25, 0.25))
    assert np.array_equal(np.concatenate([train, validation, test]), np.arange(12))
    for part in (train, validation, test):
        counts = np.bincount(reference.labels[part], minlength=3)
        assert counts.min() == counts.max()


def test_iter_replicates_gives_raw_genotypes_positions_and_populations(reference):
    sim = simulate(FLAGSHIP, 4, 11, settings=SMALL)
    records = list(reference.iter_replicates())
    assert len(records) == 12
    for record, replicate in zip(records, sim.replicates):
        assert np.array_equal(record.genotypes, replicate.genotypes)
        assert np.array_equal(record.positions, replicate.positions)
        assert np.array_equal(record.locus, replicate.locus)
        assert record.params == replicate.params
    assert records[0].populations == ["A"] * 24 + ["B"] * 24 and records[0].sequence_length == 2_000


def test_statistics_table_equals_the_statistics_of_each_replicate_and_is_cached(reference, tmp_path):
    from popsim.features.stats import compute_statistics

    records = list(reference.iter_replicates())
    table = reference.statistics_table("t1", cache=tmp_path / "stats.npz")
    assert table.values.shape == (12, 8) and (tmp_path / "stats.npz").exists()
    expected = compute_statistics(records[5].genotypes, 2 * 2_000, np.array(records[5].populations), "t1")
    np.testing.assert_allclose(table.values[5], list(expected.values()), rtol=1e-12)
    per_locus = reference.statistics_table("t1", per_bp=False)
    assert not np.allclose(per_locus.values, table.values)
    again = reference.statistics_table("ignored when cached", cache=tmp_path / "stats.npz")
    np.testing.assert_array_equal(again.values, table.values)


def test_dataset_describes_its_sample_and_sites(reference):
    assert reference.population_names == ["A", "B"] and reference.region_bp == 4_000
    assert reference.sites_per_locus.shape == (12, 2) and reference.seed == 11
    assert reference.sites_per_locus.sum(axis=1).tolist() == [len(r.positions) for r in reference.iter_replicates()]


def test_info_summarises_the_dataset(reference):
    text = reference.info()
    assert "complete" in text and "flagship_sc" in text and "48 haplotypes" in text


def test_bad_dataset_arguments_raise_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs transform=GenotypeImage"):
        simulate_dataset(tmp_path / "x", FLAGSHIP, 1, 0)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1; got 0"):
        make(tmp_path / "y", chunk_size=0)
    with pytest.raises(ValueError, match="expected the same samples in every scenario"):
        simulate_dataset(tmp_path / "z", ["flagship_split", "mosquito_im"], 1, 0,
                         settings=SimulationSettings(transform=TRANSFORM))
    with pytest.raises(FileNotFoundError, match="has no metadata.json"):
        Dataset(tmp_path)


def test_statistics_are_stored_per_replicate_with_their_names(tmp_path):
    from tests.popsim.sim.test_simulate import segregating_sites_per_population

    dataset = simulate_dataset(tmp_path / "stats", FLAGSHIP, 2, 11,
                               settings=replace(SMALL, statistics=segregating_sites_per_population), chunk_size=4,
                               progress=False)
    sim = simulate(FLAGSHIP, 2, 11, settings=replace(SMALL, statistics=segregating_sites_per_population))
    assert dataset.statistic_names == ["S", "S_A", "S_B"]
    assert np.array_equal(dataset.statistics, sim.statistics()[1])
    assert "statistics     tests.popsim.sim.test_simulate:segregating_sites_per_population" in dataset.info()
