"""Replicate throughput of popsim.sim.simulate vs a plain msprime loop, on 1 and 2 workers.

What is compared (same model, same parameters, same number of replicates):

* raw msprime: a loop of ``sim_ancestry`` -> ``sim_mutations(BinaryMutationModel, infinite sites)`` ->
  ``genotype_matrix()`` — the least a user would write;
* popsim, 1 worker: ``simulate(...)`` in-process (seed derivation, prior draws, demography built per replicate,
  non-segregating sites dropped, int8 conversion);
* popsim, 2 workers: the same through a ``ProcessPoolExecutor`` (pool start-up included);
* with ``--store``, also ``simulate_dataset`` into a fresh zarr store on 1 and 2 workers (flagship-sized 48 × 256
  images and the raw genotypes kept, ``--chunk-size`` replicates per chunk): the workers write their own
  chunks and the main process only builds the tasks and records completion. The **writer's share** is the
  main process's CPU per replicate in the 2-worker store run divided by the workers' CPU per replicate in
  the same run (target < 5 %).

The model is ``flagship_im`` with its parameters fixed at the prior medians (so that every replicate costs the
same) and one locus long enough to cost >= 20 ms per replicate. Each configuration is timed ``--repeats`` times,
interleaved, and medians are reported: the machine is shared and noisy, so ratios of medians are what to read.

Run:  python benchmarks/bench_simulate.py [--n 200] [--repeats 5] [--sequence-length 500000] [--store]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time

import msprime
import numpy as np

from popsim.sim.priors import Fixed
from popsim.sim.scenarios import Scenario, get_scenario
from popsim.sim.simulate import SimulationSettings, simulate


def fixed_scenario() -> Scenario:
    """flagship_im with every parameter fixed at its prior median."""
    base = get_scenario("flagship_im")
    params = base.reference_params()
    return Scenario("flagship_im_fixed", base.samples, {k: Fixed(v) for k, v in params.items()}, base.build)


class Clock:
    """Wall time and CPU time of a block, in seconds: ``cpu`` = this process (``main``) + finished child
    processes (``children``)."""

    def __enter__(self):
        self.wall = time.perf_counter()
        self.main, self.children = self._cpu()
        return self

    @staticmethod
    def _cpu():
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time(), children.ru_utime + children.ru_stime

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        main, children = self._cpu()
        self.main, self.children = main - self.main, children - self.children
        self.cpu = self.main + self.children


def raw_msprime(scenario: Scenario, n: int, settings: dict, seed: int) -> None:
    """n replicates with a plain msprime loop."""
    demography = scenario.demography()
    rng = np.random.default_rng(seed)
    for _ in range(n):
        ts = msprime.sim_ancestry(
            samples=scenario.samples,
            demography=demography,
            sequence_length=settings["sequence_length"],
            recombination_rate=settings["recombination_rate"],
            random_seed=int(rng.integers(1, 2**32 - 1)),
        )
        ts = msprime.sim_mutations(
            ts,
            rate=settings["mutation_rate"],
            model=msprime.BinaryMutationModel(),
            discrete_genome=False,
            random_seed=int(rng.integers(1, 2**32 - 1)),
        )
        ts.genotype_matrix()


def popsim_run(scenario: Scenario, n: int, settings: dict, seed: int, workers: int) -> None:
    simulate(scenario, n, seed, SimulationSettings(n_loci=1, **settings), workers=workers)


def store_run(scenario: Scenario, n: int, settings: dict, seed: int, workers: int, chunk_size: int) -> None:
    """``simulate_dataset`` into a fresh store (deleted afterwards): images, raw genotypes, workers writing."""
    from popsim.features.images import GenotypeImage
    from popsim.sim.dataset import simulate_dataset

    folder = tempfile.mkdtemp(prefix="bench_simulate_")
    try:
        simulate_dataset(f"{folder}/data", scenario, n, seed,
                         SimulationSettings(n_loci=1, transform=GenotypeImage(n_snps=256), keep_genotypes=True,
                                            **settings), chunk_size=chunk_size, workers=workers, progress=False)
    finally:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="replicates per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per configuration (medians reported)")
    parser.add_argument("--sequence-length", type=float, default=500_000, help="bp of the single locus")
    parser.add_argument("--store", action="store_true", help="also time simulate_dataset into a zarr store")
    parser.add_argument("--chunk-size", type=int, default=10, help="replicates per store chunk (with --store)")
    args = parser.parse_args()

    scenario = fixed_scenario()
    # The flagship's rates (per bp per generation) on one longer locus.
    settings = {"sequence_length": args.sequence_length, "mutation_rate": 2e-8, "recombination_rate": 1e-8}
    # Warm-up: imports, first-call costs.
    raw_msprime(scenario, 3, settings, 0)
    popsim_run(scenario, 3, settings, 0, 1)
    if args.store:
        store_run(scenario, 3, settings, 0, 1, args.chunk_size)

    runs = {
        "raw msprime": lambda r: raw_msprime(scenario, args.n, settings, r),
        "popsim 1 worker": lambda r: popsim_run(scenario, args.n, settings, r, 1),
        "popsim 2 workers": lambda r: popsim_run(scenario, args.n, settings, r, 2),
    }
    if args.store:
        runs["store 1 worker"] = lambda r: store_run(scenario, args.n, settings, r, 1, args.chunk_size)
        runs["store 2 workers"] = lambda r: store_run(scenario, args.n, settings, r, 2, args.chunk_size)
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    main_cpu = {name: [] for name in runs}
    child_cpu = {name: [] for name in runs}
    names = list(runs)
    for repeat in range(args.repeats):
        for name in (names if repeat % 2 == 0 else names[::-1]):  # alternate the order: drift hits all alike
            with Clock() as clock:
                runs[name](repeat)
            wall[name].append(clock.wall)
            cpu[name].append(clock.cpu)
            main_cpu[name].append(clock.main)
            child_cpu[name].append(clock.children)
        print(f"repeat {repeat + 1}/{args.repeats}: "
              + ", ".join(f"{k} {wall[k][-1]:.2f} s wall / {cpu[k][-1]:.2f} s cpu" for k in runs), flush=True)

    median_wall = {k: statistics.median(v) for k, v in wall.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    raw = median_wall["raw msprime"]
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end; python {platform.python_version()}, "
          f"msprime {msprime.__version__}")
    print(f"model: flagship_im at prior medians, {scenario.n_haplotypes} haplotypes, 1 locus of "
          f"{args.sequence_length:g} bp, n = {args.n} replicates, {args.repeats} repeats (medians)")
    print("| configuration | median wall (s) | ms per replicate (wall) | replicates/s | wall speed vs raw | median CPU (s) | CPU ms per replicate |")
    print("|---|---|---|---|---|---|---|")
    for name in runs:
        w, c = median_wall[name], median_cpu[name]
        print(f"| {name} | {w:.2f} | {1000 * w / args.n:.1f} | {args.n / w:.1f} | {raw / w:.2f}x | {c:.2f} | {1000 * c / args.n:.1f} |")
    print()
    overhead_cpu = median_cpu["popsim 1 worker"] / median_cpu["raw msprime"] - 1
    overhead_wall = median_wall["popsim 1 worker"] / raw - 1
    print(f"overhead of popsim on 1 worker over raw msprime: CPU {100 * overhead_cpu:+.1f} %, wall {100 * overhead_wall:+.1f} % "
          "(target <= 10 %)")
    print(f"wall speed-up of 2 workers: {median_wall['popsim 1 worker'] / median_wall['popsim 2 workers']:.2f}x over 1 "
          f"worker, {raw / median_wall['popsim 2 workers']:.2f}x over raw msprime (target >= 1.8x)")
    # Total CPU of the 2-worker run (parent + workers) vs the 1-worker run: the cost of going parallel.
    # On an otherwise idle 2-core machine the wall speed-up is about 2 × (CPU 1 worker / CPU 2 workers).
    efficiency = median_cpu["popsim 1 worker"] / median_cpu["popsim 2 workers"]
    print(f"CPU of 1 worker / CPU of 2 workers: {efficiency:.2f} -> expected speed-up on 2 idle cores ~{2 * efficiency:.2f}x")
    paired = [p / r for p, r in zip(cpu["popsim 1 worker"], cpu["raw msprime"])]
    print(f"paired CPU overhead ratios per repeat: {', '.join(f'{x:.3f}' for x in paired)}")
    if args.store:
        one, two = wall["store 1 worker"], wall["store 2 workers"]
        ratios = [a / b for a, b in zip(one, two)]
        print(f"store: wall 1 worker / 2 workers {statistics.median(one) / statistics.median(two):.2f}x (ratio of "
              f"medians; per repeat {', '.join(f'{x:.2f}' for x in ratios)}, median {statistics.median(ratios):.2f}x; "
              "target >= 1.8x)")
        shares = [m / c for m, c in zip(main_cpu["store 2 workers"], child_cpu["store 2 workers"])]
        print(f"store, 2 workers: main-process CPU {1000 * statistics.median(main_cpu['store 2 workers']) / args.n:.2f} "
              f"ms per replicate, workers {1000 * statistics.median(child_cpu['store 2 workers']) / args.n:.1f} ms per "
              f"replicate: writer's share {100 * statistics.median(shares):.1f} % (per repeat "
              f"{', '.join(f'{100 * x:.1f}' for x in shares)} %; target < 5 %)")
        efficiency = statistics.median(cpu["store 1 worker"]) / statistics.median(cpu["store 2 workers"])
        print(f"store: CPU of 1 worker / CPU of 2 workers {efficiency:.2f} -> expected speed-up on 2 idle cores "
              f"~{2 * efficiency:.2f}x")


if __name__ == "__main__":
    main()
