"""Replicate throughput of popsim.simulate vs a plain msprime loop, on 1 and 2 workers.

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
import statistics
import time

import msprime
import numpy as np

from popsim.priors import Fixed
from popsim.scenarios import Scenario, get_scenario
from popsim.simulate import simulate


def fixed_scenario() -> Scenario:
    """flagship_im with every parameter fixed at its prior median."""
    base = get_scenario("flagship_im")
    params = base.reference_params()
    return Scenario("flagship_im_fixed", base.samples, {k: Fixed(v) for k, v in params.items()}, base.build)


def raw_msprime(scenario: Scenario, n: int, settings: dict, seed: int) -> float:
    """Seconds for n replicates with a plain msprime loop."""
    demography = scenario.demography()
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
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
    return time.perf_counter() - started


def popsim_run(scenario: Scenario, n: int, settings: dict, seed: int, workers: int) -> float:
    started = time.perf_counter()
    simulate(scenario, n, seed, workers=workers, n_loci=1, **settings)
    return time.perf_counter() - started


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

    times = {"raw msprime": [], "popsim 1 worker": [], "popsim 2 workers": []}
    for repeat in range(args.repeats):
        times["raw msprime"].append(raw_msprime(scenario, args.n, settings, repeat))
        times["popsim 1 worker"].append(popsim_run(scenario, args.n, settings, repeat, 1))
        times["popsim 2 workers"].append(popsim_run(scenario, args.n, settings, repeat, 2))
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              flush=True)

    medians = {k: statistics.median(v) for k, v in times.items()}
    raw = medians["raw msprime"]
    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end; python {platform.python_version()}, "
          f"msprime {msprime.__version__}")
    print(f"model: flagship_im at prior medians, {scenario.n_haplotypes} haplotypes, 1 locus of "
          f"{args.sequence_length:g} bp, n = {args.n} replicates, {args.repeats} repeats (medians)")
    print(f"| configuration | median time (s) | ms per replicate | replicates/s | vs raw msprime |")
    print(f"|---|---|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} | {1000 * value / args.n:.1f} | {args.n / value:.1f} | {raw / value:.2f}x |")
    overhead = medians["popsim 1 worker"] / raw - 1
    speedup = medians["popsim 1 worker"] / medians["popsim 2 workers"]
    print()
    print(f"overhead of popsim on 1 worker over raw msprime: {100 * overhead:+.1f} % (target <= 10 %)")
    print(f"speed-up of 2 workers over 1 worker: {speedup:.2f}x; over raw msprime: {raw / medians['popsim 2 workers']:.2f}x "
          f"(target >= 1.8x)")
    # Per-repeat paired ratios are less sensitive to slow drifts in machine load.
    paired = [p / r for p, r in zip(times["popsim 1 worker"], times["raw msprime"])]
    print(f"paired overhead ratios per repeat: {', '.join(f'{x:.3f}' for x in paired)}")


if __name__ == "__main__":
    main()
