"""Simulated data sets on disk: a zarr (v3) store, written by the workers, verified, resumable, streamable.

On-disk format (``format_version`` 2)
-------------------------------------
A dataset is a zarr v3 group (a directory; readable with ``zarr.open_group``, dask or xarray)::

    DATASET/
      zarr.json            # group metadata; attributes["popsim"] = the dataset metadata (below)
      manifest.jsonl       # completion records: one JSON line per finished chunk, with checksums
      label/  params/  seeds/  sites_per_locus/            # always
      image/  snp_distance/                               # with a transform (snp_distance: distance channel)
      statistics/                                         # with a statistics function
      raw/000000/{genotypes,positions,locus}  raw/000001/...   # with keep_genotypes (ragged, one group per chunk)

Every per-replicate array has the plan row on axis 0 and is chunked by ``chunk_size`` rows on that axis (one
zarr chunk = one dataset chunk = one unit of work), compressed with Blosc zstd + bitshuffle and guarded by a
crc32c codec:

==================  =====================================  =========  ==============================================
array               shape                                  dtype      meaning
==================  =====================================  =========  ==============================================
label               (n,)                                   int64      scenario index (position in config.scenarios)
params              (n, n_parameters)                      float64    parameter values; NaN where a scenario lacks one
seeds               (n, 4)                                 uint32     parameter, ancestry, mutation, transform seeds
sites_per_locus     (n, n_loci)                            int32      segregating sites of each locus
image               (n, rows, n_snps, 1)                   int8       genotype channel (only with a transform)
snp_distance        (n, n_snps)                            float32    log(1+bp) channel (only if distance_channel)
statistics          (n, n_statistics)                      float64    summary statistics (only with a statistics function)
raw/CCCCCC/genotypes  (sites_in_chunk, haplotypes)         int8       raw 0/1 matrices of chunk C (only with keep_genotypes)
raw/CCCCCC/positions  (sites_in_chunk,)                    float64    bp within the locus
raw/CCCCCC/locus      (sites_in_chunk,)                    int32      locus index of each site
==================  =====================================  =========  ==============================================

Raw sites are ragged: replicate i of chunk C owns rows ``offsets[i]:offsets[i+1]`` of chunk C's raw arrays,
with ``offsets = [0, cumsum(sites_per_locus.sum(axis=1))]`` over the chunk's replicates.

``attributes["popsim"]`` holds: ``format``, ``format_version``, ``created`` (UTC ISO time), ``fingerprint`` (hash
of the configuration), ``config`` (scenario names, ``n`` per scenario, master ``seed``, ``chunk_size``,
``settings``: sequence length in bp, mutation and recombination rates per bp per generation, loci per replicate,
fixed segregating sites, discrete genome, whether raw genotypes are kept, the image ``transform`` parameters
and the ``statistics`` function), ``scenarios`` (for each: name, description, samples in diploid individuals,
priors, simulation defaults, and its demes graph at the prior medians), ``parameter_names`` (columns of
``params``), ``haplotype_populations``, ``image_shape`` ``[rows, n_snps, channels]`` or null,
``statistic_names`` (columns of ``statistics``) or null, ``n_replicates``, ``n_chunks`` and ``versions``
(popsim, msprime, tskit, demes, numpy, zarr, python). Whether the dataset is complete is not stored: it is
read from the manifest (every chunk recorded).

Writing: the main process creates the group and empty arrays, then sends one task per chunk to the workers
(in-process, a process pool, or any ``Executor`` such as ``distributed.Client(...).get_executor()``); each
worker simulates its chunk, writes its rows of every array straight into the store, and returns the
checksums (BLAKE2b of each array's decoded block); only then does the main process append the chunk's line to
``manifest.jsonl`` (flushed and fsynced). The manifest starts with a header line holding the fingerprint and
configuration; each chunk line holds ``chunk``, ``start``, ``stop``, ``seed``, ``fingerprint``, ``checksums``
and ``statistic_names``.

Integrity: a chunk counts only if its manifest line exists and its content matches the checksums — so a
chunk half-written when a run was killed never reads as valid, and a flipped byte, a chunk file swapped with
another, a chunk copied from a dataset with another seed, or a missing chunk file is named in one
``DatasetIntegrityError`` on read (never returned as data). On resume every recorded chunk is verified again
(checksums, and each replicate's seeds and label against the master seed and plan); a bad one is dropped from
the manifest and re-simulated, with a warning naming it. ``verify_dataset`` / ``popsim verify`` check a whole
store. Since every replicate's seeds depend only on the master seed and its position (see
``popsim.sim.simulate``), a resumed run equals an uninterrupted one, whatever the workers or executor. A
different configuration on an existing store is refused, also when its ``zarr.json`` was deleted (the
manifest header still records the configuration). Datasets of format 1 (``metadata.json`` + ``chunk-*.npz``)
are refused with a message saying how to re-create them.

Reading: ``Dataset(path)`` reads only the group metadata and the manifest (O(chunks): the chunk numbers and
their checksums); every per-replicate array is read when first used. ``labels``, ``params``, ``seeds``,
``sites_per_locus`` and ``statistics`` are read once, chunk by chunk into one compact NumPy array, and kept
(8, 8 × parameters, 16, 4 × loci and 8 × statistics bytes per replicate); ``images(indices)``,
``arrays(indices)``, ``batches(batch_size, ...)`` / ``source(...)`` (shuffled mini-batches holding only a few
chunks in memory) and ``iter_replicates()`` (raw genotype matrices, one chunk at a time) read only the
chunks they touch and keep none of those columns, so streaming memory does not grow with the dataset.
``split()`` gives train/validation/test indices.

Statistics computed afterwards from the raw genotypes (``Dataset.write_statistics``, ``popsim stats``) are
written into the store chunk by chunk, beside the simulated arrays::

    derived/statistics-<key>        (n, n_statistics) float64, chunked like the dataset (key: hash of the
                                    statistics, per_bp and the dataset fingerprint)
    derived/statistics-<key>.jsonl  header (statistics, per_bp, names, fingerprint), then one line per chunk
                                    with its checksum, appended once the chunk is written

and read back one checked chunk at a time with ``statistics_blocks``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import itertools
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from popsim.features.genotypes import population_order
from popsim.features.images import GenotypeImage
from popsim.sim.scenarios import Scenario
from popsim.sim.simulate import (Interleaving, Plan, Replicate, ReplicateRecord, ReplicateTask, SimulationSettings,
                                 bounded_results, check_settings, derive_seeds, params_table, process_pool, simulate_replicate,
                                 statistics_table, stop_pool)

__all__ = ["simulate_dataset", "Dataset", "ReplicateRecord", "FORMAT_VERSION", "DatasetIntegrityError",
           "verify_dataset", "write_chunk", "limit_malloc_arenas"]

FORMAT_VERSION = 2
GROUP_METADATA = "zarr.json"
MANIFEST = "manifest.jsonl"
RAW = "raw"
DERIVED = "derived"  # statistics written by Dataset.write_statistics / popsim stats
RAW_ARRAYS = ("genotypes", "positions", "locus")
_ZARR_CONFIG = {"write_empty_chunks": True}  # every chunk has a file: a missing file means a missing chunk


class DatasetIntegrityError(ValueError):
    """A chunk of a dataset is missing, corrupt, swapped or foreign: named, never returned as data.

    ``reason`` is the short description (which chunk, which array, what is wrong)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _codecs():
    from zarr.codecs import BloscCodec, Crc32cCodec

    return [BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"), Crc32cCodec()]


def _versions() -> dict:
    import demes
    import msprime
    import tskit
    import zarr

    from popsim import __version__

    return {
        "popsim": __version__,
        "msprime": msprime.__version__,
        "tskit": tskit.__version__,
        "demes": demes.__version__,
        "numpy": np.__version__,
        "zarr": zarr.__version__,
        "python": platform.python_version(),
    }


def checksum(array: np.ndarray) -> str:
    """BLAKE2b (128 bit) of an array's dtype, shape and bytes: what the manifest records per array and chunk."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.reshape(-1).view(np.uint8) if array.size else b"")  # the bytes, hashed in place (no copy)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _libc():
    """The process's C library if it is glibc (has ``malloc_trim``), else None: the allocator calls below
    then do nothing."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = 1) -> None:
    """Limit glibc's malloc to ``arenas`` arenas (``M_ARENA_MAX``) in this process — for a command that streams
    chunks decoded in zarr's threads (``popsim stats``): each thread's arena otherwise keeps the freed buffers
    of the large raw chunks, and the resident size creeps up with the number of chunks read. Call it before
    any chunk is read; a no-op without glibc."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(-8, int(arenas))  # M_ARENA_MAX


def _trim_heap() -> None:
    """Give freed heap pages back to the system (glibc ``malloc_trim``) after a chunk of raw genotypes."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _fingerprint(config: dict, scenarios: list) -> str:
    text = json.dumps({"config": config, "scenarios": scenarios}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _raw_name(chunk: int) -> str:
    return f"{RAW}/{chunk:06d}"


def _array_layout(metadata: dict) -> dict:
    """``{name: (shape after axis 0, dtype, fill value)}`` of the per-replicate arrays of a dataset."""
    settings = metadata["config"]["settings"]
    layout = {
        "label": ((), "int64", -1),
        "params": ((len(metadata["parameter_names"]),), "float64", float("nan")),
        "seeds": ((4,), "uint32", 0),
        "sites_per_locus": ((int(settings["n_loci"]),), "int32", -1),
    }
    if metadata["image_shape"] is not None:
        rows, n_snps, _ = metadata["image_shape"]
        layout["image"] = ((rows, n_snps, 1), "int8", 0)
        if settings["transform"].get("distance_channel"):
            layout["snp_distance"] = ((n_snps,), "float32", 0.0)
    if settings.get("statistics") is not None:
        layout["statistics"] = ((len(metadata["statistic_names"]),), "float64", float("nan"))
    return layout


def _chunk_blocks(replicates: Sequence[Replicate], parameter_names: Sequence[str], layout: dict,
                  statistic_names, keep_genotypes: bool) -> tuple[dict, dict]:
    """The rows of one chunk: ``(blocks of the per-replicate arrays, raw arrays)``."""
    blocks = {
        "label": np.array([r.label for r in replicates], dtype=np.int64),
        "params": params_table(parameter_names, [r.params for r in replicates]),
        "seeds": np.stack([r.seeds for r in replicates]).astype(np.uint32),
        "sites_per_locus": np.stack([r.sites_per_locus for r in replicates]).astype(np.int32),
    }
    if "image" in layout:
        blocks["image"] = np.stack([r.image for r in replicates]).astype(np.int8)
    if "snp_distance" in layout:
        blocks["snp_distance"] = np.stack([r.snp_distance for r in replicates]).astype(np.float32)
    if "statistics" in layout:
        names, values = statistics_table(replicates)
        if names != list(statistic_names):
            raise ValueError(f"the statistics function returned names {names}; expected the names recorded for "
                             f"this dataset: {list(statistic_names)}")
        blocks["statistics"] = values
    for name, (shape, dtype, _) in layout.items():
        if blocks[name].shape[1:] != shape:
            raise ValueError(f"replicates give {name} of shape {blocks[name].shape[1:]}; expected {shape}")
    raw = {}
    if keep_genotypes:
        raw = {
            "genotypes": np.concatenate([r.genotypes for r in replicates], axis=0).astype(np.int8),
            "positions": np.concatenate([r.positions for r in replicates]).astype(np.float64),
            "locus": np.concatenate([r.locus for r in replicates]).astype(np.int32),
        }
    return blocks, raw


def write_chunk(path: str, chunk: int, tasks: Sequence[ReplicateTask], settings: SimulationSettings,
                parameter_names: Sequence[str], statistic_names, fingerprint: str, seed: int) -> dict:
    """Simulate the replicates of one chunk and write them into the store at ``path``. Runs in a worker.

    Writes rows ``tasks[0].index .. tasks[-1].index`` of every array (one zarr chunk each) and the chunk's
    raw group, then returns its manifest line (checksums of what was written). The caller records it; until
    then the chunk does not count.
    """
    import zarr

    replicates = [simulate_replicate(task, settings) for task in tasks]
    group = zarr.open_group(path, mode="r")
    metadata = group.attrs["popsim"]
    layout = _array_layout(metadata)
    blocks, raw = _chunk_blocks(replicates, parameter_names, layout, statistic_names, settings.keep_genotypes)
    start, stop = tasks[0].index, tasks[-1].index + 1
    checksums = {}
    for name, block in blocks.items():
        array = zarr.open_array(os.path.join(path, name), mode="r+", config=_ZARR_CONFIG)
        array[start:stop] = block
        checksums[name] = checksum(block)
    if raw:
        raw_group = zarr.open_group(os.path.join(path, _raw_name(chunk)), mode="w")
        haplotypes = len(metadata["haplotype_populations"])
        for name, values in raw.items():
            rows = max(1, min(len(values), max(1, 2**22 // max(1, values[0:1].nbytes))))
            array = raw_group.create_array(name, shape=values.shape, dtype=values.dtype,
                                           chunks=(rows, haplotypes) if values.ndim == 2 else (rows,),
                                           compressors=_codecs(), config=_ZARR_CONFIG)
            array[...] = values
            checksums[f"{RAW}/{name}"] = checksum(values)
    return {"chunk": int(chunk), "start": int(start), "stop": int(stop), "seed": int(seed),
            "fingerprint": fingerprint, "checksums": checksums, "statistic_names": statistic_names}


# -- the manifest -------------------------------------------------------------------------------------------
def _read_manifest(path: Path, name: str = MANIFEST) -> tuple[dict | None, dict]:
    """``(header, {chunk: line})`` of ``path/manifest.jsonl`` (or ``path/name``); a torn last line (a kill
    mid-append) is ignored."""
    file = path / name
    if not file.exists():
        return None, {}
    text = file.read_text()
    lines = text.split("\n")
    header, entries = None, {}
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:  # the last line, without its newline: an append cut short
                continue
            raise DatasetIntegrityError(f"dataset {str(path)!r}: {name} line {number + 1} is not valid JSON; "
                                        f"expected one record per line (the manifest is damaged)") from None
        if "manifest" in record:
            header = record
        else:
            entries[int(record["chunk"])] = record
    return header, entries


def _write_manifest(path: Path, header: dict, entries: Iterable[dict], name: str = MANIFEST) -> None:
    """Rewrite the whole manifest (or log ``name``) atomically (temporary file, fsync, rename)."""
    temporary = path / f".{name}.partial"
    with open(temporary, "w") as handle:
        for record in itertools.chain([header], entries):
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path / name)


def _append_manifest(path: Path, entry: dict, name: str = MANIFEST) -> None:
    with open(path / name, "a") as handle:
        handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _refuse_old_format(path: Path) -> None:
    if (path / "metadata.json").exists() or next(path.glob("chunk-*.npz"), None) is not None:
        raise ValueError(
            f"dataset {str(path)!r} is in the old format 1 (metadata.json + chunk-*.npz), which this popsim no "
            "longer reads; re-create it as a zarr store by running the same `popsim simulate` command (or "
            "simulate_dataset call) with a new output directory — same seeds, same replicates — then delete the "
            "old directory"
        )


class _Store:
    """The low-level view of a store used by writing, reading and verifying: arrays, manifest, checks."""

    def __init__(self, path: Path, metadata: dict, entries: dict):
        import zarr

        self.path = path
        self.metadata = metadata
        self.entries = entries
        self.layout = _array_layout(metadata)
        self.chunk_size = int(metadata["config"]["chunk_size"])
        self.n_replicates = int(metadata["n_replicates"])
        self.keep_genotypes = bool(metadata["config"]["settings"]["keep_genotypes"])
        self.arrays = {name: zarr.open_array(str(path / name), mode="r") for name in self.layout}

    def rows(self, chunk: int) -> tuple[int, int]:
        return chunk * self.chunk_size, min((chunk + 1) * self.chunk_size, self.n_replicates)

    def describe(self, chunk: int) -> str:
        start, stop = self.rows(chunk)
        return f"chunk {chunk} (replicates {start}..{stop - 1})"

    def _problem(self, chunk: int, name: str, reason: str) -> DatasetIntegrityError:
        short = f"{self.describe(chunk)} of array {name!r} {reason}"
        return DatasetIntegrityError(
            f"dataset {str(self.path)!r}: {short}; it is not read as data. Run `popsim verify {self.path}` to check "
            "the whole store; running the same simulate command again re-simulates bad chunks", short)

    def _chunk_file(self, name: str, chunk: int) -> Path:
        """The file of ``chunk`` in array ``name`` (zarr v3 default keys: ``c/<chunk>/0/...``)."""
        return self.path.joinpath(name, "c", str(chunk), *(["0"] * len(self.layout[name][0])))

    def _precheck(self, name: str, chunk: int) -> dict:
        """The manifest line of ``chunk``, after checking it is recorded, ours, and its file exists."""
        entry = self.entries.get(chunk)
        if entry is None:
            raise self._problem(chunk, name, "is not recorded in the manifest (not simulated yet)")
        if entry.get("fingerprint") != self.metadata["fingerprint"]:
            raise self._problem(chunk, name, "is recorded by a run with another configuration (foreign manifest line)")
        # An array with no columns (e.g. the parameters of a scenario without priors) stores no chunk file.
        if 0 not in tuple(self.layout[name][0]) and not self._chunk_file(name, chunk).exists():
            raise self._problem(chunk, name, f"is missing (no file {self._chunk_file(name, chunk)})")
        return entry

    def blocks(self, name: str, chunks: Sequence[int]) -> list[np.ndarray]:
        """:meth:`block` of each of ``chunks`` (sorted), as a list (see :meth:`iter_blocks`)."""
        return list(self.iter_blocks(name, chunks))

    def iter_blocks(self, name: str, chunks: Sequence[int], run_bytes: int = 2**24) -> Iterator[np.ndarray]:
        """:meth:`block` of each of ``chunks`` (sorted), in order, read in bulk over runs of consecutive chunks
        of at most ``run_bytes`` decoded bytes (so memory stays bounded whatever the number of chunks)."""
        shape, dtype, _ = self.layout[name]
        row_bytes = max(1, int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
        per_run = max(1, run_bytes // (row_bytes * self.chunk_size))
        for _, run in itertools.groupby(enumerate(chunks), key=lambda pair: pair[1] - pair[0]):
            run = [chunk for _, chunk in run]
            for begin in range(0, len(run), per_run):
                part = run[begin : begin + per_run]
                first = self.rows(part[0])[0]
                try:
                    values = self.arrays[name][first : self.rows(part[-1])[1]]
                except Exception:
                    values = None  # some chunk cannot be decoded: block() names it
                for chunk in part:
                    entry = self._precheck(name, chunk)
                    start, stop = self.rows(chunk)
                    piece = None if values is None else values[start - first : stop - first]
                    if piece is None or checksum(piece) != entry["checksums"].get(name):
                        piece = self.block(name, chunk)  # raises the precise error
                    yield piece

    def block(self, name: str, chunk: int) -> np.ndarray:
        """Rows of ``chunk`` in array ``name``, checked against the manifest (else DatasetIntegrityError)."""
        entry = self._precheck(name, chunk)
        start, stop = self.rows(chunk)
        expected = entry["checksums"].get(name)
        try:
            values = self.arrays[name][start:stop]
        except Exception as error:  # crc32c mismatch, undecodable bytes
            raise self._problem(chunk, name, f"is corrupt (cannot be decoded: {error})") from None
        if expected is None or checksum(values) != expected:
            raise self._problem(chunk, name, "does not match its checksum in the manifest (corrupt, swapped with "
                                "another chunk, or copied from another dataset)")
        return values

    def raw(self, chunk: int) -> dict:
        """The raw arrays of ``chunk``, checked like :meth:`block`."""
        import zarr

        entry = self.entries.get(chunk)
        if entry is None:
            raise self._problem(chunk, RAW, "is not recorded in the manifest (not simulated yet)")
        out = {}
        for name in RAW_ARRAYS:
            key = f"{RAW}/{name}"
            try:
                values = zarr.open_array(str(self.path / _raw_name(chunk) / name), mode="r")[...]
            except FileNotFoundError:
                raise self._problem(chunk, key, f"is missing (no {self.path / _raw_name(chunk) / name})") from None
            except Exception as error:
                raise self._problem(chunk, key, f"is corrupt (cannot be decoded: {error})") from None
            if checksum(values) != entry["checksums"].get(key):
                raise self._problem(chunk, key, "does not match its checksum in the manifest (corrupt, swapped with "
                                    "another chunk, or copied from another dataset)")
            out[name] = values
        return out

    def check_chunk(self, chunk: int, deep: bool = True) -> str | None:
        """None if ``chunk`` is sound, else the reason. ``deep`` also checks seeds and labels against the plan
        and the raw arrays."""
        entry = self.entries[chunk]
        start, stop = self.rows(chunk)
        if (entry.get("start"), entry.get("stop")) != (start, stop):
            return f"{self.describe(chunk)} is recorded with rows {entry.get('start')}..{entry.get('stop')}"
        if entry.get("seed") != self.metadata["config"]["seed"]:
            return f"{self.describe(chunk)} was simulated with master seed {entry.get('seed')}, not " \
                   f"{self.metadata['config']['seed']}"
        try:
            blocks = {name: self.block(name, chunk) for name in self.layout}
            if deep and self.keep_genotypes:
                raw = self.raw(chunk)
                if len(raw["genotypes"]) != int(blocks["sites_per_locus"].sum()):
                    return f"{self.describe(chunk)} has {len(raw['genotypes'])} raw sites; expected " \
                           f"{int(blocks['sites_per_locus'].sum())}"
        except DatasetIntegrityError as error:
            return error.reason
        if deep:
            labels, replicate = Interleaving(self.metadata["config"]["n"]).locate(np.arange(start, stop))
            if not np.array_equal(labels, blocks["label"]):
                return f"{self.describe(chunk)} holds labels that do not belong to these plan rows"
            seed = int(self.metadata["config"]["seed"])
            expected = np.stack([derive_seeds(seed, k, r) for k, r in zip(labels, replicate)])
            if not np.array_equal(expected, blocks["seeds"]):
                return f"{self.describe(chunk)} holds seeds that do not derive from master seed {seed}"
        return None


def _open_metadata(path: Path) -> dict:
    import zarr

    if path.exists() and not path.is_dir():
        raise ValueError(f"dataset {str(path)!r} is a file; expected a dataset directory (a zarr store written by "
                         "popsim simulate)")
    _refuse_old_format(path)
    if not (path / GROUP_METADATA).exists():
        raise FileNotFoundError(f"dataset {str(path)!r} has no {GROUP_METADATA}; expected a popsim dataset (a zarr "
                                "store written by simulate_dataset / popsim simulate)")
    metadata = dict(zarr.open_group(str(path), mode="r").attrs.get("popsim") or {})
    if metadata.get("format") != "popsim-dataset" or metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"dataset {str(path)!r} is not a popsim dataset of format version {FORMAT_VERSION}")
    return metadata


def verify_dataset(path: str | Path, progress: bool = False) -> tuple[list[str], dict]:
    """Check every chunk of a store (checksums of all arrays incl. raw, seeds and labels against the master
    seed and the plan). Returns ``(problems, summary)``; ``summary`` has ``n_chunks``, ``recorded``,
    ``verified``, ``missing`` (chunks not recorded) and ``complete``."""
    from minidl.progress import progress_bar as tqdm

    path = Path(path)
    metadata = _open_metadata(path)
    header, entries = _read_manifest(path)
    problems = []
    if header is None:
        problems.append(f"{MANIFEST} is missing or has no header line")
    elif header.get("fingerprint") != metadata["fingerprint"]:
        problems.append(f"{MANIFEST} was written by a run with another configuration (seed {header.get('config', {}).get('seed')})")
    store = _Store(path, metadata, entries)
    n_chunks = int(metadata["n_chunks"])
    unknown = sorted(c for c in entries if not 0 <= c < n_chunks)
    problems += [f"manifest records chunk {c}, outside 0..{n_chunks - 1}" for c in unknown]
    verified = 0
    for chunk in tqdm(sorted(c for c in entries if 0 <= c < n_chunks), disable=not progress, desc="verifying"):
        problem = store.check_chunk(chunk, deep=True)
        if problem is None:
            verified += 1
        else:
            problems.append(problem)
    missing = n_chunks - len([c for c in entries if 0 <= c < n_chunks])
    summary = {"n_chunks": n_chunks, "recorded": n_chunks - missing, "verified": verified, "missing": missing,
               "complete": missing == 0 and not problems}
    return problems, summary


# -- writing ------------------------------------------------------------------------------------------------
def _check_path(path) -> Path:
    if isinstance(path, (str, os.PathLike)) and str(path).strip() and str(os.fspath(path)) != "":
        return Path(path)
    raise ValueError(f"path must be a non-empty directory path; got {path!r}")


def _check_count(name: str, value, minimum: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}; got {value!r}")
    return int(value)


def _create_store(path: Path, metadata: dict, header: dict, resume_arrays: bool) -> None:
    """The group with its attributes, the empty arrays, the raw group and the manifest header."""
    import zarr

    path.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(path), mode="a")
    group.attrs["popsim"] = metadata
    n, chunk_size = int(metadata["n_replicates"]), int(metadata["config"]["chunk_size"])
    for name, (shape, dtype, fill) in _array_layout(metadata).items():
        if resume_arrays and (path / name / GROUP_METADATA).exists():
            continue  # keep the chunks already written
        group.create_array(name, shape=(n, *shape), chunks=(chunk_size, *shape), dtype=dtype, fill_value=fill,
                           compressors=_codecs(), config=_ZARR_CONFIG, overwrite=True)
    if metadata["config"]["settings"]["keep_genotypes"] and not (path / RAW / GROUP_METADATA).exists():
        group.create_group(RAW)
    if not (path / MANIFEST).exists():
        _write_manifest(path, header, [])


def _probe_statistic_names(plan: Plan, settings: SimulationSettings) -> list[str]:
    """The names the statistics function gives, from replicate 0 simulated here (once, when a store is made),
    so that the ``statistics`` array can be created with its width before any worker writes."""
    if len(plan) == 0:
        return []
    replicate = simulate_replicate(plan.task(0), settings)
    return [str(name) for name in replicate.statistics]


def simulate_dataset(
    path: str | Path,
    scenarios: Sequence[Scenario | str] | Scenario | str,
    n: int | Sequence[int],
    seed: int,
    settings: SimulationSettings | None = None,
    *,
    chunk_size: int = 256,
    executor=None,
    workers: int = 1,
    batch_size: int | None = None,
    progress: bool = True,
    stop_after_chunks: int | None = None,
) -> "Dataset":
    """Simulate into a dataset store (format in the module docstring), or resume an interrupted run there.

    Parameters
    ----------
    path : dataset directory (created if needed; an existing directory must be empty or this dataset).
    scenarios, n, seed : as ``popsim.sim.simulate.simulate``.
    settings : a ``SimulationSettings`` (None = the scenarios' defaults). Its ``transform`` (a
        ``GenotypeImage``) makes the images, ``keep_genotypes=True`` also stores the raw ``(sites,
        haplotypes)`` matrices, positions and loci (default here: not stored), and ``statistics`` (a
        module-level function ``ReplicateRecord -> {name: float}``) computes statistics in the workers,
        stored per replicate with their names in metadata ``statistic_names``. At least one of the three.
    chunk_size : replicates per chunk (the unit of work sent to a worker, of resumption and of streaming).
    executor : any object with ``submit(fn, *args) -> future`` (e.g. ``distributed.Client(...).get_executor()``;
        its workers must see ``path``); None = in-process when ``workers == 1``, else a process pool whose
        workers die with this process.
    workers : worker processes when no executor is given (also sizes the queue of chunks in flight).
    batch_size : accepted for compatibility; the unit of work is one chunk.
    progress : show a progress bar.
    stop_after_chunks : write at most this many new chunks, then return (simulate in installments).

    Returns
    -------
    ``Dataset`` (complete unless stopped early).
    """
    from minidl.progress import progress_bar as tqdm

    path = _check_path(path)
    settings = check_settings(settings)
    transform, keep_genotypes, statistics = settings.transform, settings.keep_genotypes, settings.statistics
    if transform is None and not keep_genotypes and statistics is None:
        raise ValueError(
            "simulate_dataset needs transform=GenotypeImage(...), keep_genotypes=True or statistics=... in its "
            "SimulationSettings; got none of them"
        )
    chunk_size = _check_count("chunk_size", chunk_size, 1)
    workers = _check_count("workers", workers, 1)
    _check_count("batch_size", batch_size, 1, allow_none=True)
    stop_after_chunks = _check_count("stop_after_chunks", stop_after_chunks, 0, allow_none=True)
    plan = Plan(scenarios, n, seed)
    # Images and raw matrices are stacked across scenarios: they must have the same haplotypes.
    populations = plan.scenarios[0].haplotype_populations()
    for scenario in plan.scenarios[1:]:
        if scenario.haplotype_populations() != populations:
            raise ValueError(
                f"scenario {scenario.name!r} samples {scenario.samples}, unlike {plan.scenarios[0].name!r} "
                f"({plan.scenarios[0].samples}); expected the same samples in every scenario of a dataset"
            )
    settings = settings.resolve(plan.scenarios, keep_genotypes=False)
    n_chunks = -(-len(plan) // chunk_size)
    config = {
        "scenarios": [s.name for s in plan.scenarios],
        "n": plan.n,
        "seed": plan.seed,
        "chunk_size": chunk_size,
        "settings": settings.to_dict(),
    }
    config = json.loads(json.dumps(config))
    scenario_dicts = json.loads(json.dumps([s.to_dict() for s in plan.scenarios]))
    fingerprint = _fingerprint(config, scenario_dicts)
    metadata = {
        "format": "popsim-dataset",
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        "config": config,
        "scenarios": scenario_dicts,
        "parameter_names": plan.parameter_names,
        "haplotype_populations": populations,
        "image_shape": None if transform is None else list(transform.output_shape(len(populations))),
        "statistic_names": None,
        "n_replicates": len(plan),
        "n_chunks": n_chunks,
        "versions": _versions(),
    }

    # What is at ``path``: nothing, this dataset (perhaps with its zarr.json deleted), or something else.
    if path.exists() and not path.is_dir():
        raise ValueError(f"path {str(path)!r} is a file; expected a dataset directory")
    resuming = path.exists() and any(path.iterdir())
    header, entries = (None, {})
    if resuming:
        _refuse_old_format(path)
        header, entries = _read_manifest(path)
        old = None
        if (path / GROUP_METADATA).exists():
            old = _open_metadata(path)
        if old is None and header is None:
            raise ValueError(f"directory {str(path)!r} is not empty and is not a popsim dataset; expected an empty "
                             "or new directory")
        recorded = old if old is not None else header
        if recorded.get("fingerprint") != fingerprint or (header is not None and header.get("fingerprint") != fingerprint):
            was = recorded.get("config", {})
            raise ValueError(
                f"dataset {str(path)!r} was started with another configuration (seed {was.get('seed')}, n "
                f"{was.get('n')}, chunk_size {was.get('chunk_size')}, scenarios {was.get('scenarios')}); expected "
                "the same scenarios, n, seed, chunk_size and settings to resume (or use a new directory)"
            )
        if old is not None:
            metadata["created"] = old.get("created", metadata["created"])
            metadata["statistic_names"] = old.get("statistic_names")
        if metadata["statistic_names"] is None and header is not None:
            metadata["statistic_names"] = header.get("statistic_names")
    if statistics is not None and metadata["statistic_names"] is None:
        metadata["statistic_names"] = _probe_statistic_names(plan, settings)
    header = {"manifest": "popsim-dataset", "format_version": FORMAT_VERSION, "fingerprint": fingerprint,
              "config": config, "statistic_names": metadata["statistic_names"]}
    if resuming and not (path / GROUP_METADATA).exists():
        warnings.warn(f"dataset {str(path)!r} had lost its {GROUP_METADATA}; rebuilt it from the configuration "
                      f"recorded in {MANIFEST}", stacklevel=2)
    _create_store(path, metadata, header, resume_arrays=resuming)
    if resuming and (path / f".{MANIFEST}.partial").exists():
        (path / f".{MANIFEST}.partial").unlink()

    # On resume, every recorded chunk is verified again; a bad one is dropped and simulated anew.
    if entries:
        store = _Store(path, metadata, entries)
        bad = {}
        for chunk in sorted(entries):
            problem = (f"chunk {chunk} lies outside 0..{n_chunks - 1}" if not 0 <= chunk < n_chunks
                       else store.check_chunk(chunk, deep=True))
            if problem is not None:
                bad[chunk] = problem
        for chunk, problem in bad.items():
            warnings.warn(f"dataset {str(path)!r}: {problem}; re-simulating it", stacklevel=2)
        entries = {c: e for c, e in entries.items() if c not in bad}
    if resuming:
        # Rewritten whole (atomically): drops bad chunks and a line torn by a kill, so appends start clean.
        _write_manifest(path, header, [entries[c] for c in sorted(entries)])

    # The chunks to simulate, generated lazily (never a list of every task of the plan).
    todo = (c for c in range(n_chunks) if c not in entries)
    if stop_after_chunks is not None:
        todo = itertools.islice(todo, stop_after_chunks)
    remaining = len(plan) - sum(e["stop"] - e["start"] for e in entries.values())
    if stop_after_chunks is not None:
        remaining = min(remaining, stop_after_chunks * chunk_size)
    arguments = (settings, plan.parameter_names, metadata["statistic_names"], fingerprint, plan.seed)

    def chunk_tasks(chunk):
        return [plan.task(i) for i in range(chunk * chunk_size, min((chunk + 1) * chunk_size, len(plan)))]

    bar = tqdm(total=remaining, desc=f"simulating {path.name}", unit="rep", disable=not progress, leave=False)
    own_pool, failed = None, True
    try:
        if executor is None and workers == 1:
            for chunk in todo:
                entry = write_chunk(str(path), chunk, chunk_tasks(chunk), *arguments)
                _append_manifest(path, entry)
                bar.update(entry["stop"] - entry["start"])
        else:
            if executor is None:
                own_pool = executor = process_pool(workers)
            # Chunks are recorded as they finish (order does not matter: each manifest line names its chunk).
            calls = ((write_chunk, str(path), chunk, chunk_tasks(chunk), *arguments) for chunk in todo)
            for entry in bounded_results(executor, calls, window=2 * workers, ordered=False):
                _append_manifest(path, entry)
                bar.update(entry["stop"] - entry["start"])
        failed = False
    finally:
        bar.close()
        if own_pool is not None:
            stop_pool(own_pool, terminate=failed)
    return Dataset(path, allow_incomplete=True)


# -- reading ------------------------------------------------------------------------------------------------
class Dataset:
    """Read a dataset written by ``simulate_dataset`` (format in the module docstring).

    Only chunks recorded in the manifest are read, and every block read is checked against its checksum: a
    missing, corrupt, swapped or foreign chunk raises :class:`DatasetIntegrityError` naming it.

    Opening reads only the group metadata and the manifest (O(chunks)); every per-replicate array is read
    when first asked for, so a process that only streams images (``source``/``batches``) or raw replicates
    (``iter_replicates``) never holds a per-replicate column in memory.

    Attributes
    ----------
    metadata : the dataset metadata (group attribute ``popsim``), plus ``complete`` (from the manifest).
    labels : (n,) int64; params : (n, n_parameters) float64; seeds : (n, 4) uint32 — of the stored replicates,
        each read (and checked) on first use and then kept: 8, 8·n_parameters and 16 bytes per replicate.
    sites_per_locus : (n, n_loci) int32, read on first use; statistics : (n, n_statistics) float64 or None,
        read on first use; statistic_names : their names.
    indices : (n,) int64 plan rows of the stored replicates (0..n-1 when complete), built on first use.
    scenario_names, parameter_names, transform (``GenotypeImage`` or None).
    """

    def __init__(self, path: str | Path, allow_incomplete: bool = False):
        self.path = _check_path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"dataset {str(self.path)!r} does not exist; expected a dataset directory")
        metadata = _open_metadata(self.path)
        header, entries = _read_manifest(self.path)
        if header is None or header.get("fingerprint") != metadata["fingerprint"]:
            raise DatasetIntegrityError(
                f"dataset {str(self.path)!r}: {MANIFEST} is missing or belongs to another configuration; its chunks "
                "cannot be trusted. Run the same simulate command again to rebuild it, or `popsim verify` for details")
        n_chunks = int(metadata["n_chunks"])
        entries = {c: e for c, e in entries.items() if 0 <= c < n_chunks}
        self.metadata = dict(metadata)
        self.metadata["complete"] = len(entries) == n_chunks
        if not self.complete and not allow_incomplete:
            raise ValueError(
                f"dataset {str(self.path)!r} is incomplete (interrupted run: {len(entries)} of {n_chunks} chunks); "
                "expected a complete dataset — run the same simulate command again to resume, or pass "
                "allow_incomplete=True"
            )
        self._store = _Store(self.path, metadata, entries)
        settings = metadata["config"]["settings"]
        self.transform = None if settings["transform"] is None else GenotypeImage.from_dict(settings["transform"])
        self.scenario_names = list(metadata["config"]["scenarios"])
        self.parameter_names = list(metadata["parameter_names"])
        self.chunk_size = int(metadata["config"]["chunk_size"])
        self._chunks = sorted(entries)
        self.statistic_names = list(metadata.get("statistic_names") or [])
        # The stored chunks as two O(chunks) arrays: chunk numbers and the position (in this dataset) of the
        # first replicate of each; positions <-> plan rows are arithmetic on them (see _plan_rows).
        self._chunk_ids = np.array(self._chunks, dtype=np.int64)
        sizes = np.array([stop - start for start, stop in map(self._store.rows, self._chunks)], dtype=np.int64)
        self._first = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._columns: dict = {}  # per-replicate arrays read so far (labels, params, ...)

    # -- per-replicate columns, read lazily -------------------------------------------------------------
    def _column(self, name: str) -> np.ndarray:
        """Array ``name`` over every stored chunk (read once, chunk by chunk into one array, and kept)."""
        if name not in self._columns:
            shape, dtype, _ = self._store.layout[name]
            out = np.empty((len(self), *shape), dtype=dtype)
            for j, block in enumerate(self._store.iter_blocks(name, self._chunks)):
                out[self._first[j] : self._first[j + 1]] = block
            self._columns[name] = out
        return self._columns[name]

    @property
    def labels(self) -> np.ndarray:
        """(n,) int64 scenario index of every stored replicate (read on first use)."""
        return self._column("label")

    @property
    def params(self) -> np.ndarray:
        """(n, n_parameters) float64 parameter values, NaN where a scenario lacks one (read on first use)."""
        return self._column("params")

    @property
    def seeds(self) -> np.ndarray:
        """(n, 4) uint32 seeds of every stored replicate (read on first use)."""
        return self._column("seeds")

    @property
    def sites_per_locus(self) -> np.ndarray:
        """(n, n_loci) int32 segregating sites of each locus of each replicate (read on first use)."""
        return self._column("sites_per_locus")

    @property
    def statistics(self) -> np.ndarray | None:
        """(n, n_statistics) float64 statistics computed while simulating, or None (read on first use)."""
        return self._column("statistics") if "statistics" in self._store.layout else None

    @property
    def indices(self) -> np.ndarray:
        """(n,) int64 plan row of every stored replicate (0..n-1 when complete)."""
        return self._plan_rows(np.arange(len(self), dtype=np.int64))

    def _plan_rows(self, positions: np.ndarray) -> np.ndarray:
        """Plan rows of ``positions`` (positions in this dataset), computed from the O(chunks) chunk table."""
        positions = np.asarray(positions, dtype=np.int64)
        j = np.searchsorted(self._first, positions, side="right") - 1
        return self._chunk_ids[j] * self.chunk_size + (positions - self._first[j])

    def chunk_blocks(self, names: Sequence[str]) -> Iterator[tuple[np.ndarray, dict]]:
        """``(positions, {name: rows})`` for each stored chunk in order: per-replicate arrays ``names`` read
        one chunk at a time (checked), for passes over a dataset that keep only one chunk in memory."""
        for j, chunk in enumerate(self._chunks):
            yield (np.arange(self._first[j], self._first[j + 1]),
                   {name: self._store.block(name, chunk) for name in names})

    def __len__(self) -> int:
        return int(self._first[-1])

    @property
    def complete(self) -> bool:
        return bool(self.metadata["complete"])

    @property
    def image_shape(self) -> tuple | None:
        shape = self.metadata["image_shape"]
        return None if shape is None else tuple(shape)

    @property
    def settings(self) -> dict:
        """The simulation settings as recorded (``SimulationSettings.to_dict()``: rates, loci, transform ...)."""
        return dict(self.metadata["config"]["settings"])

    @property
    def seed(self) -> int:
        """The master seed every replicate's seeds derive from."""
        return int(self.metadata["config"]["seed"])

    @property
    def haplotype_populations(self) -> list[str]:
        """Population of each haplotype (image row, genotype column), in order."""
        return [str(p) for p in self.metadata["haplotype_populations"]]

    @property
    def population_names(self) -> list[str]:
        """Populations in the order of their haplotype blocks."""
        return population_order(self.haplotype_populations)

    @property
    def region_bp(self) -> float:
        """bp simulated per replicate: loci × bp per locus (what per-bp statistics divide by)."""
        settings = self.metadata["config"]["settings"]
        return float(settings["sequence_length"]) * int(settings["n_loci"])

    # -- reading -----------------------------------------------------------------------------------------
    def _check_indices(self, indices) -> np.ndarray:
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices must lie in 0..{len(self) - 1}; got values from {indices.min()} to {indices.max()}")
        return indices

    def _read(self, indices: np.ndarray, keys: Sequence[str]) -> dict:
        """Rows ``indices`` (positions in this dataset) of per-replicate arrays ``keys``, in the given order.

        Each chunk touched is read once per array and checked against its checksum."""
        indices = np.asarray(indices, dtype=np.int64)
        out = {}
        for key in keys:
            shape, dtype, _ = self._store.layout[key]
            out[key] = np.empty((len(indices), *shape), dtype=dtype)
        if not len(indices):
            return out
        rows = self._plan_rows(indices)
        chunks = rows // self.chunk_size
        order = np.argsort(chunks, kind="stable")
        unique, starts = np.unique(chunks[order], return_index=True)
        for chunk, slots in zip(unique, np.split(order, starts[1:])):
            within = rows[slots] - int(chunk) * self.chunk_size
            for key in keys:
                out[key][slots] = self._store.block(key, int(chunk))[within]
        return out

    def images(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Float32 images ``(len(indices), rows, n_snps, channels)``."""
        if self.transform is None:
            raise ValueError(f"dataset {str(self.path)!r} stores no images (it was simulated without a transform)")
        indices = self._check_indices(indices)
        keys = ["image"] + (["snp_distance"] if self.transform.distance_channel else [])
        data = self._read(indices, keys)
        if len(indices) == 0:
            return np.zeros((0, *self.image_shape), dtype=np.float32)
        return self.transform.assemble(data["image"], data.get("snp_distance"))

    def arrays(self, indices: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: float32 images and int64 labels of ``indices`` (all by default)."""
        indices = self._check_indices(indices)
        return self.images(indices), self._read(indices, ["label"])["label"]

    def batches(
        self,
        batch_size: int = 32,
        indices: Sequence[int] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        buffer_chunks: int = 4,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Stream mini-batches ``(x, y, indices)`` without loading the whole dataset.

        Chunks are visited in a shuffled order; ``buffer_chunks`` of them at a time are read, their rows
        (restricted to ``indices``) shuffled together and cut into batches, so memory stays at about
        ``buffer_chunks × chunk_size`` images. The last batch may be smaller. The same ``seed`` gives
        the same batches.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        if self.transform is None:
            raise ValueError(f"dataset {str(self.path)!r} stores no images (it was simulated without a transform)")
        indices = self._check_indices(indices)
        rng = np.random.default_rng(seed)
        keys = ["image", "label"] + (["snp_distance"] if self.transform.distance_channel else [])
        # Group requested rows by chunk file.
        chunk_files = self._plan_rows(indices) // self.chunk_size
        chunks = np.unique(chunk_files)
        if shuffle:
            chunks = rng.permutation(chunks)
        # Rows left over from the previous buffer (fewer than a batch), with their compact int8 data.
        carry_rows, carry = np.zeros(0, dtype=np.int64), None
        for start in range(0, len(chunks), buffer_chunks):
            group_rows = indices[np.isin(chunk_files, chunks[start : start + buffer_chunks])]
            # One read per chunk file; images stay int8 in the buffer and become float32 one batch at a time.
            data = self._read(group_rows, keys)
            if carry is not None:
                data = {key: np.concatenate([carry[key], data[key]]) for key in keys}
            rows = np.concatenate([carry_rows, group_rows])
            order = rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
            last_group = start + buffer_chunks >= len(chunks)
            end = len(rows) if last_group else len(rows) // batch_size * batch_size
            for begin in range(0, end, batch_size):
                take = order[begin : begin + batch_size]
                x = self.transform.assemble(data["image"][take], data["snp_distance"][take] if "snp_distance" in data else None)
                yield x, data["label"][take], rows[take]
            carry_rows = rows[order[end:]]
            carry = {key: data[key][order[end:]] for key in keys}

    def source(self, indices: Sequence[int] | None = None, batch_size: int = 32, *, shuffle: bool = True,
               seed: int = 0, scale=None, buffer_chunks: int = 4, extra=None):
        """A batch source for ``minidl.Sequential.fit`` / ``evaluate`` / ``predict`` that streams from the store.

        Each epoch is one pass of :meth:`batches` over ``indices`` (all rows by default) — chunk-grouped
        shuffling, images decoded one batch at a time, so memory stays at about ``buffer_chunks × chunk_size``
        images whatever the dataset's size — with seed ``seed + epoch`` (a new order each epoch, the same
        orders for the same ``seed``). ``scale`` is applied to every batch of images on the fly: pass the
        *training* scaler's ``transform`` (the same for training, validation, test and real data). With
        ``shuffle=False`` the batches are those of ``fit(self.images(indices), self.labels[indices],
        batch_size, shuffle=False)``, and training gives identical weights.

            model.fit(ds.source(train, 32, scale=scaler.transform), epochs=20,
                      validation_data=ds.source(val, 256, shuffle=False, scale=scaler.transform))

        ``extra`` — an array with one row per replicate of the dataset (e.g. its standardised statistics) —
        makes every batch ``([images, extra[rows]], labels)`` for a two-input ``minidl.Model`` (image and
        statistics branches), the rows being the batch's replicates.
        """
        from minidl.data import from_batches

        indices = self._check_indices(indices)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        if scale is not None and not callable(scale):
            raise ValueError(f"scale must be a function images -> images (e.g. scaler.transform); got {scale!r}")
        if extra is not None:
            extra = np.asarray(extra)
            if extra.ndim == 0 or len(extra) != len(self):
                raise ValueError(f"extra must have one row per replicate ({len(self)}); got shape {extra.shape}")
        epoch = iter(range(2**62))

        def one_pass():
            for x, y, rows in self.batches(batch_size, indices, shuffle=shuffle, seed=seed + next(epoch),
                                           buffer_chunks=buffer_chunks):
                x = x if scale is None else scale(x)
                yield ([x, extra[rows]] if extra is not None else x), y

        return from_batches(one_pass, steps=-(-len(indices) // int(batch_size)))

    def split(self, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[np.ndarray, ...]:
        """Contiguous train/validation/test (or any number of parts) index arrays.

        The split depends only on the replicate positions, not on the seed: the first ``fractions[0]`` of
        the plan, then the next, and so on. Because scenarios are interleaved, boundaries are rounded to
        whole rounds (one replicate of each scenario) so every part keeps the scenario proportions.
        """
        fractions = np.asarray(fractions, dtype=float)
        if fractions.ndim != 1 or len(fractions) == 0 or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
            raise ValueError(f"fractions must be >= 0 and sum to 1; got {list(fractions)}")
        n_scenarios = len(self.scenario_names)
        rounds = len(self) // n_scenarios
        cuts = np.round(np.cumsum(fractions) * rounds).astype(int) * n_scenarios
        cuts[-1] = len(self)
        starts = np.concatenate([[0], cuts[:-1]])
        return tuple(np.arange(a, b) for a, b in zip(starts, cuts))

    def iter_replicates(self, indices: Sequence[int] | None = None) -> Iterator[ReplicateRecord]:
        """Yield raw genotype matrices and positions replicate by replicate (needs ``keep_genotypes``)."""
        settings = self.metadata["config"]["settings"]
        if not settings["keep_genotypes"]:
            raise ValueError(
                f"dataset {str(self.path)!r} stores no raw genotypes; simulate it with keep_genotypes=True "
                "(CLI: --keep-genotypes)"
            )
        indices = self._check_indices(indices)
        populations = list(self.metadata["haplotype_populations"])
        rows = self._plan_rows(indices)
        open_chunk, data, small, offsets = None, None, None, None
        for row in rows.tolist():
            chunk = row // self.chunk_size
            if chunk != open_chunk:
                # One chunk's raw and small arrays at a time (checked against the manifest): memory stays at one chunk.
                data = self._store.raw(chunk)
                small = {name: self._store.block(name, chunk) for name in ("label", "params", "seeds", "sites_per_locus")}
                sites = small["sites_per_locus"].sum(axis=1)
                offsets = np.concatenate([[0], np.cumsum(sites)]).astype(np.int64)
                open_chunk = chunk
            within = row - chunk * self.chunk_size
            a, b = offsets[within], offsets[within + 1]
            label = int(small["label"][within])
            yield ReplicateRecord(
                index=int(row),
                label=label,
                scenario=self.scenario_names[label],
                params={
                    name: float(value)
                    for name, value in zip(self.parameter_names, small["params"][within])
                    if not np.isnan(value)
                },
                seeds=small["seeds"][within],
                genotypes=data["genotypes"][a:b],
                positions=data["positions"][a:b],
                locus=data["locus"][a:b],
                populations=populations,
                sequence_length=float(settings["sequence_length"]),
                n_loci=int(settings["n_loci"]),
            )

    def statistics_table(self, statistics="default", per_bp: bool = True, cache=None):
        """Summary statistics of every replicate, computed from the raw genotypes over all loci of a
        replicate together (a :class:`popsim.features.stats.StatisticsTable`, rows in dataset order).

        ``statistics`` is a preset name or a list of keys of :data:`popsim.features.stats.STATISTICS`;
        ``per_bp`` divides sums over sites by :attr:`region_bp`. Replicates are read one at a time, so memory
        does not grow with the dataset. ``cache``: a ``.npz`` path — read from it if it exists, else computed
        and written there. Needs raw genotypes (``keep_genotypes=True``); for statistics computed while
        simulating, see :attr:`statistics`.
        """
        from popsim.features.stats import StatisticsTable

        if cache is not None and Path(cache).exists():
            return StatisticsTable.load(cache)
        if len(self) == 0:
            raise ValueError(f"dataset {str(self.path)!r} has no replicates")
        table = self._statistics_of(None, statistics, per_bp)
        if cache is not None:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            table.save(cache)
        return table

    def _statistics_of(self, indices, statistics, per_bp: bool):
        """The :class:`~popsim.features.stats.StatisticsTable` of replicates ``indices`` (None: all), read one at
        a time from the raw genotypes, with each site's locus (for the statistics that compare haplotypes
        within a locus)."""
        from popsim.features.stats import statistics_table

        genotypes, loci = itertools.tee(self.iter_replicates(indices))  # one read, two views of each record
        return statistics_table((record.genotypes for record in genotypes), self.region_bp if per_bp else None,
                                np.asarray(self.haplotype_populations), statistics,
                                loci=(record.locus for record in loci))

    # -- statistics computed from the raw genotypes, written into the store chunk by chunk ----------------
    def _derived(self, statistics, per_bp: bool) -> tuple[Path, Path, dict]:
        """``(array path, log path, spec)`` of the stored statistics ``statistics``/``per_bp``."""
        from popsim.features.stats import _expand

        spec = {"statistics": statistics if isinstance(statistics, str) else list(_expand(statistics)),
                "per_bp": bool(per_bp), "fingerprint": self.metadata["fingerprint"]}
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        return self.path / DERIVED / f"statistics-{key}", self.path / DERIVED / f"statistics-{key}.jsonl", spec

    def _derived_log(self, log: Path, spec: dict) -> tuple[dict | None, dict]:
        """``(header, {chunk: line})`` of a derived-statistics log; a header of another spec counts as none."""
        header, entries = _read_manifest(log.parent, log.name)
        if header is None or any(header.get(k) != v for k, v in spec.items()):
            return None, {}
        return header, entries

    def _derived_block(self, array, log: Path, done: dict, chunk: int) -> np.ndarray:
        """Rows of ``chunk`` in a derived-statistics ``array``, checked against ``log`` (else the error)."""
        def problem(reason):
            short = f"{self._store.describe(chunk)} of array {log.stem!r} {reason}"
            return DatasetIntegrityError(f"dataset {str(self.path)!r}: {short}; it is not read as data. Run `popsim "
                                         f"stats {self.path}` with the same statistics to compute it again", short)

        if chunk not in done:
            raise problem("is not recorded in its log (not computed yet)")
        start, stop = self._store.rows(chunk)
        try:
            values = array[start:stop]
        except Exception as error:  # crc32c mismatch, undecodable bytes
            raise problem(f"is corrupt (cannot be decoded: {error})") from None
        if checksum(values) != done[chunk].get("checksum"):
            raise problem("does not match its checksum in its log")
        return values

    def write_statistics(self, statistics="default", per_bp: bool = True, progress: bool = False) -> list[str]:
        """Compute summary statistics from the raw genotypes and write them into the store, chunk by chunk.

        The values are those of :meth:`statistics_table` (same ``statistics`` and ``per_bp``), stored as a
        float64 array ``derived/statistics-<key>`` of shape ``(n_replicates, n_statistics)`` chunked like the
        dataset, with a log ``derived/statistics-<key>.jsonl`` (a header with the statistics, ``per_bp``,
        names and the dataset fingerprint, then one line per chunk with its checksum, appended once the chunk
        is written). Chunks already logged by an earlier call — also an interrupted one — are checked against
        their checksums and kept (a bad one is computed again, with a warning), so this resumes. Memory stays at one chunk of raw genotypes. Returns the statistic names; read the values
        with :meth:`statistics_blocks`. Needs raw genotypes (``keep_genotypes=True``).
        """
        import zarr
        from minidl.progress import progress_bar as tqdm

        if len(self) == 0:
            raise ValueError(f"dataset {str(self.path)!r} has no replicates")
        array_path, log, spec = self._derived(statistics, per_bp)
        header, done = self._derived_log(log, spec)
        if header is None:
            done = {}
        array = None if header is None else zarr.open_array(str(array_path), mode="r+", config=_ZARR_CONFIG)
        for chunk in [c for c in self._chunks if c in done]:  # chunks of an earlier call: checked, else redone
            try:
                self._derived_block(array, log, done, chunk)
            except DatasetIntegrityError as error:
                warnings.warn(f"dataset {str(self.path)!r}: {error.reason}; computing it again", stacklevel=2)
                del done[chunk]
        todo = [j for j, chunk in enumerate(self._chunks) if chunk not in done]
        for j in tqdm(todo, disable=not progress, desc="statistics", unit="chunk"):
            chunk = self._chunks[j]
            positions = np.arange(self._first[j], self._first[j + 1])
            table = self._statistics_of(positions, statistics, per_bp)
            if array is None:  # the first chunk gives the names, hence the width of the array
                derived = zarr.open_group(str(self.path), mode="a").require_group(DERIVED)
                array = derived.create_array(array_path.name, shape=(int(self.metadata["n_replicates"]), len(table.names)),
                                          chunks=(self.chunk_size, len(table.names)), dtype="float64",
                                          fill_value=float("nan"), compressors=_codecs(), config=_ZARR_CONFIG,
                                          overwrite=True)
                header = {"manifest": "popsim-statistics", **spec, "names": table.names}
                _write_manifest(log.parent, header, [], name=log.name)
            start, stop = self._store.rows(chunk)
            array[start:stop] = table.values
            _append_manifest(log.parent, {"chunk": int(chunk), "checksum": checksum(table.values)}, name=log.name)
            del table
            _trim_heap()  # the chunk's raw arrays are freed: return their pages, so memory stays at one chunk
        return list(header["names"])

    def statistics_blocks(self, statistics="default", per_bp: bool = True,
                          compute: bool = True) -> tuple[list[str], Iterator[tuple[np.ndarray, np.ndarray]]]:
        """``(names, blocks)``: the statistics stored by :meth:`write_statistics` (computed first for the chunks
        that lack them, unless ``compute=False``), and an iterator of ``(positions, values)`` — one stored chunk
        at a time, each checked against its checksum (else :class:`DatasetIntegrityError`)."""
        import zarr

        if compute:
            self.write_statistics(statistics, per_bp)
        array_path, log, spec = self._derived(statistics, per_bp)
        header, done = self._derived_log(log, spec)
        if header is None:
            raise ValueError(f"dataset {str(self.path)!r} stores no statistics {spec['statistics']!r} "
                             f"(per_bp={spec['per_bp']}); compute them with write_statistics (CLI: popsim stats)")
        array = zarr.open_array(str(array_path), mode="r")

        def blocks():
            for j, chunk in enumerate(self._chunks):
                yield np.arange(self._first[j], self._first[j + 1]), self._derived_block(array, log, done, chunk)

        return list(header["names"]), blocks()

    def scenario_counts(self) -> np.ndarray:
        """Stored replicates of each scenario, ``(n_scenarios,)`` int64 — from the plan's interleaving over the
        stored chunks (labels are checked against it on resume and by ``verify``), without reading any array."""
        interleaving = Interleaving(self.metadata["config"]["n"])
        counts = np.zeros(len(self.scenario_names), dtype=np.int64)
        for chunk in self._chunks:
            labels, _ = interleaving.locate(np.arange(*self._store.rows(chunk)))
            counts += np.bincount(labels, minlength=len(counts))
        return counts

    def info(self) -> str:
        """A human-readable summary (what ``popsim info`` prints)."""
        m = self.metadata
        config, settings = m["config"], m["config"]["settings"]
        counts = self.scenario_counts()
        lines = [
            f"dataset        {self.path}",
            "status         " + ("complete" if self.complete else f"INCOMPLETE: {len(self._chunks)} of {m['n_chunks']} "
                                     "chunks (run the same simulate command to resume)"),
            f"replicates     {len(self)} of {m['n_replicates']} in {len(self._chunks)} of {m['n_chunks']} chunks "
            f"(chunk size {config['chunk_size']})",
            f"master seed    {config['seed']}",
            "scenarios      " + ", ".join(f"{k}={name} ({c})" for k, (name, c) in enumerate(zip(self.scenario_names, counts))),
            f"samples        {m['scenarios'][0]['samples']} diploid individuals "
            f"({len(m['haplotype_populations'])} haplotypes)",
            f"loci           {settings['n_loci']} x {settings['sequence_length']:g} bp",
            (
                f"mutations      exactly {settings['segregating_sites']} segregating "
                f"site{'' if settings['segregating_sites'] == 1 else 's'} per locus"
                if settings["segregating_sites"] is not None
                else f"mutation rate  {settings['mutation_rate']:g} per bp per generation"
                + (" (discrete genome)" if settings["discrete_genome"] else " (infinite sites)")
            ),
            f"recombination  {settings['recombination_rate']:g} per bp per generation",
            f"parameters     {', '.join(self.parameter_names)}",
            f"images         {m['image_shape']} {settings['transform']}" if m["image_shape"] else "images         none",
            f"raw genotypes  {'kept' if settings['keep_genotypes'] else 'not kept'}",
            f"statistics     {settings.get('statistics')}: {', '.join(self.statistic_names)}"
            if settings.get("statistics")
            else "statistics     none",
            f"versions       {', '.join(f'{k} {v}' for k, v in m['versions'].items())}",
        ]
        return "\n".join(lines)
