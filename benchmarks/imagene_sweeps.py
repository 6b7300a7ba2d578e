"""ImaGene's workshop task with popsim sweep scenarios: hard sweep vs neutral, 198 chromosomes, 80 kb.

The setting of the ImaGene tutorial (Torada et al. 2019, msms): θ = 48 and ρ = 32 over 80 kb with N_ref = 10⁴
(μ = 1.5e-8, r = 1e-8 per bp per generation), the Marth et al. 3-epoch European demography (20,000 diploids
today, 2,000 from 3,000 to 3,500 generations ago, 10,000 before), 198 chromosomes (99 diploid individuals);
class 1: a beneficial mutation at the centre with 2N_ref·s = 300 (s = 0.015, additive: s for the homozygote),
selection starting 800 generations ago at frequency 0.01; class 0: neutral. Images: rows sorted by frequency,
192 SNP columns centred on the selected site (the locus centre for neutral replicates). The published network,
Conv2D(32, 3×3) → MaxPool(2×2) → Conv2D(64, 3×3) → MaxPool(2×2) → Dense(1), both convolutions with
L1 + L2 = 0.005 penalties, RMSprop, reached 96.75 % test accuracy.

What msprime cannot express exactly, and how it is approximated here:

* msms starts selection at a fixed time (800 generations ago) at frequency 0.01 and lets the frequency
  evolve forward. msprime's ``SweepGenicSelection`` simulates the trajectory *backwards* from an end
  frequency at the end of the sweep to a start frequency. The sweep is set to end today at the frequency the
  deterministic logistic trajectory reaches after 800 generations, p(800) = p0·e^{st/2} / (1 − p0 + p0·e^{st/2})
  = 0.80 (msprime's genic s: the frequency grows at rate s/2 per generation, as msms's S_AA = 2Ns, S_Aa = Ns;
  checked by the sweep's duration in msprime), and to start at 0.01. So the sweep is incomplete as in msms,
  but its start time is random around 800 generations instead of exactly 800.
* msprime sweeps need a constant population size during the sweep: it is (20,000 over the last 800
  generations; the size changes at 3,000 and 3,500 generations are in the neutral phase before it).
* ImaGene removes sites with minor allele frequency < 1 % (singletons here) before cropping; popsim images
  keep them (no MAF filter in ``GenotypeImage``), so our 192 columns span a shorter stretch around the site.
* ImaGene trains on 10 fresh batches of simulations, one epoch each; here one simulated set, several epochs
  with early stopping on a validation split, tested on held-out replicates.

Run (the numbers of RESULTS.md):

    PYTHONPATH=. python benchmarks/imagene_sweeps.py --n 2000 --epochs 8 --workers 2 --seed 1
    PYTHONPATH=. python benchmarks/imagene_sweeps.py --quick        # a minute: a smoke test of the pipeline
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from popsim.features.images import GenotypeImage
from popsim.sim.priors import Fixed
from popsim.sim.simulate import SimulationSettings, simulate
from popsim.sim.sweeps import Sweep, sweep_scenario
from popsim.sim.vocabulary import Epoch, Model, Population

N_REF = 10_000
LENGTH = 80_000
S = 300 / (2 * N_REF)  # 0.015
ONSET, P0 = 800, 0.01
MU = 48 / (4 * N_REF * LENGTH)  # 1.5e-8
R = 32 / (4 * N_REF * LENGTH)  # 1e-8
SAMPLES = {"pop": 99}  # 198 chromosomes


def end_frequency(p0=P0, s=S, t=ONSET) -> float:
    """Frequency after t generations of logistic growth at rate s/2 (msprime's genic s) from p0."""
    grow = p0 * math.exp(s / 2 * t)
    return grow / (1 - p0 + grow)


def marth() -> Model:
    return Model([Population("pop", [Epoch(size="N0", end=3_000), Epoch(size="N1", end=3_500), Epoch(size="N2")])])


def scenarios():
    sizes = {"N0": Fixed(20_000), "N1": Fixed(2_000), "N2": Fixed(10_000)}
    neutral = marth().scenario("neutral", SAMPLES, sizes, "Marth 3-epoch, neutral")
    sweep = sweep_scenario("sweep", SAMPLES, {**sizes, "s": Fixed(S), "p_end": Fixed(round(end_frequency(), 6))},
                           Sweep(s="s", age=0, position=0.5, start_frequency=P0, end_frequency="p_end"),
                           demography=marth(), description="Marth 3-epoch, sweep 2Ns = 300 from 0.01, ~800 generations")
    return neutral, sweep


def networks(shape):
    from minidl import (BatchNormalization, Conv2D, Dense, ExchangeablePooling, Flatten, GlobalAveragePooling2D, Input,
                        MaxPooling2D)
    from minidl.regularizers import L1L2

    imagene = [Input(shape),
               Conv2D(32, (3, 3), activation="relu", kernel_regularizer=L1L2(0.005, 0.005)), MaxPooling2D((2, 2)),
               Conv2D(64, (3, 3), activation="relu", kernel_regularizer=L1L2(0.005, 0.005)), MaxPooling2D((2, 2)),
               Flatten(), Dense(2, activation="softmax")]
    # Exchangeable designs (the prediction cannot depend on the row order, so the frequency sort is unneeded):
    # (1) allele frequencies: the mean over haplotypes first, then the same small network on every SNP and
    #     an average over SNPs (a learned function of the site frequency spectrum of the window);
    # (2) per-haplotype convolutions along the SNPs (the same filters on every row), then the mean over rows.
    frequencies = [Input(shape), ExchangeablePooling("mean", keepdims=True),
                   Conv2D(64, (1, 1), activation="relu"), Conv2D(64, (1, 1), activation="relu"),
                   GlobalAveragePooling2D(), BatchNormalization(momentum=0.9),
                   Dense(32, activation="relu"), Dense(2, activation="softmax")]
    per_haplotype = [Input(shape), Conv2D(32, (1, 5), activation="relu"), MaxPooling2D((1, 2)),
                     Conv2D(32, (1, 3), activation="relu"), ExchangeablePooling("mean", keepdims=True),
                     Conv2D(64, (1, 1), activation="relu"), GlobalAveragePooling2D(),
                     BatchNormalization(momentum=0.9), Dense(32, activation="relu"), Dense(2, activation="softmax")]
    # name -> (layers, optimizer): RMSprop as ImaGene for its network, Adam for the exchangeable ones.
    return {"imagene conv2d(32)-conv2d(64)": (imagene, "rmsprop"),
            "exchangeable, allele frequencies": (frequencies, "adam"),
            "exchangeable, per-haplotype conv": (per_haplotype, "adam")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="replicates per class")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="60 replicates per class, 1 epoch (a smoke test)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs = 60, 1

    from minidl import Adam, EarlyStopping, RMSprop, Sequential
    from minidl.threads import set_num_threads

    set_num_threads(args.workers)
    neutral, sweep = scenarios()
    transform = GenotypeImage(n_snps=192, snp_selection="centre", sort_rows="frequency", encoding="01")
    settings = SimulationSettings(sequence_length=LENGTH, mutation_rate=MU, recombination_rate=R, n_loci=1,
                                  transform=transform, keep_genotypes=True)
    started = time.perf_counter()
    result = simulate([neutral, sweep], args.n, seed=args.seed, settings=settings, workers=args.workers)
    simulate_seconds = time.perf_counter() - started
    x = np.stack([r.image for r in result.replicates]).astype(np.float32)
    y = np.array([r.label for r in result.replicates])
    sites = np.array([r.n_sites for r in result.replicates])
    print(f"simulated {len(y)} replicates in {simulate_seconds:.0f} s; segregating sites: neutral "
          f"{sites[y == 0].mean():.0f}, sweep {sites[y == 1].mean():.0f}; p_end {end_frequency():.3f}")

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    n_test = n_val = len(y) // 10
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    results = {"n_per_class": args.n, "epochs": args.epochs, "seed": args.seed, "simulate_seconds": simulate_seconds,
               "p_end": end_frequency(), "segregating_sites": {"neutral": float(sites[y == 0].mean()),
                                                               "sweep": float(sites[y == 1].mean())}}
    for name, (layers, optimizer) in networks(x.shape[1:]).items():
        model = Sequential(layers, seed=args.seed)
        model.compile(RMSprop(1e-3) if optimizer == "rmsprop" else Adam(1e-3), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        started = time.perf_counter()
        model.fit(x[train], y[train], epochs=args.epochs, batch_size=64, verbose=0, validation_data=(x[val], y[val]),
                  callbacks=[EarlyStopping(patience=3, restore_best_weights=True)])
        seconds = time.perf_counter() - started
        loss, accuracy = model.evaluate(x[test], y[test])
        print(f"{name:<32} test accuracy {100 * accuracy:.2f} % ({len(test)} replicates), training {seconds:.0f} s")
        results[name] = {"test_accuracy": float(accuracy), "test_loss": float(loss), "train_seconds": seconds}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
