# %% [markdown]
# # 13 · The mosquito task (T1): isolation or migration? ABC, a dense network and CNNs
#
# **Goal.** Redo the course's own 2026 practical (TASKS.md T1) from start to end, honestly: two
# *Anopheles* populations, GN (Guinea, 41 diploids) and BF (Burkina Faso, 99 diploids), split from an
# ancestor `T_split` generations ago. Did they stay isolated ("isolation"), or exchange migrants ever
# since ("IM", 10 % of each population replaced by migrants every generation)? And when did they split?
# Three kinds of methods answer from 150 kb of simulated sequence:
#
# 1. **ABC** rejection on 8 summary statistics (Fst, dxy, and S, π, Tajima's D per population);
# 2. **a dense network** 128-32-16-8 on the same statistics, standardised with the training scaler;
# 3. **CNNs on genotype images** — the published one, and designs that respect what the data are.
#
# The published results (Keras on Colab and R's `abc`):
#
# | method | published |
# |---|---|
# | ABC rejection, tol 0.05, 8 statistics, cross-validation 100 per model | 95.5 % (97/3, 6/94) |
# | dense 128-32-16-8 on standardised statistics | 97.0 % test accuracy (98/2, 4/96) |
# | CNN on genotype images (first 250 SNPs × 280 haplotypes, Conv1D over haplotypes) | 44.5 % — chance |
# | T_split: ABC rejection on Fst + S_GN + S_BF | prediction error 1.09 |
# | T_split: dense network (MAPE loss) | prediction error 0.518 |
#
# **What this lesson finds** (full mode; training data seed 2026, test data seed 2027, 100 test
# simulations per model; every number is printed and written to `results.md` at the end):
#
# * Taken **literally** (every printed number is the k = 10-scaled model), the split is only
#   0.001–0.003 coalescent units old. Everything built on the 8 statistics stops at the "Fst ceiling":
#   ABC 88.5 % on the test set (81.5 % in the course's cross-validation), the dense network 89.5 %, a
#   plain threshold on Fst 88 %. 95–97 % cannot be reproduced with this reading.
# * Read the **other way** (sizes and rates scaled, split times already in scaled generations — a split
#   10× older on the coalescent scale), everything that is well designed reaches 100 %, and T_split is
#   estimated with a prediction error of 0.11–0.17 (target ≤ 0.4).
# * With the **published settings** — the literal model simulated as the course's reference tables were,
#   560 haplotypes (diploid counts doubled twice) and msprime's default JC69 mutation model (Part 3) —
#   the published numbers **reproduce**: ABC cross-validation 98.0 % (96/4, 0/100; published 95.5 %), ABC on
#   the test set 95.0 %, the dense network 97.0 % (published 97.0 %), and the simulated statistics match the
#   course's tables (Fst under isolation 1.7e-5 … 1.7e-3, mean 7.3e-4 vs 1.3e-5 … 1.5e-3, 7.5e-4; π 0.0069;
#   correlations with T_split under IM 0.29 / 0.53 / −0.28 / −0.46 vs 0.28 / 0.54 / −0.30 / −0.49). The
#   doubled sample is what made 95–97 % possible: twice the haplotypes halve the sampling noise of Fst.
# * The published CNN is at chance (≈ 50 %) under **both** readings. We take it apart, one design
#   change at a time, to show why: it sees ~5 kb of 150 kb, and it convolves across haplotypes whose
#   order means nothing.
# * A CNN designed for the data — haplotypes pooled within each population (order-invariant), all SNPs
#   of the region, convolution along SNPs — is at least as good as the statistics everywhere, and on the
#   literal reading **better**: 94 % and a T_split prediction error of 0.54 (statistics: 0.79–0.85),
#   because it reads rare variants shared between the populations, which Fst ignores. Once we turn that
#   finding into a 9th statistic, ABC and the dense network catch up (95 %).
#
# **Time.** Full mode simulates 2 × 1,000 + 2 × 100 replicates of the literal model and 2 × 500 + 2 × 100
# of the older-split one (≈ 1.1 and 1.3 s each on one core: about 35 min on 2 idle cores; it took 83 min
# on our shared 2-core machine), and 2 × 1,000 + 2 × 100 of the published settings (560 haplotypes, ≈ 1.7 s
# each on one core: about 35 min more on 2 idle cores; 88 min on the shared machine). They are cached in the output folder and an interrupted run resumes.
# After that, the lesson itself (images, ABC, 16 networks) takes 12–14 min; a rerun reuses the
# simulations and images. `--quick` runs everything on tiny 5 kb simulations in under 30 s: its
# numbers mean nothing, it only checks that the code runs.

# %%
import json
import time

import numpy as np

from minidl import (Adam, BatchNormalization, Conv1D, Dense, EarlyStopping, Flatten, GlobalAveragePooling1D,
                    Input, MaxPooling1D, Reshape, Sequential)
from minidl.preprocessing import StandardScaler
from minidl.schedules import ExponentialDecay
from popsim.features.images import GenotypeImage
from popsim.inference import abc as popsim_abc
from popsim.sim.scenarios import get_scenario
from popsim.sim.simulate import available_workers
from lessons._common import setup
from lessons.t1_helpers import (attach_inputs, comparison_report, course_distributions, load_reading, network_input,
                                plot_fst_distributions, plot_inputs, plot_reading, plot_shared_doubletons,
                                plot_summary, population_counts, results_table, score_classification,
                                score_t_split)

settings = setup("13_mosquito_t1")
QUICK = settings.quick
N_TRAIN = {"literal": 12 if QUICK else 1000, "older_split": 12 if QUICK else 500,   # simulations per model
           "published": 12 if QUICK else 1000}
N_TEST = 6 if QUICK else 100                                              # per model, another seed
SEQUENCE_LENGTH = 5_000 if QUICK else None      # None = the scenarios' 150 kb
WORKERS = 1 if QUICK else min(2, available_workers())
TOL = 0.05                                      # ABC: fraction of the reference table kept
NVAL = 3 if QUICK else 100                      # ABC cross-validation: pseudo-observed sets per model
N_EVEN = 128 if QUICK else 8192                # SNPs spread over the whole region for the designed CNN
MAX_EPOCHS = 2 if QUICK else 60
READINGS = {"literal": ["mosquito_isolation", "mosquito_im"],   # label 0 = isolation, 1 = IM
            "older_split": ["mosquito_isolation_older_split", "mosquito_im_older_split"]}
TITLES = {"literal": "literal reading", "older_split": "older split",
          "published": "published settings (560 haplotypes, JC69)"}
# Part 3: the literal model as the course's reference tables were simulated (TASKS.md T1)
PUBLISHED_SCENARIOS = ["mosquito_isolation_published", "mosquito_im_published"]
PUBLISHED_OPTIONS = {"discrete_genome": True, "mutation_model": "jc69"}
timings = {}
print(f"{'QUICK mode: tiny 5 kb simulations, numbers mean nothing' if QUICK else 'full mode'}; "
      f"seed {settings.seed} (test data {settings.seed + 1}), {WORKERS} worker(s)")

# %% [markdown]
# ## Two readings of the course's numbers
# TASKS.md gives N_GN = 75,000, N_BF = 150,000, N_ANC = 50,000 diploids, T_split ~ U{200..399}
# generations, μ = 3.5e-8 and r = 1.45e-7 per bp per generation, and says the model is "scaled by k = 10
# (sizes and times ÷ 10, rates × 10; multiply estimated times by 10 to get generations)".
#
# * **Literal reading** (`mosquito_isolation`, `mosquito_im`; Part 1 of this lesson): these numbers *are*
#   the scaled model.
# * **Older split** (`mosquito_isolation_older_split`, `mosquito_im_older_split`; Part 2): the sizes and
#   rates above are the real ones, so the scaled model has sizes ÷ 10 (7,500 / 15,000 / 5,000) and rates
#   × 10 (3.5e-7, 1.45e-6), while T_split = 200..399 is already in scaled generations (2,000–3,990 real
#   ones).
#
# Both give the same diversity per bp (θ = 4Nμ) and recombination (ρ = 4Nr), hence the same number of
# SNPs and the same cost. What differs is the one number that matters for telling isolation from
# migration: how long the populations have been apart **in units of their size**, T/(2N) — the
# coalescent time scale on which drift differentiates them. Expected Fst after T generations of
# isolation is about 1 − e^(−T/2N) ≈ T/2N. (In both readings the split is also a growth: the ancestor
# is 4.5 times smaller than GN and BF together.)

# %%
print(f"{'scenario':24s} {'N_GN':>7s} {'N_BF':>7s} {'N_ANC':>7s} {'μ':>8s} {'θ/bp':>7s} {'T/(2 N_GN)':>14s}")
for reading, names in READINGS.items():
    scenario = get_scenario(names[0])
    p, d = scenario.reference_params(), scenario.defaults
    ratio = [t / (2 * p["N_GN"]) for t in (200, 399)]
    print(f"{names[0]:24s} {p['N_GN']:7.0f} {p['N_BF']:7.0f} {p['N_ANC']:7.0f} {d['mutation_rate']:8.1e} "
          f"{4 * p['N_GN'] * d['mutation_rate']:7.4f} {ratio[0]:6.4f}–{ratio[1]:6.4f}")
print("IM models: the same, with symmetric migration m = 0.1 since the split "
      f"(4·N_GN·m = {4 * 75_000 * 0.1:,.0f} literal, {4 * 7_500 * 0.1:,.0f} older split: "
      "GN and BF are one panmictic population)")

# %% [markdown]
# ## Simulations, cached: a training and a test set per reading
# Training: 1,000 simulations per model for the literal reading (as the course), 500 per model for the
# older split (enough there: the models separate almost perfectly); test: 100 per model, simulated with
# **another master seed**, used once at the end by every method. Every replicate keeps its raw
# genotypes (`keep_genotypes=True`), so any image can be built from them later without simulating
# again, and the 8 statistics are computed in the simulation workers (`statistics=SummaryStatistics("t1")`:
# tskit's Fst, dxy, and S, π, Tajima's D of GN and of BF, per bp). The datasets are written in chunks to
# the output folder: an interrupted run resumes, a second run reuses them. Both readings are loaded
# here; Part 1 works on the first, Part 2 runs the same pipeline on the second. (This plumbing lives in
# `lessons/t1_helpers.py`: `load_reading` simulates or reads a reading and wraps it in a `Reading` —
# statistics, labels, T_split, the 80/20 fit/validation split of the training simulations, and a
# `results` dictionary that every method below writes into.)

# %%
readings = {}
for reading, scenarios in READINGS.items():
    start = time.perf_counter()
    r = readings[reading] = load_reading(settings, reading, TITLES[reading], scenarios, reading,
                                         N_TRAIN[reading], N_TEST, SEQUENCE_LENGTH, WORKERS)
    timings[f"simulation ({reading})"] = time.perf_counter() - start
    print(f"{reading}: {len(r.train)} training + {len(r.test)} test simulations, "
          f"{r.sites.mean():.0f} SNPs per replicate on average ({time.perf_counter() - start:.0f} s)")
literal = readings["literal"]

# %% [markdown]
# ## Part 1 · The literal reading: ABC, a dense network and CNNs against the published numbers
# The whole pipeline, step by step, on `mosquito_isolation` / `mosquito_im` as printed in TASKS.md:
# what the statistics can tell (1.1), ABC (1.2), the dense network (1.3), the genotype images (1.4) and
# the CNNs (1.5), T_split (1.6), what the best CNN saw (1.7), and every method on one test set (1.8).
# Each step is a function of a `Reading`, so that Part 2 can run it again on the older split.

# %% [markdown]
# ### 1.1 · What the 8 statistics can tell: the Fst ceiling
# Under isolation, drift makes the allele frequencies of GN and BF drift apart and Fst grows with T/2N;
# under IM with m = 0.1 they are one population and Fst ≈ 0 (up to sampling noise). The other published
# statistics (diversity, Tajima's D, dxy) are nearly identical in both models: the sizes are the same.
# So a method that sees only these statistics can do little better than a threshold on Fst. The **best
# threshold, chosen on the training simulations** (so slightly optimistic), tells us what to expect from
# ABC and from the dense network. The figure puts the older split (Part 2) beside the literal
# reading: the contrast is the point.

# %%
def fst_threshold(r):
    """Best cut on Fst (above: isolation) chosen on the training simulations; its accuracy on both sets."""
    fst = r.stat("fst_tskit_GN_BF")
    candidates = np.sort(fst)
    accuracy = [np.mean((fst > c) == (r.y == 0)) for c in candidates]
    cut = candidates[int(np.argmax(accuracy))]
    predicted = np.where(r.stat("fst_tskit_GN_BF", test=True) > cut, 0, 1)
    score_classification(r, "Fst threshold", predicted, 0.0)
    r.results["Fst threshold"].update(train_accuracy=max(accuracy), cut=cut)
    return cut, max(accuracy), r.results["Fst threshold"]["accuracy"]


for reading, r in readings.items():
    cut, train_accuracy, test_accuracy = fst_threshold(r)
    fst = r.stat("fst_tskit_GN_BF")
    print(f"{reading:11s} Fst isolation {fst[r.y == 0].mean():.5f} ± {fst[r.y == 0].std():.5f}, "
          f"IM {fst[r.y == 1].mean():.5f} ± {fst[r.y == 1].std():.5f}; best cut {cut:.5f}: "
          f"{train_accuracy:.1%} of training, {test_accuracy:.1%} of test simulations")
plot_fst_distributions(readings, settings)

# %% [markdown]
# **Read the left panel carefully.** With the literal numbers the split is 0.001–0.003 coalescent units
# old: expected Fst under isolation is below 0.001, and the sampling noise of Fst from 82 + 198
# haplotypes and one 150 kb region is of the same size. The histograms overlap and the best cut
# classifies about 85 % of the simulations. A published 95–97 % from these statistics is out of reach on
# this model — for ABC, for a network, for anyone who only sees them. (Whether the *data* hold more
# than the statistics is another question: section 1.7.) On the right, the older split gives Fst ≈ 0.008
# vs ≈ 0: nearly perfectly separable, as the published accuracies suggest the course's simulations were.

# %% [markdown]
# ### 1.2 · ABC model choice (R's `abc` protocol)
# `popsim.inference.abc` reproduces R's `abc`: statistics scaled by their MAD, Euclidean distance, the
# ⌈n · 0.05⌉ closest simulations accepted, posterior probability of a model = its share among them.
# Two numbers: **cross-validation** as the course did it (`cv4postpr`, 100 pseudo-observed sets per
# model, each left out of the reference table in turn), and the **independent test set** (100 per model,
# other seed) with all training simulations as the reference table — the number comparable with the
# networks.

# %%
def abc_model_choice(r):
    """ABC rejection model choice: the course's cross-validation, and the independent test set."""
    start = time.perf_counter()
    cv = popsim_abc.cv4postpr(r.y, r.stats, nval=NVAL, tol=TOL, seed=1)
    predicted = np.array([np.argmax(popsim_abc.postpr(s, r.y, r.stats, TOL).probs) for s in r.stats_test])
    seconds = time.perf_counter() - start
    r.results["ABC rejection (CV, 100 per model)"] = {"accuracy": cv.accuracy, "confusion": cv.confusion}
    score_classification(r, "ABC rejection (test set)", predicted, seconds)
    print(f"{r.name}: ABC cross-validation {cv.accuracy:.1%} {cv.confusion.tolist()}, "
          f"test set {r.results['ABC rejection (test set)']['accuracy']:.1%}")


abc_model_choice(literal)

# %% [markdown]
# ### 1.3 · The dense network on statistics
# As published: 8 inputs → 128 → 32 → 16 → 8 ReLU units → softmax over the 2 models, Adam, early
# stopping. The right way to do each step:
#
# * the `StandardScaler` is fitted on the training part only, and the **same** scaler transforms the
#   validation and test statistics (and would transform observed data);
# * early stopping watches the validation loss (`mode="min"`), on 20 % of the *training* simulations —
#   never on the test set, which would make the test accuracy an optimistic, selected number;
# * `restore_best_weights=True` keeps the epoch with the lowest validation loss.

# %%
def dense_network(n_outputs, activation, seed, n_inputs=8):
    """The published dense network: n_inputs → 128 → 32 → 16 → 8 ReLU units → n_outputs."""
    return Sequential([Input((n_inputs,)), Dense(128, activation="relu"), Dense(32, activation="relu"),
                       Dense(16, activation="relu"), Dense(8, activation="relu"),
                       Dense(n_outputs, activation=activation)], seed=seed)


def stopper(patience):
    """Early stopping on the validation loss (mode "min"), keeping the best epoch's weights."""
    return EarlyStopping(monitor="val_loss", mode="min", patience=patience, restore_best_weights=True)


def dense_classifier(r):
    """The dense network on the 8 statistics, standardised with the scaler of the training part."""
    start = time.perf_counter()
    scaler = StandardScaler().fit(r.stats[r.fit])
    model = dense_network(2, "softmax", settings.seed)
    model.compile(Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(scaler.transform(r.stats[r.fit]), r.y[r.fit], epochs=MAX_EPOCHS * 5, batch_size=32,
                        validation_data=(scaler.transform(r.stats[r.val]), r.y[r.val]), verbose=0,
                        callbacks=[stopper(5 if QUICK else 30)])
    predicted = model.predict(scaler.transform(r.stats_test)).argmax(axis=1)
    score_classification(r, "dense 128-32-16-8 on statistics", predicted, time.perf_counter() - start, history)
    print(f"{r.name}: dense network test accuracy {np.mean(predicted == r.y_test):.1%} "
          f"({len(history.history['loss'])} epochs)")


dense_classifier(literal)

# %% [markdown]
# ### 1.4 · Genotype images: what the published CNN saw, and what a CNN should see
# All images are built from the stored raw genotypes with one `GenotypeImage` transform each (the same
# object would be applied to real data), and cached next to the datasets — for both readings at
# once (`attach_inputs` in `lessons/t1_helpers.py`; Part 2 reuses them).
#
# **The published image**: the *first* 250 SNPs of the region, the 280 haplotypes as rows in sampling
# order (82 GN above 198 BF), channel 0 = ±1 for minor/major allele, channel 1 = log(1 + distance to the
# previous SNP). With ~6,800 SNPs in 150 kb, the first 250 span about **5 kb — under 4 % of the region** — in
# which a handful of genealogies (little recombination over 5 kb) decide everything: Fst measured there
# is several times noisier than over 150 kb, and on the literal reading the signal was already at the
# edge of the noise.
#
# **The designed input**: up to `N_EVEN` = 8,192 SNPs spread evenly over the whole region — that is
# *all* SNPs of a literal replicate (6,500–7,300, zero-padded to 8,192) and ~95 % of an older-split one —
# and for each population the **sum over its haplotypes** at each SNP: its derived-allele count. That
# sum is the first layer of an *exchangeable* network (`minidl.ExchangeablePooling`, Chan et al. 2018): a
# symmetric function of the haplotypes of a population, so their order, which carries no information,
# cannot change anything. The two populations have different sample sizes (82 and 198 haplotypes), so
# one layer, `ExchangeablePooling("sum", groups=(82, 198))`, sums each population block on its own
# (`population_counts` in `lessons/t1_helpers.py`) — the general form of the `AveragePooling2D((24, 1))` of
# lessons 11 and 14, which needs equal sizes. The pooling has no weights, so we apply it once to every
# image rather than inside the network in every epoch — the network computes the same function — for
# two reasons: the log scale and the per-channel standardisation below come *after* the sum, and
# inside the network the input would be the whole 280 × 8,192 image of every replicate (about 18 GB in
# float32 for the 2 × 1,000 literal training simulations) instead of 3 × 8,192 numbers. We check
# the invariance below.
#
# Two choices matter, both measured on the literal training simulations. *All SNPs, not a sample*: Fst
# computed from all SNPs separates the models with AUC 0.94, from 2,048 spread SNPs 0.91, from the first
# 250 only 0.66. *Counts on a log scale*, `log(1 + count)`: most SNPs are rare, and on a frequency scale
# a variant carried once in GN and once in BF (1/82, 1/198) and one carried twice in GN (2/82, 0) are
# nearly the same point near 0; on the log scale they are far apart. With frequencies, CNN D below
# reached 87 % on the validation simulations; with log counts, 92 %.

# %%
TRANSFORMS = {
    "published": GenotypeImage(n_snps=250, snp_selection="first", sort_rows="none", encoding="pm1",
                               distance_channel=True),
    "published, rows sorted": GenotypeImage(n_snps=250, snp_selection="first", sort_rows="similarity",
                                            encoding="pm1", distance_channel=True),
    "first 250 SNPs": GenotypeImage(n_snps=250, snp_selection="first", encoding="01", distance_channel=True),
    "all SNPs": GenotypeImage(n_snps=N_EVEN, snp_selection="even", encoding="01", distance_channel=True),
}
POOLED = ("first 250 SNPs", "all SNPs")   # inputs that are pooled per population

start = time.perf_counter()
for r in readings.values():
    attach_inputs(r, TRANSFORMS, POOLED, N_EVEN)
timings["images"] = time.perf_counter() - start
print(f"inputs built in {timings['images']:.0f} s: " + ", ".join(
    f"{name} {literal.inputs['train'][name][0].shape[1:]}" for name in TRANSFORMS))

# %% [markdown]
# The invariance, checked: shuffle the haplotypes *within* each population and the pooled input is
# unchanged (up to float rounding); shuffle them *across* populations and it changes. The published
# image, in contrast, is a different image for each of the 82! · 198! orders of the same sample.

# %%
record = next(literal.test.iter_replicates())
image, _ = TRANSFORMS["all SNPs"].encode(record.genotypes, record.positions, record.populations,
                                         record.sequence_length)
populations = np.asarray(record.populations)
rng = np.random.default_rng(0)
within = np.concatenate([rng.permutation(np.flatnonzero(populations == p)) for p in ("GN", "BF")])
across = rng.permutation(len(populations))
counts = population_counts(image, populations)
print("shuffled within populations: max change",
      np.abs(population_counts(image[within], populations) - counts).max())
print("shuffled across populations: max change",
      np.abs(population_counts(image[across], populations) - counts).max())

published = TRANSFORMS["published"](record.genotypes, record.positions, record.populations, record.sequence_length)
plot_inputs(settings, record, published, counts, N_EVEN)

# %% [markdown]
# ### 1.5 · The CNNs: the published design, and a design ladder
# Four CNNs, each changing one thing, so we see *which* change matters:
#
# | CNN | SNPs seen | haplotype order | convolution |
# |---|---|---|---|
# | A · published | first 250 (≈ 5 kb) | arbitrary | `Conv1D` sliding **across haplotypes** (a row's 250 SNPs × 2 channels are its features) |
# | B · published, rows sorted | first 250 | sorted by similarity within each population | as A |
# | C · exchangeable, first 250 SNPs | first 250 | pooled within populations: order irrelevant | along SNPs |
# | D · exchangeable, all SNPs | all (≤ 8,192) over 150 kb | pooled within populations | along SNPs |
#
# A is our reading of the published network (the course's exact layer sizes matter less than its
# design): `Conv1D(16, 3)` → max-pooling → `Conv1D(16, 3)` → max-pooling → `Dense(32)` → softmax, on
# the image reshaped to 280 "time steps" (haplotypes) of 500 features.
#
# C and D share one architecture. Their input is a sequence along SNPs with 3 channels per SNP —
# log(1 + count) in GN, log(1 + count) in BF, and log(1 + distance to the previous SNP) — each channel
# standardised with its training mean and standard deviation (numbers kept like a scaler's and applied
# unchanged to the test data):
#
# 1. `Conv1D(16, 1)` — at each SNP, 16 features of its two counts and its distance: "same frequency",
#    "different", "private to BF", "a rare variant shared"… the same small network applied to every SNP;
# 2. `Conv1D(16, 4, strides=4)` — convolution **along SNPs**, in windows of 4 neighbouring SNPs (linkage),
#    a quarter of the cost of a stride-1 convolution over ~7,000 positions;
# 3. `GlobalAveragePooling1D` — the mean of each feature over the whole region: a learned summary
#    statistic, as Fst is a ratio of means over sites;
# 4. `BatchNormalization(momentum=0.5)` — these means differ by ~1 % between replicates: standardising
#    them lets the dense layers see the differences (lessons 12 and 14);
# 5. `Dense(16)`, then 2 softmax outputs (or 1 linear output for T_split).
#
# **Two training details that decide whether this works.** Predictions use batch normalisation's
# *moving* mean and variance. With Keras's default momentum 0.99 they average the last ~100 batches,
# computed with older weights, and start from variance 1 while the real between-replicate variance of
# these features is thousands of times smaller: while designing this lesson the validation accuracy
# then stayed at 50 % (every replicate on the same side). Momentum 0.5 makes them follow the current
# weights; even so, with a constant learning rate the validation accuracy jumped between 50 % and 95 %
# from one epoch to the next, because each step moves the features by more than the differences that
# matter. A learning rate that decays by 10 % per epoch (`ExponentialDecay(0.003, one epoch, 0.9)`)
# lets the weights — and hence the moving statistics — settle. A and B use plain Adam(0.001) as
# published. Batch 32 and early stopping on the validation part of the training simulations for all.

# %%
def published_cnn(shape, seed):
    """Our reading of the published CNN: rows (haplotypes) are the sequence, 250 SNPs × 2 channels the features."""
    rows, snps, channels = shape
    return Sequential([Input(shape), Reshape((rows, snps * channels)),
                       Conv1D(16, 3, activation="relu"), MaxPooling1D(2),
                       Conv1D(16, 3, activation="relu"), MaxPooling1D(2),
                       Flatten(), Dense(32, activation="relu"), Dense(2, activation="softmax")], seed=seed)


def exchangeable_cnn(shape, n_outputs, activation, seed):
    """CNNs C and D: per-SNP features, a convolution along SNPs, their mean over the region, dense layers."""
    return Sequential([Input(shape),
                       Conv1D(16, 1, activation="relu"),
                       Conv1D(16, 4, strides=4, activation="relu"),
                       GlobalAveragePooling1D(),
                       BatchNormalization(momentum=0.5),
                       Dense(16, activation="relu"),
                       Dense(n_outputs, activation=activation)], seed=seed)


def decaying_adam(r):
    """Adam whose learning rate starts at 0.003 and shrinks by 10 % per epoch."""
    batches_per_epoch = -(-len(r.fit) // 32)
    return Adam(ExponentialDecay(3e-3, decay_steps=batches_per_epoch, decay_rate=0.9))


CNN_DESIGNS = {"CNN A · published": "published", "CNN B · published, rows sorted": "published, rows sorted",
               "CNN C · exchangeable, first 250 SNPs": "first 250 SNPs",
               "CNN D · exchangeable, all SNPs": "all SNPs"}


def cnn_classifiers(r):
    """Train and test the four CNNs of the ladder on one reading."""
    for method, name in CNN_DESIGNS.items():
        start = time.perf_counter()
        x, x_test = network_input(r, name, TRANSFORMS, POOLED)
        if name in POOLED:
            model, patience = exchangeable_cnn(x.shape[1:], 2, "softmax", settings.seed), 12
            optimizer = decaying_adam(r)
        else:
            model, patience, optimizer = published_cnn(x.shape[1:], settings.seed), 8, Adam(1e-3)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        print(f"{r.name}: {method}, input {x.shape[1:]}, {model.count_params():,} weights")
        history = model.fit(x[r.fit], r.y[r.fit], epochs=MAX_EPOCHS if name in POOLED else MAX_EPOCHS // 2,
                            batch_size=32, validation_data=(x[r.val], r.y[r.val]),
                            verbose=0 if QUICK else 1, callbacks=[stopper(2 if QUICK else patience)])
        predicted = model.predict(x_test).argmax(axis=1)
        score_classification(r, method, predicted, time.perf_counter() - start, history)
        best = int(np.argmin(history.history["val_loss"]))
        print(f"  test accuracy {np.mean(predicted == r.y_test):.1%}; at the best epoch ({best + 1}): training "
              f"accuracy {history.history['accuracy'][best]:.3f}, "
              f"validation {history.history['val_accuracy'][best]:.3f}")


cnn_classifiers(literal)

# %% [markdown]
# ### 1.6 · When did they split? T_split by ABC, the dense network and the CNN
# One regression per method, trained on the simulations of **both** models together (the question
# "when did GN and BF split" does not presuppose the model):
#
# * ABC rejection on Fst + S_GN + S_BF, tolerance 0.05, posterior median (as published);
# * the dense network 128-32-16-8 with one linear output, on the 8 standardised statistics;
# * CNN D with one linear output.
#
# The networks regress the **standardised** T_split (training mean and standard deviation) with mean
# squared error, and their predictions are mapped back to generations before scoring (the published
# network used a MAPE loss on raw generations). Score: prediction error on the test set,
# PE = Σ(θ̂ − θ)² / Σ(θ − θ̄)² — 0 perfect, 1 no better than always answering the mean. We report it on
# all test simulations and per model. Under IM, GN and BF are effectively one population since the
# split (4Nm in the thousands), so there is no differentiation to date — but the split is also the moment
# the population grew from N_ANC = 50,000 to 75,000 + 150,000 diploids, and a growth leaves its own
# trace in the frequency spectrum: an excess of rare variants whose size depends on when it happened.

# %%
def network_regression(r, model, optimizer, x, x_test, patience, verbose):
    """Fit ``model`` to the standardised T_split (training mean and std); estimates back in generations."""
    target = StandardScaler().fit(r.t_split[r.fit])                     # training targets only
    model.compile(optimizer, "mse")
    history = model.fit(x[r.fit], target.transform(r.t_split[r.fit]), epochs=MAX_EPOCHS * (5 if x.ndim == 2 else 1),
                        batch_size=32, validation_data=(x[r.val], target.transform(r.t_split[r.val])),
                        verbose=verbose, callbacks=[stopper(patience)])
    return target.inverse_transform(model.predict(x_test))[:, 0], history


def t_split_regression(r, cnn=True):
    """T_split of the test set by ABC rejection, the dense network and (``cnn``) CNN D; scored by
    prediction error."""
    estimates, histories, seconds = {}, {}, {}
    start = time.perf_counter()
    columns = [r.stat_names.index(n) for n in ("fst_tskit_GN_BF", "S_GN", "S_BF")]
    estimates["ABC rejection, Fst + S_GN + S_BF"] = np.array(
        [popsim_abc.abc(s[columns], r.t_split, r.stats[:, columns], TOL).median()[0] for s in r.stats_test])
    seconds["ABC rejection, Fst + S_GN + S_BF"] = time.perf_counter() - start

    start = time.perf_counter()
    scaler = StandardScaler().fit(r.stats[r.fit])
    name = "dense 128-32-16-8 on statistics"
    estimates[name], histories[name] = network_regression(
        r, dense_network(1, None, settings.seed), Adam(1e-3), scaler.transform(r.stats),
        scaler.transform(r.stats_test),
        5 if QUICK else 30, 0)
    seconds[name] = time.perf_counter() - start

    if cnn:
        start = time.perf_counter()
        x, x_test = network_input(r, "all SNPs", TRANSFORMS, POOLED)
        name = "CNN D · exchangeable, all SNPs"
        estimates[name], histories[name] = network_regression(
            r, exchangeable_cnn(x.shape[1:], 1, None, settings.seed), decaying_adam(r), x, x_test,
            2 if QUICK else 12, 0 if QUICK else 1)
        seconds[name] = time.perf_counter() - start

    score_t_split(r, estimates, histories, seconds)


t_split_regression(literal)

# %% [markdown]
# ### 1.7 · What did CNN D see that the statistics did not?
# On the literal reading CNN D beats the Fst ceiling of section 1.1 (see the accuracies printed above), so
# the data hold information that the 8 statistics throw away. Where? Fst weighs every SNP by
# p(1 − p): it is dominated by common variants, which are old — most of them older than the split.
# The *youngest* variants are the rare ones, and a mutation younger than the split stays in the
# population where it arose under isolation, while under IM (10 % migrants per generation) it spreads
# to the other population within a few generations. The cleanest such statistic: among the
# **doubletons** (derived allele carried by exactly 2 of the 280 haplotypes), the share carried once in
# GN and once in BF. If GN and BF were one random-mating population it would be
# 2 · 82 · 198 / (280 · 279) ≈ 0.416. (It was computed with the images in section 1.4:
# `shared_doubletons` in `lessons/t1_helpers.py`, into `r.shared` and `r.shared_test`.)
#
# The CNN had all it needed to find this: per-SNP counts of both populations on a log scale (where
# (1, 1), (2, 0) and (0, 2) are distinct points) and a mean over SNPs. We did not tell it; we found the
# statistic afterwards by asking what separates the models among rare variants. Adding it as a 9th
# statistic closes the loop: the statistics methods catch up with the CNN.

# %%
def with_shared_doubletons(r):
    """ABC and the dense network on the 8 statistics + the share of shared doubletons."""
    stats9, stats9_test = np.column_stack([r.stats, r.shared]), np.column_stack([r.stats_test, r.shared_test])
    start = time.perf_counter()
    predicted = np.array([np.argmax(popsim_abc.postpr(s, r.y, stats9, TOL).probs) for s in stats9_test])
    score_classification(r, "ABC rejection, + shared doubletons (test set)", predicted, time.perf_counter() - start)
    start = time.perf_counter()
    scaler = StandardScaler().fit(stats9[r.fit])
    model = dense_network(2, "softmax", settings.seed, n_inputs=9)
    model.compile(Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(scaler.transform(stats9[r.fit]), r.y[r.fit], epochs=MAX_EPOCHS * 5, batch_size=32,
                        validation_data=(scaler.transform(stats9[r.val]), r.y[r.val]), verbose=0,
                        callbacks=[stopper(5 if QUICK else 30)])
    predicted = model.predict(scaler.transform(stats9_test)).argmax(axis=1)
    score_classification(r, "dense, + shared doubletons", predicted, time.perf_counter() - start, history)
    for method in ("ABC rejection, + shared doubletons (test set)", "dense, + shared doubletons"):
        print(f"{r.name}: {method}: test accuracy {r.results[method]['accuracy']:.1%}")


with_shared_doubletons(literal)

# %% [markdown]
# ### 1.8 · The literal reading: all methods on one test set
# Confusion matrices, learning curves and T_split parity plots, and the tables that
# `results.md` collects at the end (`plot_reading` and `results_table` in `lessons/t1_helpers.py`).

# %%
plot_reading(literal, settings)
print(results_table(literal))

# %% [markdown]
# **What the literal reading shows** (full mode, seed 2026; a binomial standard error is ±2–2.5 points
# on 200 test simulations). The methods that see the 8 statistics sit at the Fst ceiling: Fst cut 88 %,
# ABC 88.5 % on the test set (81.5 % in the course's cross-validation — which moves between 81.5 and
# 86.5 % with the seed that picks the 200 pseudo-observed sets), the dense network 89.5 %. None is near
# the published 95.5–97 %.
#
# The published CNN (A) is at chance, 49.5 %, answering "IM" for almost everything; with rows sorted (B)
# it starts to learn its training images by heart (training accuracy climbs, validation stays at 50 %).
# Pooling within populations (C) fixes the architecture but 250 SNPs in ~5 kb say almost nothing: 55 %.
# With all SNPs (D) the CNN reaches **94 %** — *better* than the statistics, because it reads the rare
# variants they ignore (section 1.7); given that one extra statistic, ABC and the dense network catch up
# (95 %). For T_split the statistics are nearly useless (PE 0.79–0.85; published 1.09 for ABC) while
# CNN D gets PE 0.54: the rare variants date the split, and the growth at the split, in both models.

# %% [markdown]
# ## Part 2 · The older split: the same pipeline on the other reading
# Everything as above, on `mosquito_isolation_older_split` / `mosquito_im_older_split` (500 training
# simulations per model; the test set is again 100 per model with seed + 1). Its Fst threshold was
# already computed for the right panel of section 1.1, and its images were built in section 1.4; the
# remaining steps are the functions of Part 1, called on the other `Reading`.

# %%
older_split = readings["older_split"]
for step in (abc_model_choice, dense_classifier, cnn_classifiers, with_shared_doubletons, t_split_regression):
    step(older_split)
plot_reading(older_split, settings)
plot_shared_doubletons(readings, settings)
print(results_table(older_split))

# %% [markdown]
# **What the older split shows** (full mode, as above). Here the split is ten times older on the coalescent
# scale (T/(2 N_GN) = 0.013–0.027, first table), Fst is ≈ 0.008 under isolation and ≈ 0 under IM
# (section 1.1), and the two models separate almost perfectly: everything that is well designed reaches
# 100 %, and T_split is estimated with a prediction error of 0.11–0.17 (0.14–0.21 on the IM simulations
# alone; target ≤ 0.4). The published accuracies of ABC and the dense network (95.5–97 %) are reached
# here, and passed. The published CNN (A) is still at chance, even though a threshold on one statistic
# is enough: a design failure, not a lack of signal. Pooling within populations (C) alone takes the CNN
# from chance to 99.5 %, even on the first 250 SNPs.

# %% [markdown]
# ## Part 3 · The published settings: 560 haplotypes and msprime's default mutation model
# TASKS.md records how the course's published ABC and dense-network numbers were obtained: on its Day 1
# reference tables, simulated with `samples=[41*2, 99*2]` passed to msprime as *individuals* — 82 + 198
# diploids, **560 haplotypes**, twice the real sample (a diploid count doubled twice, one of the mistakes
# TASKS.md lists) — and with msprime's default mutation model, **JC69** on a discrete genome (nucleotides;
# a site hit twice can carry three alleles). Only the CNN of Day 3 used the real 280 haplotypes.
#
# So the published settings are the *literal* demography of Part 1 with `mosquito_isolation_published` /
# `mosquito_im_published` (82 + 198 diploids) and `SimulationSettings(discrete_genome=True,
# mutation_model="jc69")` (a site with 3–4 alleles is kept as ancestral vs derived, which is what the 8
# statistics need). Same seeds, 1,000 training simulations per model, 100 test simulations per model.
# We rerun what the published numbers refer to — the Fst threshold, ABC (cross-validation as the course
# did it, and the test set), the dense network, and both T_split regressions — and check the simulated
# statistics against the distributions of the course's reference tables (TASKS.md T1).
#
# Why would twice the haplotypes matter? Fst and dxy are estimated from the sample: with 560 haplotypes
# the sampling noise of each allele frequency shrinks, and the faint isolation signal of the literal
# model (expected Fst < 0.001) stands out more clearly against it. The price: the method then answers a
# question about a sample that does not exist — applied to the real 280 haplotypes, a method trained on
# 560-haplotype simulations sees statistics from another distribution (S, for one, is larger).

# %%
start = time.perf_counter()
published = load_reading(settings, "published", TITLES["published"], PUBLISHED_SCENARIOS, "published",
                         N_TRAIN["published"], N_TEST, SEQUENCE_LENGTH, WORKERS, **PUBLISHED_OPTIONS)
timings["simulation (published)"] = time.perf_counter() - start
print(f"published settings: {len(published.train)} training + {len(published.test)} test simulations of "
      f"{len(published.train.haplotype_populations)} haplotypes, {published.sites.mean():.0f} SNPs per replicate")
cut, train_accuracy, test_accuracy = fst_threshold(published)
print(f"published settings: best Fst cut {cut:.5f}: {train_accuracy:.1%} of training, {test_accuracy:.1%} of test")
for step in (abc_model_choice, dense_classifier):
    step(published)
t_split_regression(published, cnn=False)
print(results_table(published))

# %% [markdown]
# **What the published settings show** (full mode, seed 2026, the same calls as above; ±1.5–2 points
# binomial standard error on 200 test simulations). The Fst threshold classifies 96.5 % of the training
# and 95.5 % of the test simulations; ABC reaches 98.0 % in the course's cross-validation (96/4, 0/100) and
# 95.0 % on the test set; the dense network 97.0 % — the published 95.5 % and 97.0 %, within noise. T_split
# by ABC on Fst + S_GN + S_BF: prediction error 0.60 (published 1.09); by the dense network 0.53 (published
# 0.518, with a MAPE loss where ours regresses the standardised target). So the published accuracies are
# real, but they belong to a sample of 560 haplotypes that does not exist; for the real 280 (Part 1) the
# same methods reach about 88–90 %. A method trained this way and applied to the real data would meet
# statistics from another distribution (S per population, for one, is ~12 % larger with twice the sample).
#
# **Against the course's reference tables.** The simulated training tables (1,000 per model, as the
# course's) beside the distributions TASKS.md records from the course's tables: the range and mean of Fst
# per model, the mean π and Tajima's D, and the correlations of the statistics with T_split under IM.
# (`course_distributions` in `lessons/t1_helpers.py`.)

# %%
print(course_distributions({"literal": literal, "published": published}, settings))

# %% [markdown]
# ## Conclusion · Every reading against the published numbers

# %%
PUBLISHED = {"ABC rejection (CV, 100 per model)": "95.5 % (97/3, 6/94)",
             "dense 128-32-16-8 on statistics": "97.0 % (98/2, 4/96)",
             "CNN A · published": "44.5 % (chance)",
             "T_split: ABC rejection, Fst + S_GN + S_BF": "PE 1.09",
             "T_split: dense 128-32-16-8 on statistics": "PE 0.518 (MAPE loss)"}

header = (f"TASKS.md T1, lesson 13, seed {settings.seed} (test data seed {settings.seed + 1}); "
          f"training simulations per model: literal {N_TRAIN['literal']}, older split {N_TRAIN['older_split']}, "
          f"published settings {N_TRAIN['published']}; "
          f"test: {N_TEST} per model{' — QUICK MODE, numbers mean nothing' if QUICK else ''}")
report = comparison_report({**readings, "published": published}, PUBLISHED, header, timings)
print(report)
(settings.output / "results.md").write_text(report + "\n", encoding="utf-8")
every_reading = {**readings, "published": published}
(settings.output / "results.json").write_text(json.dumps({
    "lesson": "13_mosquito_t1", "quick": QUICK, "seed": settings.seed, "n_train_per_model": N_TRAIN,
    "n_test": 2 * N_TEST,
    "accuracy": {f"{name}: {m}": v["accuracy"] for name, r in every_reading.items() for m, v in r.results.items()
                 if "accuracy" in v},
    "t_split_pe": {f"{name}: {m}": v["pe"]["all"] for name, r in every_reading.items() for m, v in r.results.items()
                   if "pe" in v},
    "seconds": {k: round(v, 1) for k, v in timings.items()}}, indent=1))
plot_summary({**readings, "published": published}, settings)

# %% [markdown]
# **Reading the table.**
#
# * **The published ABC and dense-network accuracies (95.5 %, 97 %) are not reachable from the 8
#   statistics on the literal model** (Fst ceiling ≈ 85–88 %), **and trivially reached on the older
#   split** (100 %, as is PE ≤ 0.2 for T_split). Which reading the course used cannot be checked from its
#   material; its T_split errors (1.09 for ABC, 0.52 for the network) look more like the literal model,
#   its accuracies more like the older split.
# * **The published CNN is at chance on both readings**, even where a threshold on one statistic is
#   perfect: a design failure, not a lack of signal. It sees ~5 kb of 150 kb; its rows come in an
#   arbitrary order; its convolution slides *across* that order, so neighbouring "pixels" are unrelated
#   haplotypes and every one of the 82! · 198! orders of a sample is a different image; and with ~60,000
#   weights and 1,600 images, memorising is all it can do.
# * **The ladder shows which fix matters.** Sorting rows (B) does not add information. Pooling within
#   populations (C) is the decisive architectural fix — on the older split it alone takes the CNN from
#   chance to 99.5 %, even on the first 250 SNPs. On the literal model the signal is faint, and only all
#   SNPs of the region (D) carry enough of it.
# * **A CNN designed for the data can beat the statistics.** On the literal reading CNN D (94 %) is more
#   accurate than everything built on the 8 statistics (≤ 89.5 %) and estimates T_split much better
#   (PE 0.54 vs ≥ 0.79), because it reads the rare shared variants that Fst ignores. Section 1.7 turned
#   what it found into a statistic, and then the statistics methods caught up: the CNN pointed the way,
#   the population geneticist wrote it down. With 200 test simulations, 94 % vs 95 % is a tie.
# * **What we aimed for and missed.** The project's target for this reading was ≥ 97 % and a T_split
#   prediction error ≤ 0.4. CNN D misses both, by 3 points (94 %) and by 0.14 (PE 0.54). Tried: the design
#   ladder A–D (sorting rows, pooling within populations, all SNPs), a decaying learning rate, and the
#   shared-doubleton statistic. In an exploratory run outside this lesson, a network on per-window
#   haplotype distance profiles (lesson 16's design, 10 stretches of 15 kb) reached 97.0 % on the same 200
#   test simulations, but its validation accuracy swung from epoch to epoch, and its T_split regression did
#   not train stably (PE 0.89). That is work in progress, not a result.
# * **T_split under IM** is not hopeless: the split is also a 4.5-fold population growth, which dates
#   itself in the frequency spectrum (PE 0.56 for CNN D on the literal IM simulations, 0.14–0.21 for all
#   methods on the older split).
#
# ## Try this
# - Change `N_EVEN` to 1,024 or 4,096: how many SNPs does CNN D need on the older split? On the literal one?
# - Give the published CNN (A) 250 SNPs spread over the region (`snp_selection="even"`): does the wider
#   window alone rescue it, or does the convolution across haplotypes still fail?
# - Replace `Conv1D(16, 4, strides=4)` by `Conv1D(16, 1)`: the network becomes blind to the order of SNPs
#   too (a "bag of sites"). Does linkage between neighbouring SNPs carry any information here?
# - Feed CNN D frequencies instead of log counts (drop the `np.log1p` in `network_input`, in
#   `lessons/t1_helpers.py`, and divide by 82 and 198): how much accuracy does it lose on the literal
#   reading, and why (section 1.7)?
# - Set `BatchNormalization(momentum=0.99)` (Keras's default) in `exchangeable_cnn` and watch the
#   validation accuracy in the learning curves.
# - Train the dense network with early stopping on the **test** set (a mistake in public material): how
#   much higher does its "test" accuracy look, and why is that number worthless?
# - Estimate T_split from the isolation simulations only: does the CNN's isolation PE improve?
# - Add the share of shared *tripletons* (derived allele carried by 3 haplotypes, in both populations)
#   as a 10th statistic. Does ABC move above 95 %?
# - Change the seed of `cv4postpr` in `abc_model_choice`: how much does the course's cross-validation
#   accuracy move? Is 81.5 % vs 95.5 % explained by that noise?

# %%
total = settings.elapsed()
print(f"Lesson 13 done in {total:.0f} s ({total / 60:.1f} min); figures and results.md in {settings.output}")
