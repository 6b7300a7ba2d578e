# %% [markdown]
# # 15 · From simulations to real data: a calibrated network applied to a VCF
#
# **Goal.** Take the last step of the practical: train a network on simulations, make its probabilities
# honest (calibration), pack it with *everything* needed to use it into one file (a model bundle), and apply
# it to a VCF — window by window, exactly as the training data were made — with a verdict and an interval.
# Our "empirical" data are a VCF written by tskit from a *mystery* simulation, so at the end we can check
# the answer.
#
# **The idea in plain words.**
#
# 1. *Same transform.* A network only understands inputs made the way its training inputs were: the same
#    number of haplotypes per population in the same order, the same SNP selection and encoding, the same
#    window length. So the transform (`popsim.features.images.GenotypeImage`) travels with the network, and a real
#    chromosome is cut into windows of the simulated locus length; each window becomes one image.
#    Anything that differs (sample sizes, phasing, which allele is called 1) is an *error*, not something to
#    patch silently.
# 2. *Calibration.* A network trained with cross-entropy is often over-confident: among predictions made with
#    90 % confidence, fewer than 90 % are right. The **expected calibration error** measures the gap,
#    `ECE = Σ_m (n_m/N)·|acc(B_m) − conf(B_m)|` over confidence bins `B_m`. **Temperature scaling** divides
#    the logits by one number `T` fitted on validation data, `q = softmax(z / T)`: `T > 1` softens, and the
#    predicted class never changes (`minidl/calibration.py`).
# 3. *Many windows, one answer.* Each window gives class probabilities; we report their mean, the spread
#    across windows (2.5–97.5 % of windows) and a 95 % bootstrap interval of the mean (windows resampled
#    with replacement — treating windows as independent, which is only approximately true along a
#    chromosome).

# %%
import gzip
import warnings
from dataclasses import replace

import matplotlib.pyplot as plt
import msprime
import numpy as np

from lessons._common import savefig, setup
from minidl import Adam, Conv1D, Dense, ExchangeablePooling, GlobalAveragePooling1D, Input, Sequential
from minidl.calibration import TemperatureScaling, expected_calibration_error, reliability_diagram
from minidl.threads import set_num_threads
from popsim.features.images import GenotypeImage
from popsim.realdata.bundle import MismatchError, ModelBundle
from popsim.realdata.windows import plot_predictions, predict_vcf_file
from popsim.sim.dataset import simulate_dataset
from popsim.sim.priors import LogUniform, Uniform
from popsim.sim.scenarios import Scenario, get_scenario
from popsim.sim.simulate import SimulationSettings

settings = setup("15_real_data")
set_num_threads(1)  # a tiny network: one numba/BLAS thread beats two fighting over shared cores
QUICK = settings.quick
N_PER_SCENARIO = 100 if QUICK else 1000
EPOCHS = 15 if QUICK else 40
N_WINDOWS = 10 if QUICK else 30
# One 50 kb locus per replicate; rates per bp per generation (msprime units).
SIMULATION = SimulationSettings(sequence_length=50_000, mutation_rate=5e-8, recombination_rate=1e-8, n_loci=1,
                                keep_genotypes=True)  # raw genotypes kept for section 8 (masked training images)
print(f"mode: {'quick' if QUICK else 'full'}; {N_PER_SCENARIO} simulations per scenario, {EPOCHS} epochs")

# %% [markdown]
# ## 1 · Simulate three scenarios for one population
# The demographies of the built-in `constant_size`, `bottleneck` and `expansion` scenarios (their `build`
# functions), with priors narrowed so that a small network learns something in seconds: a present size of
# 5,000–20,000 diploids, a bottleneck down to 50–300 individuals a few hundred generations ago, or an
# expansion from 2,000–10,000 to 50,000–200,000. 10 diploid individuals (20 haplotypes).
#
# Each replicate is a 50 kb locus turned into a 20 × 64 image: 64 SNPs spread evenly over the locus,
# derived allele = 1, plus a channel with log(1 + bp) to the previous SNP (SNP density carries θ = 4Nμ).

# %%
samples = {"pop": 10}
size = {"N": LogUniform(5_000, 20_000)}
scenarios = [
    Scenario("constant", samples, size, get_scenario("constant_size").build, "constant size N"),
    Scenario("bottleneck", samples,
             {**size, "N_bottleneck": LogUniform(50, 300), "T_end": Uniform(200, 1_000),
              "T_start": Uniform("T_end + 200", "T_end + 600")},
             get_scenario("bottleneck").build, "N, reduced to N_bottleneck between T_start and T_end"),
    Scenario("expansion", samples,
             {"N": LogUniform(50_000, 200_000), "N_ancestral": LogUniform(2_000, 10_000),
              "T_growth": Uniform(200, 2_000)},
             get_scenario("expansion").build, "exponential growth from N_ancestral to N over T_growth"),
]
transform = GenotypeImage(n_snps=64, snp_selection="even", encoding="01", distance_channel=True)
dataset = simulate_dataset(settings.output / f"dataset_{'quick' if QUICK else 'full'}", scenarios, N_PER_SCENARIO,
                           seed=settings.seed, settings=replace(SIMULATION, transform=transform), progress=not QUICK)
train, validation, test = dataset.split((0.7, 0.15, 0.15))
x_train, y_train = dataset.arrays(train)
x_val, y_val = dataset.arrays(validation)
x_test, y_test = dataset.arrays(test)
print(f"images {dataset.image_shape}; train {len(train)}, validation {len(validation)}, test {len(test)}")

# %% [markdown]
# ## 2 · A small CNN
# Haplotypes have no order, so the network first averages over them (`ExchangeablePooling("mean")`, see
# `minidl/layers/exchangeable.py`): what is left per SNP is its derived-allele frequency and its distance channel.
# One-wide convolutions then turn each SNP's frequency into features (a learned site-frequency spectrum),
# three-wide ones look at neighbouring SNPs, and global average pooling averages over the locus.

# %%
model = Sequential([Input(dataset.image_shape), ExchangeablePooling("mean"),
                    Conv1D(16, 1, activation="relu"), Conv1D(16, 3, activation="relu"), GlobalAveragePooling1D(),
                    Dense(16, activation="relu"), Dense(len(scenarios), activation="softmax")], seed=settings.seed)
model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, validation_data=(x_val, y_val), verbose=0)
p_test = model.predict(x_test)
test_accuracy = float(np.mean(p_test.argmax(axis=1) == y_test))
print(f"validation accuracy {history.history['val_accuracy'][-1]:.3f}; test accuracy {test_accuracy:.3f}")

# %% [markdown]
# ## 3 · Calibrate on validation data, check on test data
# The temperature is fitted on the **validation** set; the reliability diagram and the ECE are computed on
# the **test** set, which played no part in training or calibration.

# %%
p_val = model.predict(x_val)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    calibration = TemperatureScaling(input="probs").fit(p_val, y_val)
for w in caught:
    print(f"  note: {w.message}")
q_test = calibration.transform(p_test)
ece_before, ece_after = expected_calibration_error(p_test, y_test), expected_calibration_error(q_test, y_test)
print(f"temperature T = {calibration.temperature_:.3f}; test ECE {ece_before:.3f} -> {ece_after:.3f}; "
      f"accuracy unchanged: {np.array_equal(p_test.argmax(1), q_test.argmax(1))}")
fig = reliability_diagram({"before": p_test, "after temperature scaling": q_test}, y_test, n_bins=10,
                          title=f"Test set reliability (T = {calibration.temperature_:.2f})")
savefig(fig, settings, "reliability_before_after.png")

# %% [markdown]
# Read the numbers with care: when the network is already nearly calibrated (T close to 1), scaling changes
# little, and on a test set of a few hundred examples the ECE is itself noisy — it may even rise slightly.
# The accuracy never changes: dividing all logits by the same T keeps the argmax.

# %% [markdown]
# ## 4 · One file with everything: the model bundle
# `ModelBundle.from_dataset` takes the transform, the scenario names and metadata (demes graphs, priors),
# the sample (population of each haplotype), the locus length, the number of SNPs per simulated locus and
# the versions from the dataset; we add the calibration. `save` writes one `.npz` that `minidl.load_model`
# can still read; `ModelBundle.load` gives it all back.

# %%
bundle = ModelBundle.from_dataset(model, dataset, "classification", calibration=calibration,
                                  extra={"test_accuracy": test_accuracy, "test_ece_before": ece_before,
                                         "test_ece_after": ece_after})
bundle_path = bundle.save(settings.output / "bundle.npz")
bundle = ModelBundle.load(bundle_path)
print(bundle.describe())
print(f"sample: {bundle.sample_sizes} diploids, phased={bundle.phased}, window {bundle.window_bp:g} bp, "
      f"training SNPs per locus {bundle.training_sites['min']:g}–{bundle.training_sites['max']:g}")

# %% [markdown]
# ## 5 · A "mystery" chromosome as a stand-in for empirical data
# One long region (many loci' worth of sequence, linked) simulated with msprime under one of the scenarios,
# written as a gzipped VCF by tskit, with a population file naming the samples. Let's not look at which
# scenario until the end.

# %%
rng = np.random.default_rng(settings.seed + 15)
secret_scenario = scenarios[rng.integers(len(scenarios))]
secret = secret_scenario.name
secret_params = secret_scenario.sample_params(rng)
ts = msprime.sim_ancestry(secret_scenario.samples, demography=secret_scenario.demography(secret_params),
                          sequence_length=N_WINDOWS * SIMULATION.sequence_length,
                          recombination_rate=SIMULATION.recombination_rate, random_seed=settings.seed)
ts = msprime.sim_mutations(ts, rate=SIMULATION.mutation_rate, model=msprime.BinaryMutationModel(),
                           discrete_genome=True, random_seed=settings.seed + 1)
ts = ts.delete_sites(np.flatnonzero(ts.sites_position == 0))  # a VCF has no position 0
vcf_path = settings.output / "mystery.vcf.gz"
with gzip.open(vcf_path, "wt") as fh:
    ts.write_vcf(fh)
pops_path = settings.output / "mystery_pops.tsv"
pops_path.write_text("sample\tpopulation\n" + "".join(f"tsk_{i}\tpop\n" for i in range(ts.num_individuals)))
print(f"{vcf_path.name}: {ts.num_sites} SNPs over {ts.sequence_length:g} bp, {ts.num_individuals} individuals")

# %% [markdown]
# ## 6 · Predict, window by window — the same path as `popsim predict`
# `predict_vcf_file` is the function behind
# `popsim predict bundle.npz mystery.vcf.gz --pops mystery_pops.tsv --ref-is-ancestral -o predict`.
# `--ref-is-ancestral` says that REF is the ancestral allele — true for a VCF tskit writes from a simulation;
# for real data you would polarise with an ancestral-allele INFO field (`--ancestral-allele AA`).

# %%
print(f"$ popsim predict {bundle_path} {vcf_path} --pops {pops_path} --ref-is-ancestral "
      f"-o {settings.output / 'predict'}")
predictions = predict_vcf_file(bundle_path, vcf_path, pops_path, ref_is_ancestral=True,
                               output=settings.output / "predict")
fig = plot_predictions(predictions, title=f"Mystery chromosome: {predictions.verdict()}")
savefig(fig, settings, "mystery_windows.png")
verdict = predictions.names[int(np.argmax(predictions.mean()))]
print(f"\nThe mystery chromosome was simulated under {secret!r} with "
      + ", ".join(f"{k}={v:.4g}" for k, v in secret_params.items())
      + f" — the network says {verdict!r}: {'right' if verdict == secret else 'wrong'}.")

# %% [markdown]
# What the network saw: the first window of the VCF, made into an image with the transform stored in the
# bundle, next to one simulated training image of each scenario (genotype channel; white = derived allele;
# black columns on the right = zero padding when a locus has fewer than 64 SNPs). A bottleneck long ago
# makes a star-like genealogy — mostly singletons — while a recent one leaves SNPs at intermediate
# frequencies: one scenario gives many kinds of images, which is why we simulate so many.

# %%
from popsim.realdata.vcf import read_vcf  # noqa: E402

data = read_vcf(vcf_path, pops_path)
window = data.windows(int(bundle.window_bp))[0]
real_image = bundle.transform(window.calls, window.positions, bundle.haplotype_populations, window.sequence_length)
fig, axes = plt.subplots(1, 1 + len(scenarios), figsize=(3.2 * (1 + len(scenarios)), 2.6))
axes[0].imshow(real_image[..., 0], cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
axes[0].set_title(f"VCF window 1 ({window.num_sites} SNPs)", fontsize=9)
for k, scenario in enumerate(scenarios):
    example = x_train[np.flatnonzero(y_train == k)[0]]
    axes[k + 1].imshow(example[..., 0], cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes[k + 1].set_title(f"simulated: {scenario.name}", fontsize=9)
for ax in axes:
    ax.set_xlabel("SNP")
axes[0].set_ylabel("haplotype")
fig.tight_layout()
savefig(fig, settings, "vcf_window_vs_simulations.png")

# %% [markdown]
# Per-window probabilities and the uncertainty across windows, by class:

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.boxplot([predictions.values[:, k] for k in range(len(predictions.names))])
ax.set_xticks(range(1, len(predictions.names) + 1), predictions.names)
ax.set(ylabel="P(scenario) per window", ylim=(-0.02, 1.02),
       title=f"{len(predictions)} windows of {bundle.window_bp / 1000:g} kb; truth: {secret}")
savefig(fig, settings, "mystery_boxplot.png")

# %% [markdown]
# ## 7 · A mismatch is caught, not patched
# Suppose the population file lists 9 individuals where the network was trained on 10,, and we forget
# to say how alleles are polarised. Both problems are reported in one error; no individual is silently
# dropped or duplicated, no allele silently flipped.

# %%
short_pops = settings.output / "mystery_pops_9.tsv"
short_pops.write_text("".join(f"tsk_{i}\tpop\n" for i in range(9)))
try:
    bundle.predict_vcf(vcf_path, short_pops)
except MismatchError as error:
    print(f"MismatchError: {error}")

# %% [markdown]
# ## 8 · Real data as a sequencing centre delivers them
# A real call set differs from the mystery VCF in four ways, and each has its answer in `popsim`:
#
# - **Several chromosomes, bgzipped and indexed** (`.vcf.gz` + `.tbi`, or BCF + `.csi`). `popsim predict`
#   walks every chromosome in one pass as a **stream** — the file is read a few thousand sites at a time and
#   cut into chunks of windows, so memory is a few windows whatever the genome's size
#   (`benchmarks/RESULTS.md`: a prediction over 1 M records × 1,000 diploids peaked at 240 MB, where holding
#   one 500,000-site chromosome takes 2 GB) — and `--region`/`--regions`
#   jump to a region through the index (htslib backend, cyvcf2).
# - **Unphased genotypes** (`0/1`): haplotypes are not known, so the network must be trained on what the data
#   show — one row per individual with 0/1/2 derived alleles (`GenotypeImage(unphased=True)`).
# - **Missing calls** (`./.`): encoded 0, as in the training images if we inject missing data there too
#   (`missing_rate`).
# - **An accessibility mask**: the BED of callable bases (repeats and low-mappability regions are out). A site
#   outside it is absent because it could not be called, not because nobody carries a mutation there, so the
#   mask is applied to **both sides**: data windows stay fixed in bp but are given to the network in
#   *accessible coordinates* (positions count accessible bp, the window's length is its accessible length:
#   the distance channel and per-bp statistics see only callable sequence), and every training replicate gets
#   the mask of a random 50 kb window of the same genome (`AccessibilityMask.sample_windows` +
#   `mask_replicate`), so the network learns with the same gaps it will meet.
#
# The "sequencing centre" file: the mystery scenario again, on two chromosomes, unphased, `GT:DP`, 2 % missing
# calls, bgzipped + tabix-indexed and also as BCF, with a mask removing about 20 % of each chromosome in
# 1–6 kb gaps.

# %%
try:  # bgzip + tabix (as htslib's command-line tools do) and BCF: pysam; indexed reads: cyvcf2
    import cyvcf2  # noqa: E402,F401
    import pysam  # noqa: E402
except ImportError as error:
    raise SystemExit(f"Section 8 of lesson 15 needs htslib's Python bindings ({error.name} is missing): "
                     "pip install -e '.[vcf]' (sections 1-7 above ran without them)") from None

from popsim.realdata.mask import AccessibilityMask, mask_replicate  # noqa: E402

LOCUS = int(SIMULATION.sequence_length)
genome = {"chr1": 6 if QUICK else 16, "chr2": 4 if QUICK else 12}  # 50 kb windows per chromosome
rng = np.random.default_rng(settings.seed + 8)
individuals = [f"ind{i:02d}" for i in range(10)]
header = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
          '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
          *(f"##contig=<ID={c},length={n * LOCUS}>" for c, n in genome.items()),
          "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *individuals])]
records, bed_lines = [], []
for k, (chrom, n_windows) in enumerate(genome.items()):
    ts = msprime.sim_ancestry(secret_scenario.samples, demography=secret_scenario.demography(secret_params),
                              sequence_length=n_windows * LOCUS, recombination_rate=SIMULATION.recombination_rate,
                              random_seed=settings.seed + 20 + k)
    ts = msprime.sim_mutations(ts, rate=SIMULATION.mutation_rate, model=msprime.BinaryMutationModel(),
                               discrete_genome=True, random_seed=settings.seed + 30 + k)
    for variant in ts.variants():
        if variant.site.position == 0:
            continue
        calls = [("./.:0" if rng.random() < 0.02 else f"{a}/{b}:{rng.integers(8, 40)}")
                 for a, b in variant.genotypes.reshape(-1, 2)]
        records.append("\t".join([chrom, str(int(variant.site.position)), ".", "A", "T", "50", "PASS", ".", "GT:DP",
                                   *calls]))
    start = 0  # callable intervals between gaps of 1-6 kb, about 20 % of the sequence
    while start < n_windows * LOCUS:
        callable_bp = int(rng.integers(4_000, 24_000))
        bed_lines.append(f"{chrom}\t{start}\t{min(start + callable_bp, n_windows * LOCUS)}")
        start += callable_bp + int(rng.integers(1_000, 6_000))
plain_path = settings.output / "centre_calls.vcf"
plain_path.write_text("\n".join(header + records) + "\n")
centre_path = settings.output / "centre_calls.vcf.gz"
pysam.tabix_compress(str(plain_path), str(centre_path), force=True)
pysam.tabix_index(str(centre_path), preset="vcf", force=True)  # writes centre_calls.vcf.gz.tbi
bcf_path = settings.output / "centre_calls.bcf"
with pysam.VariantFile(str(centre_path)) as src, pysam.VariantFile(str(bcf_path), "wb", header=src.header) as dst:
    for record in src:
        dst.write(record)
pysam.tabix_index(str(bcf_path), preset="bcf", csi=True, force=True)
centre_pops = settings.output / "centre_pops.tsv"
centre_pops.write_text("".join(f"{name}\tpop\n" for name in individuals))
bed_path = settings.output / "callable.bed"
bed_path.write_text("\n".join(bed_lines) + "\n")
mask = AccessibilityMask.from_bed(bed_path)
print(f"{centre_path.name}: {len(records)} records on {len(genome)} chromosomes; {mask.summary()}")
region = read_vcf(bcf_path, centre_pops, f"chr2:{LOCUS + 1}-{2 * LOCUS}")  # jumps there through the .csi index
print(region.summary())

# %% [markdown]
# Training images made the way the data will be seen: the raw genotypes the dataset kept (`keep_genotypes`),
# each replicate masked with the mask of a random 50 kb window of this genome, then unphased (individual rows)
# with 2 % missing calls injected. Same network, same calibration recipe.

# %%
masked_transform = GenotypeImage(n_snps=64, snp_selection="even", encoding="01", distance_channel=True,
                                 unphased=True, missing_rate=0.02)
window_masks = mask.sample_windows(LOCUS, len(dataset), seed=settings.seed)
masked_images, accessible_bp, masked_sites = [], [], []
for record, intervals in zip(dataset.iter_replicates(), window_masks):
    genotypes, positions, length = mask_replicate(record.genotypes, record.positions, record.sequence_length,
                                                  intervals)
    masked_images.append(masked_transform(genotypes, positions, record.populations, sequence_length=length,
                                          seed=settings.seed + record.index))
    accessible_bp.append(length)
    masked_sites.append(len(genotypes))
masked_images = np.stack(masked_images).astype(np.float32)
labels = dataset.labels
print(f"masked, unphased training images {masked_images.shape[1:]}; accessible bp per replicate "
      f"{np.min(accessible_bp):,}–{np.max(accessible_bp):,} of {LOCUS:,}")
masked_model = Sequential([Input(masked_images.shape[1:]), ExchangeablePooling("mean"),
                           Conv1D(16, 1, activation="relu"), Conv1D(16, 3, activation="relu"), GlobalAveragePooling1D(),
                           Dense(16, activation="relu"), Dense(len(scenarios), activation="softmax")],
                          seed=settings.seed)
masked_model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
masked_model.fit(masked_images[train], labels[train], epochs=EPOCHS, batch_size=32,
                 validation_data=(masked_images[validation], labels[validation]), verbose=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    masked_calibration = TemperatureScaling(input="probs").fit(masked_model.predict(masked_images[validation]),
                                                                labels[validation])
masked_accuracy = float(np.mean(masked_model.predict(masked_images[test]).argmax(1) == labels[test]))
# the images were made with masked_transform from masked genotypes: say so (transform, SNPs per replicate)
masked_bundle = ModelBundle.from_dataset(masked_model, dataset, "classification", calibration=masked_calibration,
                                         transform=masked_transform, training_sites=np.array(masked_sites))
print(f"masked unphased network: test accuracy {masked_accuracy:.3f} (phased, unmasked network: {test_accuracy:.3f})")

# %% [markdown]
# Predicted genome-wide — the same as
# `popsim predict masked_bundle.npz centre_calls.vcf.gz --pops centre_pops.tsv --mask callable.bed
# --ref-is-ancestral -o predict_genome`. `windows.csv` gets one row per window with its chromosome and its
# accessible fraction; `summary_by_chromosome.csv` the summary per chromosome and for the genome; the figure
# lays the chromosomes end to end.

# %%
masked_bundle_path = masked_bundle.save(settings.output / "masked_bundle.npz")
print(f"$ popsim predict {masked_bundle_path} {centre_path} --pops {centre_pops} --mask {bed_path} "
      f"--ref-is-ancestral -o {settings.output / 'predict_genome'}")
genome_predictions = predict_vcf_file(masked_bundle_path, centre_path, centre_pops, mask=bed_path,
                                      ref_is_ancestral=True, output=settings.output / "predict_genome")
fig = plot_predictions(genome_predictions, title=f"Two chromosomes, unphased, masked: {genome_predictions.verdict()}"
                                                  f" (truth: {secret})")
savefig(fig, settings, "genome_windows.png")
print(f"accessible fraction of the windows: {genome_predictions.accessible.min():.2f}–"
      f"{genome_predictions.accessible.max():.2f}")

# %% [markdown]
# ## Try this
# - Make the mystery a `bottleneck` with `N_bottleneck` = 20: how many windows are zero-padded, and
#   does the bundle warn about it?
# - Predict with `window_bp=10_000` instead of the simulated 50 kb: what does the bundle say, and how do the
#   probabilities move?
# - Write the VCF with unphased genotypes (replace `|` by `/` in the file) and run `popsim predict`: which
#   model would accept it? (Hint: `GenotypeImage(unphased=True)`.)
# - Fit the temperature on the *training* set instead of the validation set. What happens to T and to the
#   test ECE?
# - Predict the centre file without `mask=`: the gaps now look like stretches without diversity. How do the
#   SNP counts per window and the probabilities move? And with the unmasked, phased bundle (what does it say?)
# - Add multiallelic records to the centre file (`ALT` = `T,G`) and compare `--multiallelic skip` and `split`.
# - Replace the CNN by a dense network on summary statistics (`ModelBundle.from_dataset(...,
#   statistics=["S", "pi", "tajimas_d"], input_scaler=...)`, dataset simulated with `keep_genotypes=True`)
#   and compare the verdicts.

# %%
print(f"Lesson 15 done in {settings.elapsed():.1f} s; figures in {settings.output}")
