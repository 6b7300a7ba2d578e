"""Simulated data sets on disk: chunked, resumable, streamable.

On-disk format (``format_version`` 1)
-------------------------------------
A dataset is a directory::

    DATASET/
      metadata.json        # written first; "complete": true is set only after the last chunk
      chunk-000000.npz     # replicates 0 .. chunk_size-1 of the plan
      chunk-000001.npz     # replicates chunk_size .. 2·chunk_size-1
      ...

``metadata.json`` holds: ``format``, ``format_version``, ``created`` (UTC ISO time), ``config`` (scenario names,
``n`` per scenario, master ``seed``, ``chunk_size``, ``settings``: sequence length in bp, mutation and
recombination rates per bp per generation, loci per replicate, fixed segregating sites, discrete genome,
whether raw genotypes are kept, the image ``transform`` parameters and the ``statistics`` function), ``scenarios``
(for each: name, description, samples in diploid individuals, priors, simulation defaults, and its demes graph
at the prior medians), ``parameter_names`` (columns of ``params``), ``haplotype_populations`` (population of
each haplotype), ``image_shape`` ``[rows, n_snps, channels]`` or null, ``statistic_names`` (columns of
``statistics``) or null, ``n_replicates``, ``n_chunks``, ``versions`` (popsim, msprime, tskit, demes, numpy,
python) and ``complete``.

Each chunk is a NumPy ``.npz`` (zip, compressed) with, for its ``n_c`` replicates:

==================  =====================================  =========  ==============================================
key                 shape                                  dtype      meaning
==================  =====================================  =========  ==============================================
index               (n_c,)                                 int64      row in the plan (global replicate number)
label               (n_c,)                                 int64      scenario index (position in config.scenarios)
params              (n_c, n_parameters)                    float64    parameter values; NaN where a scenario lacks one
seeds               (n_c, 4)                               uint32     parameter, ancestry, mutation, transform seeds
sites_per_locus     (n_c, n_loci)                          int32      segregating sites of each locus
image               (n_c, rows, n_snps, 1)                 int8       genotype channel (only with a transform)
snp_distance        (n_c, n_snps)                          float32    log(1+bp) channel (only if distance_channel)
statistics          (n_c, n_statistics)                    float64    summary statistics (only with a statistics function)
site_offsets        (n_c + 1,)                             int64      replicate i's sites are rows offsets[i]:offsets[i+1]
genotypes           (total_sites, haplotypes)              int8       raw 0/1 matrices (only with keep_genotypes)
positions           (total_sites,)                         float64    bp within the locus (only with keep_genotypes)
locus               (total_sites,)                         int32      locus index of each site (only with keep_genotypes)
==================  =====================================  =========  ==============================================

Safety: a chunk is written to a hidden temporary file in the same directory, flushed to disk and renamed
with ``os.replace`` (atomic on POSIX), so a file named ``chunk-NNNNNN.npz`` is always complete; interrupted
temporaries (``.chunk-*.partial``) are ignored and cleaned up on resume. Running ``simulate_dataset`` again on
the same directory with the same configuration simulates only the missing chunks; since every replicate's
seeds depend only on the master seed and its position (see ``popsim.sim.simulate``), the result is identical to an
uninterrupted run. A different configuration on an existing directory is refused.

Reading: ``Dataset(path)`` reads the small per-replicate arrays (labels, parameters, seeds, statistics) eagerly and images
lazily, chunk by chunk: ``images(indices)``, ``arrays(indices)``, ``batches(batch_size, ...)`` streams
shuffled mini-batches holding only a few chunks in memory, ``iter_replicates()`` yields raw genotype matrices
for summary statistics, and ``split()`` gives train/validation/test indices.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from popsim.features.genotypes import population_order
from popsim.features.images import GenotypeImage
from popsim.sim.scenarios import Scenario
from popsim.sim.simulate import (Plan, Replicate, ReplicateRecord, SimulationSettings, check_settings, run_plan,
                                 statistics_table)

__all__ = ["simulate_dataset", "Dataset", "ReplicateRecord", "FORMAT_VERSION"]

FORMAT_VERSION = 1
METADATA = "metadata.json"
_CHUNK_PATTERN = re.compile(r"^chunk-(\d{6})\.npz$")


def _chunk_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}.npz"


def _versions() -> dict:
    import demes
    import msprime
    import tskit

    from popsim import __version__

    return {
        "popsim": __version__,
        "msprime": msprime.__version__,
        "tskit": tskit.__version__,
        "demes": demes.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _write_atomically(path: Path, write) -> None:
    """Write via a temporary file in the same directory, fsync, then rename over ``path``.

    ``os.replace`` is atomic, so readers see either no file or the complete file — never a partial one.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes owner-only files; a dataset is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _write_json(path: Path, content: dict) -> None:
    _write_atomically(path, lambda handle: handle.write(json.dumps(content, indent=1).encode()))


def _chunk_arrays(replicates: Sequence[Replicate], plan: Plan, keep_genotypes: bool, transform) -> dict:
    """Stack the replicates of one chunk into the arrays described in the module docstring."""
    arrays = {
        "index": np.array([r.index for r in replicates], dtype=np.int64),
        "label": np.array([r.label for r in replicates], dtype=np.int64),
        "params": plan.params_table([r.index for r in replicates], [r.params for r in replicates]),
        "seeds": np.stack([r.seeds for r in replicates]).astype(np.uint32),
        "sites_per_locus": np.stack([r.sites_per_locus for r in replicates]).astype(np.int32),
    }
    sites = arrays["sites_per_locus"].sum(axis=1)
    arrays["site_offsets"] = np.concatenate([[0], np.cumsum(sites)]).astype(np.int64)
    if transform is not None:
        arrays["image"] = np.stack([r.image for r in replicates]).astype(np.int8)
        if transform.distance_channel:
            arrays["snp_distance"] = np.stack([r.snp_distance for r in replicates]).astype(np.float32)
    if replicates[0].statistics is not None:
        arrays["statistics"] = statistics_table(replicates)[1]
    if keep_genotypes:
        arrays["genotypes"] = np.concatenate([r.genotypes for r in replicates], axis=0).astype(np.int8)
        arrays["positions"] = np.concatenate([r.positions for r in replicates]).astype(np.float64)
        arrays["locus"] = np.concatenate([r.locus for r in replicates]).astype(np.int32)
    return arrays


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
    """Simulate into a dataset directory, or resume an interrupted run there.

    Parameters
    ----------
    path : dataset directory (created if needed).
    scenarios, n, seed : as ``popsim.sim.simulate.simulate``.
    settings : a ``SimulationSettings`` (None = the scenarios' defaults). Its ``transform`` (a
        ``GenotypeImage``) makes the images, ``keep_genotypes=True`` also stores the raw ``(sites,
        haplotypes)`` matrices, positions and loci (default here: not stored), and ``statistics`` (a
        module-level function ``ReplicateRecord -> {name: float}``) computes statistics in the workers,
        stored per replicate with their names in metadata ``statistic_names``. At least one of the three.
    chunk_size : replicates per chunk file (the unit of resumption and of streaming).
    executor, workers, batch_size, progress : as ``popsim.sim.simulate.run_plan``.
    stop_after_chunks : write at most this many new chunks, then return (simulate in installments).

    Returns
    -------
    ``Dataset`` (complete unless stopped early).
    """
    settings = check_settings(settings)
    transform, keep_genotypes, statistics = settings.transform, settings.keep_genotypes, settings.statistics
    if transform is None and not keep_genotypes and statistics is None:
        raise ValueError(
            "simulate_dataset needs transform=GenotypeImage(...), keep_genotypes=True or statistics=... in its "
            "SimulationSettings; got none of them"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
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
    n_chunks = -(-len(plan) // int(chunk_size))
    config = {
        "scenarios": [s.name for s in plan.scenarios],
        "n": plan.n,
        "seed": plan.seed,
        "chunk_size": int(chunk_size),
        "settings": settings.to_dict(),
    }
    metadata = {
        "format": "popsim-dataset",
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "scenarios": [s.to_dict() for s in plan.scenarios],
        "parameter_names": plan.parameter_names,
        "haplotype_populations": populations,
        "image_shape": None if transform is None else list(transform.output_shape(len(populations))),
        "statistic_names": None,  # filled in from the first replicate when statistics are computed
        "n_replicates": len(plan),
        "n_chunks": n_chunks,
        "versions": _versions(),
        "complete": False,
    }

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    metadata_path = path / METADATA
    if metadata_path.exists():
        # Resume only what was started with exactly the same configuration.
        old = json.loads(metadata_path.read_text())
        if old.get("config") != json.loads(json.dumps(config)) or old.get("scenarios") != json.loads(
            json.dumps(metadata["scenarios"])
        ):
            raise ValueError(
                f"dataset {str(path)!r} was started with another configuration; expected the same scenarios, n, "
                "seed, chunk_size and settings to resume (or use a new directory)"
            )
        metadata["created"] = old.get("created", metadata["created"])
        metadata["statistic_names"] = old.get("statistic_names")
    else:
        _write_json(metadata_path, metadata)
    # Leftovers of an interrupted write are never valid: remove them.
    for leftover in path.glob(".chunk-*.partial"):
        leftover.unlink()

    missing_chunks = [c for c in range(n_chunks) if not (path / _chunk_name(c)).exists()]
    if stop_after_chunks is not None:
        missing_chunks = missing_chunks[: int(stop_after_chunks)]
    indices = [i for c in missing_chunks for i in range(c * chunk_size, min((c + 1) * chunk_size, len(plan)))]

    pending: list[Replicate] = []
    replicates = run_plan(plan, settings, indices, executor, workers, batch_size, progress, f"simulating {path.name}")
    for replicate in replicates:
        pending.append(replicate)
        chunk = replicate.index // chunk_size
        last_of_chunk = min((chunk + 1) * chunk_size, len(plan)) - 1
        if replicate.index == last_of_chunk:
            arrays = _chunk_arrays(pending, plan, settings.keep_genotypes, transform)
            if statistics is not None and metadata["statistic_names"] is None:
                # Record the statistic names once; they are part of what the dataset means.
                metadata["statistic_names"] = list(pending[0].statistics)
                _write_json(metadata_path, metadata)
            _write_atomically(path / _chunk_name(chunk), lambda handle: np.savez_compressed(handle, **arrays))
            pending = []

    if all((path / _chunk_name(c)).exists() for c in range(n_chunks)):
        metadata["complete"] = True
        _write_json(metadata_path, metadata)
    return Dataset(path, allow_incomplete=True)


class Dataset:
    """Read a dataset written by ``simulate_dataset`` (format in the module docstring).

    Attributes
    ----------
    metadata : the parsed ``metadata.json``.
    labels : (n,) int64; params : (n, n_parameters) float64; seeds : (n, 4) uint32 — of the stored replicates.
    statistics : (n, n_statistics) float64 or None; statistic_names : their names.
    indices : (n,) int64 plan rows of the stored replicates (0..n-1 when complete).
    scenario_names, parameter_names, transform (``GenotypeImage`` or None).
    """

    def __init__(self, path: str | Path, allow_incomplete: bool = False):
        self.path = Path(path)
        metadata_path = self.path / METADATA
        if not metadata_path.exists():
            raise FileNotFoundError(f"dataset {str(self.path)!r} has no {METADATA}; expected a popsim dataset directory")
        self.metadata = json.loads(metadata_path.read_text())
        if self.metadata.get("format") != "popsim-dataset" or self.metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"dataset {str(self.path)!r} is not a popsim dataset of format version {FORMAT_VERSION}")
        if not self.metadata["complete"] and not allow_incomplete:
            raise ValueError(
                f"dataset {str(self.path)!r} is incomplete (interrupted run); expected a complete dataset — "
                "run the same simulate command again to resume, or pass allow_incomplete=True"
            )
        settings = self.metadata["config"]["settings"]
        self.transform = None if settings["transform"] is None else GenotypeImage.from_dict(settings["transform"])
        self.scenario_names = list(self.metadata["config"]["scenarios"])
        self.parameter_names = list(self.metadata["parameter_names"])
        self.chunk_size = int(self.metadata["config"]["chunk_size"])
        # Only complete chunk files count; temporaries have other names.
        self._chunks = sorted(
            int(m.group(1)) for m in (_CHUNK_PATTERN.match(p.name) for p in self.path.iterdir()) if m
        )
        self.statistic_names = self.metadata.get("statistic_names") or []
        has_statistics = self.metadata["config"]["settings"].get("statistics") is not None
        small = {key: [] for key in ("index", "label", "params", "seeds", "sites_per_locus")
                 + (("statistics",) if has_statistics else ())}
        for chunk in self._chunks:
            with np.load(self.path / _chunk_name(chunk)) as data:
                for key in small:
                    small[key].append(data[key])
        n_parameters = len(self.parameter_names)
        self.indices = np.concatenate(small["index"]) if self._chunks else np.zeros(0, np.int64)
        self.labels = np.concatenate(small["label"]) if self._chunks else np.zeros(0, np.int64)
        self.params = np.concatenate(small["params"]) if self._chunks else np.zeros((0, n_parameters))
        self.seeds = np.concatenate(small["seeds"]) if self._chunks else np.zeros((0, 4), np.uint32)
        # Segregating sites of each locus of each replicate, (n, n_loci) int32.
        self.sites_per_locus = (np.concatenate(small["sites_per_locus"]) if self._chunks
                                else np.zeros((0, int(settings["n_loci"])), np.int32))
        # Summary statistics, (n, n_statistics) float64, or None if none were computed.
        self.statistics = None
        if has_statistics:
            self.statistics = (
                np.concatenate(small["statistics"]) if self._chunks else np.zeros((0, len(self.statistic_names)))
            )
        # Map plan row -> position in the arrays above.
        self._position = {int(index): position for position, index in enumerate(self.indices)}

    def __len__(self) -> int:
        return len(self.indices)

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

    def _chunk_file(self, position: int) -> Path:
        return self.path / _chunk_name(int(self.indices[position]) // self.chunk_size)

    def _read(self, indices: np.ndarray, keys: Sequence[str]) -> dict:
        """Rows ``indices`` (positions in this dataset) of per-replicate arrays ``keys``, in the given order."""
        out = {key: [None] * len(indices) for key in keys}
        by_chunk: dict[Path, list[tuple[int, int]]] = {}
        for slot, position in enumerate(indices):
            row_in_chunk = int(self.indices[position]) % self.chunk_size
            by_chunk.setdefault(self._chunk_file(position), []).append((slot, row_in_chunk))
        for chunk_file, wanted in by_chunk.items():
            with np.load(chunk_file) as data:
                for key in keys:
                    values = data[key]
                    for slot, row in wanted:
                        out[key][slot] = values[row]
        return {key: np.stack(values) if values else np.zeros(0) for key, values in out.items()}

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
        return self.images(indices), self.labels[indices]

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
        keys = ["image"] + (["snp_distance"] if self.transform.distance_channel else [])
        # Group requested rows by chunk file.
        chunk_files = np.array([int(self.indices[p]) // self.chunk_size for p in indices], dtype=np.int64)
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
                x = self.transform.assemble(data["image"][take], data["snp_distance"][take] if len(keys) > 1 else None)
                yield x, self.labels[rows[take]], rows[take]
            carry_rows = rows[order[end:]]
            carry = {key: data[key][order[end:]] for key in keys}

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
        open_chunk, data = None, None
        for position in indices:
            chunk_file = self._chunk_file(position)
            if chunk_file != open_chunk:
                with np.load(chunk_file) as archive:
                    data = {key: archive[key] for key in ("site_offsets", "genotypes", "positions", "locus")}
                open_chunk = chunk_file
            row = int(self.indices[position]) % self.chunk_size
            a, b = data["site_offsets"][row], data["site_offsets"][row + 1]
            label = int(self.labels[position])
            yield ReplicateRecord(
                index=int(self.indices[position]),
                label=label,
                scenario=self.scenario_names[label],
                params={
                    name: float(value)
                    for name, value in zip(self.parameter_names, self.params[position])
                    if not np.isnan(value)
                },
                seeds=self.seeds[position],
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
        from popsim.features.stats import StatisticsTable, statistics_table

        if cache is not None and Path(cache).exists():
            return StatisticsTable.load(cache)
        if len(self) == 0:
            raise ValueError(f"dataset {str(self.path)!r} has no replicates")
        genotypes = (record.genotypes for record in self.iter_replicates())
        table = statistics_table(genotypes, self.region_bp if per_bp else None,
                                 np.asarray(self.haplotype_populations), statistics)
        if cache is not None:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            table.save(cache)
        return table

    def info(self) -> str:
        """A human-readable summary (what ``popsim info`` prints)."""
        m = self.metadata
        config, settings = m["config"], m["config"]["settings"]
        counts = np.bincount(self.labels, minlength=len(self.scenario_names)) if len(self) else [0] * len(
            self.scenario_names
        )
        lines = [
            f"dataset        {self.path}",
            f"status         {'complete' if self.complete else 'INCOMPLETE (run the same simulate command to resume)'}",
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
