"""Replicate throughput of popsim.sim.simulate vs a plain msprime loop, on 1 and 2 workers.

What is compared (same model, same parameters, same number of replicates):

* raw msprime: a loop of ``sim_ancestry`` -> ``sim_mutations(BinaryMutationModel, infinite sites)`` ->
  ``genotype_matrix()`` — the least a user would write;
* popsim, 1 worker: ``simulate(...)`` in-process (seed derivation, prior draws, demography built per replicate,
  non-segregating sites dropped, int8 conversion);
* popsim, 2 workers: the same through a ``ProcessPoolExecutor`` (pool start-up included).

The model is ``flagship_im`` with its parameters fixed at the prior medians (so that every replicate costs the
same) and one locus long enough to cost >= 20 ms per replicate. Each configuration is timed ``--repeats`` times,
interleaved, and medians are reported: the machine is shared and noisy, so ratios of medians are what to read.

Run:  python benchmarks/bench_simulate.py [--n 200] [--repeats 5] [--sequence-length 500000]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
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
    """Wall time and CPU time (this process + finished child processes) of a block, in seconds."""

    def __enter__(self):
        self.wall = time.perf_counter()
        self.cpu = self._cpu()
        return self

    @staticmethod
    def _cpu():
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._cpu() - self.cpu


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="replicates per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per configuration (medians reported)")
    parser.add_argument("--sequence-length", type=float, default=500_000, help="bp of the single locus")
    args = parser.parse_args()

    scenario = fixed_scenario()
    # The flagship's rates (per bp per generation) on one longer locus.
    settings = {"sequence_length": args.sequence_length, "mutation_rate": 2e-8, "recombination_rate": 1e-8}
    # Warm-up: imports, first-call costs.
    raw_msprime(scenario, 3, settings, 0)
    popsim_run(scenario, 3, settings, 0, 1)

    runs = {
        "raw msprime": lambda r: raw_msprime(scenario, args.n, settings, r),
        "popsim 1 worker": lambda r: popsim_run(scenario, args.n, settings, r, 1),
        "popsim 2 workers": lambda r: popsim_run(scenario, args.n, settings, r, 2),
    }
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, run in runs.items():
            with Clock() as clock:
                run(repeat)
            wall[name].append(clock.wall)
            cpu[name].append(clock.cpu)
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


if __name__ == "__main__":
    main()
