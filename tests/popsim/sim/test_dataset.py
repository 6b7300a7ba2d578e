"""Datasets: a zarr store written by the workers, exact resume, integrity checks, streaming, splits, raw replicates."""

import json
import shutil
import tracemalloc
import warnings
from dataclasses import replace

import numpy as np
import pytest

from popsim.features.images import GenotypeImage
from popsim.sim.dataset import Dataset, DatasetIntegrityError, simulate_dataset, verify_dataset
from popsim.sim.simulate import Plan, SimulationSettings, simulate

FLAGSHIP = ["flagship_split", "flagship_im", "flagship_sc"]
TRANSFORM = GenotypeImage(n_snps=32, sort_rows="similarity", encoding="pm1", distance_channel=True)
SMALL = SimulationSettings(sequence_length=2_000, n_loci=2)


def make(path, n=4, settings=None, **kwargs):
    settings = replace(SMALL, transform=TRANSFORM, keep_genotypes=True) if settings is None else settings
    arguments = dict(chunk_size=5, progress=False)
    arguments.update(kwargs)
    return simulate_dataset(path, FLAGSHIP, n, 11, settings, **arguments)


def chunk_contents(path):
    """The decoded content of every recorded chunk, array by array (raw ones included), and its checksums."""
    dataset = Dataset(path, allow_incomplete=True)
    store = dataset._store
    out = {}
    for chunk in dataset._chunks:
        out[chunk] = {name: store.block(name, chunk).tobytes() for name in store.layout}
        if store.keep_genotypes:
            out[chunk].update({f"raw/{k}": v.tobytes() for k, v in store.raw(chunk).items()})
        out[chunk]["checksums"] = store.entries[chunk]["checksums"]
    return out


def read_small_arrays(path):
    """Open a dataset and read its per-replicate arrays (opening alone reads none: they are read lazily)."""
    dataset = Dataset(path)
    return dataset.labels, dataset.params, dataset.seeds, dataset.sites_per_locus


def chunk_file(path, name, chunk):
    """The zarr v3 file of ``chunk`` in array ``name``."""
    ndim = len(json.loads((path / name / "zarr.json").read_text())["shape"])
    return path.joinpath(name, "c", str(chunk), *["0"] * (ndim - 1))


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


def test_images_are_stored_as_int8_zarr_chunks_with_a_manifest(reference):
    import zarr

    group = zarr.open_group(str(reference.path), mode="r")
    image = group["image"]
    assert image.dtype == np.int8 and image.shape == (12, 48, 32, 1) and image.chunks == (5, 48, 32, 1)
    assert [codec.to_dict()["name"] for codec in image.metadata.codecs] == ["bytes", "blosc", "crc32c"]
    assert image.metadata.codecs[1].to_dict()["configuration"]["shuffle"] == "bitshuffle"
    assert image.metadata.codecs[1].to_dict()["configuration"]["cname"] == "zstd"
    assert np.array_equal(image[7], reference._read(np.array([7]), ["image"])["image"][0])  # random access
    metadata = group.attrs["popsim"]
    lines = (reference.path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 4 and {json.loads(line).get("chunk") for line in lines[1:]} == {0, 1, 2}
    assert reference.complete and metadata["n_chunks"] == 3
    assert metadata["config"]["settings"]["transform"] == TRANSFORM.to_dict()
    assert metadata["scenarios"][2]["priors"]["T_contact"]["low"] == "0.02 * T_split"
    assert "demes_at_reference_params" in metadata["scenarios"][0] and "msprime" in metadata["versions"]


def test_interrupted_run_resumes_to_exactly_the_uninterrupted_result(tmp_path, reference):
    partial = make(tmp_path / "data", stop_after_chunks=1)
    assert len(partial) == 5 and not partial.complete
    with pytest.raises(ValueError, match="is incomplete"):
        Dataset(tmp_path / "data")
    # A worker killed while writing chunk 1 leaves a half-written file and no manifest line: not a chunk.
    half = chunk_file(reference.path, "image", 1)
    target = chunk_file(tmp_path / "data", "image", 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(half.read_bytes()[:40])
    with open(tmp_path / "data" / "manifest.jsonl", "a") as handle:
        handle.write('{"chunk": 1, "sta')  # and a manifest line cut short by the kill
    assert len(Dataset(tmp_path / "data", allow_incomplete=True)) == 5
    resumed = make(tmp_path / "data", workers=2)
    assert resumed.complete
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
    with pytest.raises(FileNotFoundError, match="has no zarr.json"):
        Dataset(tmp_path)
    with pytest.raises(ValueError, match="path must be a non-empty directory path; got ''"):
        make("")
    with pytest.raises(ValueError, match="stop_after_chunks must be an integer >= 0 or None; got -1"):
        make(tmp_path / "w", stop_after_chunks=-1)
    with pytest.raises(ValueError, match="workers must be an integer >= 1; got 0"):
        make(tmp_path / "v", workers=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty and is not a popsim dataset"):
        make(tmp_path / "other")


def test_an_old_npz_dataset_is_refused_with_the_fix(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "metadata.json").write_text(json.dumps({"format": "popsim-dataset", "format_version": 1}))
    np.savez_compressed(old / "chunk-000000.npz", image=np.zeros((2, 3), np.int8))
    for attempt in (lambda: Dataset(old), lambda: make(old)):
        with pytest.raises(ValueError, match=r"old format 1 \(metadata.json \+ chunk-\*.npz\).*same `popsim simulate` "
                                             "command"):
            attempt()


def test_statistics_are_stored_per_replicate_with_their_names(tmp_path):
    from tests.popsim.sim.test_simulate import segregating_sites_per_population

    dataset = simulate_dataset(tmp_path / "stats", FLAGSHIP, 2, 11,
                               settings=replace(SMALL, statistics=segregating_sites_per_population), chunk_size=4,
                               progress=False)
    sim = simulate(FLAGSHIP, 2, 11, settings=replace(SMALL, statistics=segregating_sites_per_population))
    assert dataset.statistic_names == ["S", "S_A", "S_B"]
    assert np.array_equal(dataset.statistics, sim.statistics()[1])
    assert "statistics     tests.popsim.sim.test_simulate:segregating_sites_per_population" in dataset.info()


# -- integrity ------------------------------------------------------------------------------------------------
@pytest.fixture
def copy(reference, tmp_path):
    """A fresh copy of the reference store to damage."""
    target = tmp_path / "copy"
    shutil.copytree(reference.path, target)
    return target


def quiet_make(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = make(path, **kwargs)
    return dataset, [str(w.message) for w in caught]


def test_flipped_bytes_in_a_chunk_are_named_on_read_and_re_simulated_on_resume(copy, reference):
    file = chunk_file(copy, "image", 1)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    dataset = Dataset(copy)  # small arrays are sound; the image chunk is checked when read
    with pytest.raises(DatasetIntegrityError, match=r"chunk 1 \(replicates 5..9\) of array 'image' is corrupt"):
        dataset.images([6])
    with pytest.raises(DatasetIntegrityError, match="chunk 1"):
        list(dataset.batches(batch_size=4))
    assert np.array_equal(dataset.images([0]), reference.images([0]))  # other chunks still read
    problems, summary = verify_dataset(copy)
    assert len(problems) == 1 and "chunk 1" in problems[0] and not summary["complete"]
    resumed, messages = quiet_make(copy)
    assert any("chunk 1 (replicates 5..9) of array 'image' is corrupt" in m and "re-simulating" in m for m in messages)
    assert chunk_contents(copy) == chunk_contents(reference.path) and verify_dataset(copy)[0] == []


def test_a_flipped_byte_in_a_small_array_is_named_when_the_array_is_read(copy):
    file = chunk_file(copy, "params", 2)
    data = bytearray(file.read_bytes())
    data[-10] ^= 0x01
    file.write_bytes(bytes(data))
    dataset = Dataset(copy)  # opening reads no per-replicate array
    assert dataset.labels.shape == (12,)
    with pytest.raises(DatasetIntegrityError, match=r"chunk 2 \(replicates 10..11\) of array 'params'"):
        dataset.params
    with pytest.raises(DatasetIntegrityError, match=r"chunk 2 \(replicates 10..11\) of array 'params'"):
        list(dataset.iter_replicates([10]))


def test_swapped_chunks_are_detected_never_paired_with_other_rows(copy, reference):
    for name in ("image", "params", "seeds", "label"):
        a, b = chunk_file(copy, name, 0), chunk_file(copy, name, 1)
        first, second = a.read_bytes(), b.read_bytes()
        a.write_bytes(second)
        b.write_bytes(first)
    with pytest.raises(DatasetIntegrityError, match="chunk 0 .* does not match its checksum"):
        read_small_arrays(copy)
    problems, _ = verify_dataset(copy)
    assert {p.split(" (")[0] for p in problems} == {"chunk 0", "chunk 1"}
    resumed, messages = quiet_make(copy)
    assert sum("re-simulating" in m for m in messages) == 2
    assert chunk_contents(copy) == chunk_contents(reference.path)


def test_a_chunk_from_a_dataset_with_another_seed_is_refused_on_read_and_resume(copy, reference, tmp_path):
    other = simulate_dataset(tmp_path / "seed12", FLAGSHIP, 4, 12, replace(SMALL, transform=TRANSFORM,
                             keep_genotypes=True), chunk_size=5, progress=False)
    for name in ("image", "snp_distance", "params", "seeds", "label", "sites_per_locus"):
        shutil.copyfile(chunk_file(other.path, name, 1), chunk_file(copy, name, 1))
    with pytest.raises(DatasetIntegrityError, match=r"chunk 1 \(replicates 5..9\) of array '\w+' does not match"):
        read_small_arrays(copy)
    resumed, messages = quiet_make(copy)
    assert any("chunk 1" in m and "re-simulating" in m for m in messages)
    assert chunk_contents(copy) == chunk_contents(reference.path)
    # A manifest line copied along with the chunk is caught by the seed check (and its fingerprint).
    other_line = [json.loads(line) for line in (other.path / "manifest.jsonl").read_text().splitlines()[1:]]
    entry = next(e for e in other_line if e["chunk"] == 1)
    entry["fingerprint"] = Dataset(copy).metadata["fingerprint"]
    lines = (copy / "manifest.jsonl").read_text().splitlines()
    lines = [line for line in lines if json.loads(line).get("chunk") != 1] + [json.dumps(entry)]
    (copy / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("image", "snp_distance", "params", "seeds", "label", "sites_per_locus"):
        shutil.copyfile(chunk_file(other.path, name, 1), chunk_file(copy, name, 1))
    shutil.rmtree(copy / "raw" / "000001")
    shutil.copytree(other.path / "raw" / "000001", copy / "raw" / "000001")
    problems, _ = verify_dataset(copy)
    assert problems == ["chunk 1 (replicates 5..9) was simulated with master seed 12, not 11"]
    resumed, messages = quiet_make(copy)
    assert any("master seed 12, not 11; re-simulating" in m for m in messages)
    assert chunk_contents(copy) == chunk_contents(reference.path)


def test_a_missing_chunk_is_named_and_re_simulated(copy, reference):
    chunk_file(copy, "seeds", 2).unlink()
    shutil.rmtree(copy / "raw" / "000000")
    with pytest.raises(DatasetIntegrityError, match=r"chunk 2 \(replicates 10..11\) of array 'seeds' is missing"):
        read_small_arrays(copy)
    problems, _ = verify_dataset(copy)
    assert len(problems) == 2 and "chunk 0" in problems[0] and "raw/genotypes" in problems[0]
    resumed, messages = quiet_make(copy)
    assert sum("re-simulating" in m for m in messages) == 2
    assert chunk_contents(copy) == chunk_contents(reference.path)


def test_deleted_metadata_and_another_seed_is_refused_and_the_same_seed_rebuilds_it(tmp_path, reference):
    from tests.popsim.sim.test_simulate import segregating_sites_per_population

    settings = replace(SMALL, transform=TRANSFORM, keep_genotypes=True, statistics=segregating_sites_per_population)
    path = tmp_path / "data"
    make(path, settings=settings, stop_after_chunks=2)
    (path / "zarr.json").unlink()
    with pytest.raises(ValueError, match=r"was started with another configuration \(seed 11"):
        simulate_dataset(path, FLAGSHIP, 4, 12, settings, chunk_size=5, progress=False)
    with pytest.raises(FileNotFoundError, match="has no zarr.json"):
        Dataset(path, allow_incomplete=True)
    resumed, messages = quiet_make(path, settings=settings)
    assert any("rebuilt it from the configuration recorded in manifest.jsonl" in m for m in messages)
    assert resumed.complete and resumed.seed == 11 and resumed.statistic_names == ["S", "S_A", "S_B"]
    clean = make(tmp_path / "clean", settings=settings)
    assert np.array_equal(resumed.statistics, clean.statistics) and verify_dataset(path)[0] == []


def test_info_says_incomplete_when_incomplete(tmp_path):
    partial = make(tmp_path / "data", stop_after_chunks=1)
    text = partial.info()
    assert "INCOMPLETE: 1 of 3 chunks" in text and "replicates     5 of 12" in text
    assert not verify_dataset(tmp_path / "data")[1]["complete"]


# -- scale ----------------------------------------------------------------------------------------------------
def test_the_plan_of_10_to_the_8_replicates_is_built_in_constant_memory():
    tracemalloc.start()
    plan = Plan(FLAGSHIP, 10**8, seed=3)
    last = plan.task(len(plan) - 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # (an up-front list of 3·10⁸ tasks would need tens of GB; the lazy plan holds a few arrays per scenario)
    assert len(plan) == 3 * 10**8 and peak < 5 * 2**20
    assert (last.label, last.replicate_index) == (2, 10**8 - 1)
    small = Plan(FLAGSHIP, [3, 1, 5], seed=3)
    assert small.labels.tolist() == [0, 1, 2, 0, 2, 0, 2, 2, 2]
    assert small.replicate_index.tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 4]
    assert np.array_equal(small.seeds_of(4), small.seeds[4])


def test_a_dataset_of_10_to_the_8_replicates_per_scenario_starts_in_bounded_memory(tmp_path):
    tracemalloc.start()
    dataset = simulate_dataset(tmp_path / "huge", FLAGSHIP, 10**8, 5, replace(SMALL, transform=TRANSFORM),
                               chunk_size=4, progress=False, stop_after_chunks=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 2**20  # nothing proportional to the 3·10⁸ planned replicates (8 B each would be 2.4 GB)
    assert len(dataset) == 4 and dataset.metadata["n_replicates"] == 3 * 10**8 and not dataset.complete


def test_training_from_the_store_gives_the_weights_of_training_from_the_same_arrays(reference):
    from minidl import Adam, Dense, Flatten, Input, Sequential

    def model():
        m = Sequential([Input(reference.image_shape), Flatten(), Dense(8, activation="relu"),
                        Dense(3, activation="softmax")], seed=3)
        m.compile(Adam(1e-2), "sparse_categorical_crossentropy")
        return m

    train = np.arange(9)
    scale = lambda x: (x - 0.5) * 2.0  # noqa: E731  (any function of the images, applied on the fly)
    in_memory, streamed = model(), model()
    in_memory.fit(scale(reference.images(train)), reference.labels[train], batch_size=4, epochs=2, shuffle=False,
                  verbose=0)
    streamed.fit(reference.source(train, 4, shuffle=False, scale=scale), epochs=2, verbose=0)
    for a, b in zip(in_memory.get_weights(), streamed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert streamed.evaluate(reference.source(train, 4, shuffle=False, scale=scale), verbose=0) == \
        pytest.approx(in_memory.evaluate(scale(reference.images(train)), reference.labels[train], verbose=0))


def test_a_shuffled_source_gives_a_new_order_each_epoch_and_the_same_orders_for_the_same_seed(reference):
    def passes(seed, n=2):
        source = reference.source(None, 5, seed=seed)   # each iteration is one epoch
        assert len(source) == 3                          # 12 replicates in batches of 5
        return [np.concatenate([y for _, y in source]) for _ in range(n)]

    first, second = passes(7)
    assert sorted(first.tolist()) == sorted(reference.labels.tolist())
    orders = [np.concatenate([rows for _, _, rows in reference.batches(5, None, shuffle=True, seed=s)]) for s in (7, 8)]
    assert not np.array_equal(orders[0], orders[1])      # seeds 7 and 8: epochs 0 and 1 differ
    np.testing.assert_array_equal(first, reference.labels[orders[0]])
    np.testing.assert_array_equal(second, reference.labels[orders[1]])
    again = passes(7)
    np.testing.assert_array_equal(again[0], first)
    with pytest.raises(ValueError, match="scale must be a function"):
        reference.source(None, 4, scale="standard")


# -- memory that stays flat: lazy columns, statistics written into the store -------------------------------
def test_opening_and_streaming_hold_no_per_replicate_column(reference):
    dataset = Dataset(reference.path)
    x, y, rows = next(dataset.batches(batch_size=4, shuffle=False))
    records = list(dataset.iter_replicates([0, 6, 11]))
    dataset.info()
    dataset.images([3, 7])
    assert dataset._columns == {}  # nothing per replicate was kept by any of these
    assert np.array_equal(y, reference.labels[rows]) and [r.index for r in records] == [0, 6, 11]
    assert np.array_equal(dataset.arrays([7, 2])[1], reference.labels[[7, 2]])
    assert dataset.scenario_counts().tolist() == [4, 4, 4] and dataset.indices.tolist() == list(range(12))
    assert np.array_equal(dataset.seeds, Plan(FLAGSHIP, 4, 11).seeds) and set(dataset._columns) == {"seeds"}


def test_columns_and_reads_of_an_incomplete_dataset_follow_the_stored_chunks(tmp_path, reference):
    partial = make(tmp_path / "data", stop_after_chunks=1)
    shutil.rmtree(tmp_path / "data" / "raw" / "000000")  # never read below
    partial = Dataset(tmp_path / "data", allow_incomplete=True)
    assert len(partial) == 5 and partial.indices.tolist() == list(range(5))
    assert partial.scenario_counts().tolist() == [2, 2, 1]
    assert np.array_equal(partial.params, reference.params[:5], equal_nan=True)
    assert np.array_equal(partial.images([4, 0]), reference.images([4, 0]))


def test_statistics_written_into_the_store_equal_the_table_resume_and_are_checked(copy):
    dataset = Dataset(copy)
    expected = dataset.statistics_table("t1")
    names = dataset.write_statistics("t1")
    assert names == expected.names
    names, blocks = dataset.statistics_blocks("t1", compute=False)
    blocks = list(blocks)
    assert [p.tolist() for p, _ in blocks] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    np.testing.assert_array_equal(np.concatenate([v for _, v in blocks]), expected.values)
    (log,) = (copy / "derived").glob("statistics-*.jsonl")
    assert len(log.read_text().splitlines()) == 1 + 3  # header + one line per chunk
    # An interrupted run (last chunk not logged, and its rows lost) is resumed: only that chunk is computed.
    log.write_text("\n".join(log.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DatasetIntegrityError, match=r"chunk 2 \(replicates 10..11\) of array 'statistics-\w+' is not "
                                                   "recorded in its log"):
        list(Dataset(copy).statistics_blocks("t1", compute=False)[1])
    resumed = np.concatenate([v for _, v in Dataset(copy).statistics_blocks("t1")[1]])
    np.testing.assert_array_equal(resumed, expected.values)
    # Other statistics and per-locus totals are stored beside, not mixed up.
    per_locus = np.concatenate([v for _, v in dataset.statistics_blocks("t1", per_bp=False)[1]])
    np.testing.assert_array_equal(per_locus, dataset.statistics_table("t1", per_bp=False).values)
    with pytest.raises(ValueError, match=r"stores no statistics \['S'\] \(per_bp=True\); compute them"):
        dataset.statistics_blocks(["S"], compute=False)
    # A flipped byte in a stored chunk is named, never returned.
    array, _, _ = dataset._derived("t1", per_bp=True)
    file = array / "c" / "1" / "0"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(DatasetIntegrityError, match=r"chunk 1 \(replicates 5..9\) of array 'statistics-\w+' is corrupt"):
        list(dataset.statistics_blocks("t1", compute=False)[1])
    with pytest.warns(UserWarning, match=r"chunk 1 \(replicates 5..9\) of array 'statistics-\w+' is corrupt.*computing"):
        dataset.write_statistics("t1")
    np.testing.assert_array_equal(np.concatenate([v for _, v in dataset.statistics_blocks("t1")[1]]), expected.values)


def test_popsim_stats_streams_the_file_that_the_in_memory_statistics_give(copy, tmp_path, capsys):
    from popsim.cli.analysis import dataset_statistics
    from popsim.cli.main import main as popsim_main

    assert popsim_main(["stats", str(copy), "--statistics", "t1", "-o", str(tmp_path / "s"),
                        "--csv", str(tmp_path / "s.csv")]) == 0
    printed = capsys.readouterr().out
    expected = dataset_statistics(copy, "t1")
    with np.load(tmp_path / "s.npz") as written:  # ".npz" added, as numpy.savez does
        assert sorted(written.files) == sorted(expected)
        for name, value in expected.items():
            assert written[name].dtype == value.dtype
            assert np.array_equal(written[name], value, equal_nan=value.dtype.kind == "f")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "replicate,scenario," + ",".join(expected["names"]) and len(lines) == 13
    assert lines[7].split(",")[:2] == ["6", FLAGSHIP[int(expected["labels"][6])]]
    means = expected["values"][expected["labels"] == 1].mean(axis=0)
    assert f"{means[2]:14.6g}" in printed.splitlines()[4]  # S_A, mean over flagship_im


def test_a_source_with_extra_rows_feeds_each_batch_its_replicates_rows(reference):
    extra = np.arange(len(reference), dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    indices = np.arange(len(reference))[::2]
    plain = [(x, y) for x, y in reference.source(indices, 4, seed=7)]
    paired = [(x, y) for x, y in reference.source(indices, 4, seed=7, extra=extra)]
    assert len(plain) == len(paired) > 1
    for (x, y), ((images, rows), labels) in zip(plain, paired):
        np.testing.assert_array_equal(images, x)
        np.testing.assert_array_equal(labels, y)
        replicate = rows[:, 0].astype(int)               # the row of extra is the replicate's position
        np.testing.assert_array_equal(reference.labels[replicate], y)
        assert set(replicate) <= set(indices)
    with pytest.raises(ValueError, match="extra must have one row per replicate"):
        reference.source(indices, 4, extra=extra[:-1])
