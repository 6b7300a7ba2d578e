# %% [markdown]
# # 12 · Parameter estimation: a CNN regresses demographic parameters from genotype images
#
# **Goal.** Estimate *numbers* — when two populations split, how large one of them is — from genotype
# images with a CNN, and compare it honestly with ABC on summary statistics (lesson 02) and with an MLP
# on the same statistics (lesson 06): same simulations, same held-out test set, same score.
#
# **The idea in plain words.** Lessons 11 and 14 *classify* images into scenarios: the last layer is a
# softmax and the loss is cross-entropy. For a parameter θ the network ends in one linear unit per
# parameter and is trained to minimise the squared error. The minimiser of the expected squared error
# is the posterior mean, so a well-trained regressor estimates
#
# $$f(\text{image}) \approx \mathbb{E}[\theta \mid \text{image}] \quad\text{because}\quad
#   \mathbb{E}[\theta \mid x] = \arg\min_f \; \mathbb{E}\big[(f(x) - \theta)^2\big].$$
#
# **Scale the targets, then scale back.** θ must be brought to a scale where the network's outputs start
# (near 0, of order 1): we regress `z = (g(θ) − μ) / σ`, with `g` the identity for T_split (uniform prior
# on 4,000–16,000 generations) and `g = log` for a population size (log-uniform prior on 5,000–20,000
# diploids: a factor of 4, and equal ratios are equally likely), μ and σ from the **training** targets
# only. Predictions are mapped back with `θ̂ = g⁻¹(σ·ẑ + μ)` before anything is scored.
#
# **The score.** The prediction error on the test set,
#
# $$\text{PE} = \frac{\sum_i (\hat\theta_i - \theta_i)^2}{\sum_i (\theta_i - \bar\theta)^2},$$
#
# 0 for a perfect estimator, 1 for one that always answers the mean of the test values — i.e. that has
# learned nothing beyond the prior. For the size we score log₁₀ N_A, the scale on which its prior is flat.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minidl import (Adam, AveragePooling2D, BatchNormalization, Conv2D, Dense, EarlyStopping,
                    GlobalAveragePooling2D, Input, Sequential)
from minidl.preprocessing import StandardScaler
from popsim.features.images import GenotypeImage
from popsim.inference import abc as popsim_abc
from popsim.sim.dataset import simulate_dataset
from popsim.sim.scenarios import get_scenario
from popsim.sim.simulate import SimulationSettings, available_workers
from lessons._common import savefig, setup

settings = setup("12_parameter_estimation")
N_SIMS = 150 if settings.quick else 2000       # replicates of the scenario (70 % train, 10 % val, 20 % test)
N_SNPS = 64 if settings.quick else 128         # columns of a genotype image
EPOCHS = 3 if settings.quick else 60           # upper bound: early stopping may end sooner
PATIENCE = 2 if settings.quick else 8
TOL = 0.05                                     # ABC rejection: fraction of the reference table kept
TARGETS = ["T_split", "N_A"]                   # what we estimate; N_A is log-transformed
timings = {}
print(f"{'quick' if settings.quick else 'full'} mode: {N_SIMS} simulations, {N_SNPS} SNPs, seed {settings.seed}")

# %% [markdown]
# ## 1 · Simulations: images and statistics of the same replicates
# The flagship "split" scenario (populations A and B split `T_split` generations ago, no gene flow; 12 + 12
# diploids, 10 loci of 10 kb; sizes N_A, N_B, N_ANC log-uniform on 5,000–20,000). Each replicate gives
# an image **and** its raw genotypes, from which we compute the summary statistics for ABC and the MLP,
# so all methods see the same data. Everything is cached in the output folder.
#
# The image has two channels: the genotypes (0/1, `N_SNPS` SNPs spread evenly over all loci) and the
# distance in bp to the previous SNP, `log(1 + d)`. The second one matters for *absolute* parameters: a
# 0/1 image of a fixed number of SNPs does not show how many SNPs there were, and diversity —
# θ = 4Nμ — is what tells a large population from a small one (and a split time in generations from
# one in units of 2N). Dense SNPs mean short distances.

# %%
scenario = get_scenario("flagship_split")
for name, prior in scenario.priors.items():
    print(f"  {name:8s} ~ {prior}")
start = time.perf_counter()
transform = GenotypeImage(n_snps=N_SNPS, snp_selection="even", sort_rows="none", encoding="01",
                          distance_channel=True)
folder = settings.output / f"split_{N_SIMS}_{N_SNPS}snps_seed{settings.seed}"
dataset = simulate_dataset(folder, scenario, N_SIMS, seed=settings.seed,
                           settings=SimulationSettings(transform=transform, keep_genotypes=True),
                           workers=min(2, available_workers()), progress=not settings.quick)
KEYS = ("S", "pi", "theta_w", "tajimas_d", "theta_h", "fay_wu_h", "S_pop", "pi_pop", "theta_w_pop",
        "tajimas_d_pop", "dxy", "da", "fst_hudson", "fst_tskit")
table = dataset.statistics_table(KEYS, cache=folder / "statistics.npz")
stat_names, stats = table.names, table.values
images = dataset.images()                                      # (N_SIMS, 48, N_SNPS, 2) float32
theta = dataset.params[:, [dataset.parameter_names.index(p) for p in TARGETS]]   # (N_SIMS, 2) natural units
timings["simulation + statistics"] = time.perf_counter() - start

train, val, test = dataset.split((0.7, 0.1, 0.2))
reference = np.concatenate([train, val])                       # ABC's table: everything but the test set
print(f"images {images.shape}, {len(stat_names)} statistics; train {len(train)}, validation {len(val)}, "
      f"test {len(test)} ({timings['simulation + statistics']:.0f} s)")

# %% [markdown]
# ## 2 · Standardised targets, fitted on the training set
# `StandardScaler(log=[1])` takes the log of the second column (N_A) only, then subtracts the training
# mean and divides by the training standard deviation of each column. The histograms show why: after the
# transform both targets are centred on 0 with spread 1, and N_A is flat rather than piled up at small
# values. The test targets are never used to fit the scaler — it is part of the model.

# %%
target_scaler = StandardScaler(log=[1]).fit(theta[train])
z = target_scaler.transform(theta)                             # (N_SIMS, 2) float32, for training only
back = target_scaler.inverse_transform(z[test])
print(f"training targets after scaling: mean {z[train].mean(axis=0).round(3)}, std {z[train].std(axis=0).round(3)}")
print(f"round trip on the test targets: max relative error {np.max(np.abs(back / theta[test] - 1)):.1e}")

fig, axes = plt.subplots(2, 2, figsize=(10, 6), layout="constrained")
for j, name in enumerate(TARGETS):
    axes[0, j].hist(theta[train, j], bins=30, color="C7")
    axes[0, j].set(title=f"{name}: raw (training set)", xlabel="generations" if j == 0 else "diploid individuals")
    axes[1, j].hist(z[train, j], bins=30, color="C0")
    axes[1, j].set(title=f"{name}: {'log, then ' if j == 1 else ''}standardised", xlabel="z")
savefig(fig, settings, "targets.png")

# %% [markdown]
# **The inputs need scaling too.** The genotype channel holds 0 and 1; the distance channel holds
# `log(1 + d)` ≈ 5–7 on every row. Fed as they are, the first layer's weights for the two channels would
# have to live on different scales, and the tiny differences in distance between replicates — the very
# signal of diversity — sit on top of a large constant. So we standardise the distance channel with its
# mean and standard deviation over the **training** images (two numbers, kept like a scaler's, and they
# would be applied unchanged to real data). In one trial (seed 2026, 15 epochs) this lowered the CNN's
# validation loss from about 0.9 to 0.6.

# %%
distance = images[..., 1]
channel_mean, channel_std = float(distance[train].mean()), float(distance[train].std())
images[..., 1] = (distance - channel_mean) / channel_std
print(f"distance channel: training mean {channel_mean:.2f}, std {channel_std:.2f} → standardised")

# %% [markdown]
# ## 3 · The CNN regressor
# The architecture of lesson 14, with one batch-normalisation layer and a regression head:
#
# 1. `Conv2D(16, (1, 5))` slides along the SNPs of each haplotype (same weights on every row);
# 2. `AveragePooling2D((24, 1))` averages the 24 haplotypes of A and, separately, of B: the order of
#    haplotypes within a population cannot change the answer;
# 3. `BatchNormalization()` puts the 16 pooled feature maps on one scale (lesson 10). In one trial
#    (seed 2026) it brought the validation loss after 15 epochs from 0.60 down to 0.37: the
#    per-population averages of different filters can differ a lot in scale, and one learning rate
#    cannot suit them all;
# 4. `Conv2D(32, (2, 5))` compares A with B, window by window along the SNPs;
# 5. `GlobalAveragePooling2D` averages along the SNPs; `Dense(32)`; and `Dense(2)` with **no
#    activation** — a regression output must be free to take any value, positive or negative.
#
# Loss: mean squared error on the standardised targets. Early stopping watches the validation loss
# (`mode="min"`, restoring the best weights); the test set is not touched until the end.

# %%
start = time.perf_counter()
per_population = scenario.samples["A"] * 2
cnn = Sequential([Input(images.shape[1:]),
                  Conv2D(16, (1, 5), activation="relu"),
                  AveragePooling2D(pool_size=(per_population, 1)),
                  BatchNormalization(),
                  Conv2D(32, (2, 5), activation="relu"),
                  GlobalAveragePooling2D(),
                  Dense(32, activation="relu"),
                  Dense(len(TARGETS))], seed=settings.seed)
cnn.compile(Adam(2e-3), "mse")
cnn.summary()
cnn_stop = EarlyStopping(monitor="val_loss", mode="min", patience=PATIENCE, restore_best_weights=True)
cnn_history = cnn.fit(images[train], z[train], batch_size=32, epochs=EPOCHS, verbose=0 if settings.quick else 1,
                      validation_data=(images[val], z[val]), callbacks=[cnn_stop])
estimates = {"CNN on images": target_scaler.inverse_transform(cnn.predict(images[test]))}  # back to generations, diploids
timings["CNN"] = time.perf_counter() - start
print(f"CNN: {len(cnn_history.history['loss'])} epochs, best validation loss {min(cnn_history.history['val_loss']):.3f} "
      f"at epoch {cnn_stop.best_epoch + 1} ({timings['CNN']:.0f} s)")

# %% [markdown]
# ## 4 · ABC on summary statistics, same test set
# For every test replicate, its 18 statistics are compared with those of the training + validation
# simulations (scaled by their MAD). **Rejection**: the posterior median of the 5 % closest.
# **Local-linear regression** (Beaumont et al. 2002): the accepted parameters are moved along a
# weighted linear regression of θ on the statistics to where the statistics equal the observed ones —
# with log N_A (`transf="log"`), and enough accepted simulations for 19 coefficients.

# %%
start = time.perf_counter()
tol_ll = min(1.0, max(TOL, 6 * (len(stat_names) + 1) / len(reference)))
rejection, loclinear = [], []
for i in test:
    rejection.append(popsim_abc.abc(stats[i], theta[reference], stats[reference], TOL).median())
    loclinear.append(popsim_abc.abc(stats[i], theta[reference], stats[reference], tol_ll, method="loclinear",
                                    transf=["none", "log"]).median())
estimates["ABC rejection"] = np.array(rejection)
estimates[f"ABC local-linear (tol {tol_ll:.2g})"] = np.array(loclinear)
timings["ABC"] = time.perf_counter() - start
print(f"ABC: {len(test)} test replicates × 2 methods in {timings['ABC']:.0f} s")

# %% [markdown]
# ## 5 · A third estimator: an MLP on the standardised statistics
# Lesson 06's network, here with two linear outputs: the *inputs* go through a `StandardScaler` fitted
# on the training statistics, the *targets* through the same target scaler as the CNN's.

# %%
start = time.perf_counter()
stat_scaler = StandardScaler().fit(stats[train])
mlp = Sequential([Input((len(stat_names),)), Dense(64, activation="relu"), Dense(32, activation="relu"),
                  Dense(len(TARGETS))], seed=settings.seed)
mlp.compile(Adam(1e-3), "mse")
mlp_stop = EarlyStopping(monitor="val_loss", mode="min", patience=10 if settings.quick else 30,
                         restore_best_weights=True)
mlp_history = mlp.fit(stat_scaler.transform(stats[train]), z[train], batch_size=32, epochs=EPOCHS * 10, verbose=0,
                      validation_data=(stat_scaler.transform(stats[val]), z[val]), callbacks=[mlp_stop])
estimates["MLP on statistics"] = target_scaler.inverse_transform(mlp.predict(stat_scaler.transform(stats[test])))
timings["MLP"] = time.perf_counter() - start
print(f"MLP: {len(mlp_history.history['loss'])} epochs ({timings['MLP']:.0f} s)")

# %% [markdown]
# ## 6 · Prediction errors and parity plots
# Each estimate is now in natural units (generations, diploids). We score T_split as it is and N_A on
# the log₁₀ scale, with the prediction error `Σ(θ̂ − θ)² / Σ(θ − θ̄)²` over the test set: 0 is perfect, 1 is
# no better than predicting the mean (`popsim.inference.abc.prediction_error(..., ddof=0)`; its default,
# `ddof=1`, is R's `abc` definition `Σ(θ̂ − θ)² / (n·var(θ))` with `var` over n − 1: the same number times
# (n − 1)/n).

# %%
def scored(values, j):
    """The scale on which parameter j is scored: T_split as is, N_A as log10."""
    return np.log10(values) if TARGETS[j] == "N_A" else values


errors = {name: [float(popsim_abc.prediction_error(scored(est[:, j], j), scored(theta[test, j], j), ddof=0)[0])
                 for j in range(len(TARGETS))]
          for name, est in estimates.items()}
n = len(test)
r_style = popsim_abc.prediction_error(estimates["CNN on images"][:, 0], theta[test, 0])[0]
assert np.isclose(r_style, errors["CNN on images"][0] * (n - 1) / n)

lines = [f"Parameter estimation (lesson 12), scenario flagship_split, seed {settings.seed}, {N_SIMS} simulations, "
         f"{N_SNPS} SNPs; test set of {n}", "",
         "| method | PE T_split | PE log10 N_A | time (s) |", "|---|---|---|---|"]
method_time = {"CNN on images": timings["CNN"], "MLP on statistics": timings["MLP"]}
for name, (pe_t, pe_n) in errors.items():
    seconds = method_time.get(name, timings["ABC"] / 2)
    lines.append(f"| {name} | {pe_t:.3f} | {pe_n:.3f} | {seconds:.0f} |")
report = "\n".join(lines)
print(report)
(settings.output / "results.md").write_text(report + "\n", encoding="utf-8")

# %%
order = ["ABC rejection", f"ABC local-linear (tol {tol_ll:.2g})", "MLP on statistics", "CNN on images"]
fig, axes = plt.subplots(len(TARGETS), len(order), figsize=(4.2 * len(order), 4 * len(TARGETS)), layout="constrained")
for j, target in enumerate(TARGETS):
    truth = theta[test, j]
    lims = [truth.min(), truth.max()]
    for ax, name in zip(axes[j], order):
        ax.scatter(truth, estimates[name][:, j], s=8, alpha=0.6, color="C3" if name.startswith("CNN") else "C0")
        ax.plot(lims, lims, "k", lw=1)
        ax.set(xlabel=f"true {target}", ylabel=f"estimated {target}",
               title=f"{name}\nPE {errors[name][j]:.2f}" + (" (log10 scale)" if target == "N_A" else ""))
        if target == "N_A":
            ax.set(xscale="log", yscale="log")
fig.suptitle(f"Parity plots on the held-out test set ({n} replicates): points on the diagonal are perfect")
savefig(fig, settings, "parity.png")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
for ax, (name, history, stop) in zip(axes, [("CNN", cnn_history, cnn_stop), ("MLP", mlp_history, mlp_stop)]):
    ax.plot(history.history["loss"], label="training")
    ax.plot(history.history["val_loss"], label="validation")
    ax.axvline(stop.best_epoch, color="k", ls=":", label="best epoch (weights kept)")
    ax.set(xlabel="epoch", ylabel="MSE on standardised targets", title=f"{name}: learning curves")
    ax.legend(fontsize=8)
savefig(fig, settings, "learning_curves.png")

# %% [markdown]
# **Reading the results.** A prediction error well below 1 means the method has learned something beyond
# the prior; the parity plot shows *where* it errs. Typical patterns: estimates pulled towards the middle
# of the prior at both ends (the posterior mean of a poorly-informed parameter shrinks towards the prior
# mean), and a funnel that widens for old splits — after many generations of drift, the data say less and
# less about exactly *when* the split happened. The size of one population is harder than the split time:
# only 24 haplotypes of A carry information about N_A, and ancestral diversity (N_ANC) blurs it.
#
# **Images vs statistics.** On this task the statistics are hard to beat: the 18 of them were chosen by
# population geneticists precisely because they carry the information about sizes and split times, and
# they summarise *all* ~350–750 SNPs of a replicate, while the CNN sees `N_SNPS` of them and must learn
# its own summaries from 1,400 examples. Look at the CNN's learning curves: if the validation loss is
# still falling at the last epoch, the network is under-trained; if training and validation losses
# flatten out together, as they do here with 6,450 weights and 128 SNPs, it has extracted what this
# architecture can — more filters, more SNPs or more simulations are the next steps, at a cost in time
# that the statistics do not pay. The CNN's
# strength shows when good statistics are *not* known in advance (lessons 11, 13 and 14), and an image
# can be combined with statistics as a second input.
#
# ## Try this
# - Train the CNN on raw T_split (no scaler): how many epochs until its predictions even reach the right
#   order of magnitude? (Lesson 06 shows the same mistake with an MLP.)
# - Remove the distance channel (`distance_channel=False`). Which parameter suffers, and why?
# - Skip the standardisation of the distance channel, or remove the `BatchNormalization` layer, and
#   compare the learning curves.
# - Replace `StandardScaler(log=[1])` by `StandardScaler()` (no log): does the N_A error change?
# - Add N_B and N_ANC to `TARGETS`. Which of the three sizes is hardest to estimate?
# - Double the filters (`Conv2D(32, …)`, `Conv2D(64, …)`), or use `N_SNPS = 256`: how close does the CNN
#   get to the MLP, and how much longer does it take?
# - Give ABC only the 4 statistics `fst_hudson_A_B`, `dxy_A_B`, `pi_A`, `pi_B`: what happens to its T_split
#   error? (TASKS.md T1 reports an ABC prediction error above 1 with too few statistics.)

# %%
print(f"Lesson 12 done in {settings.elapsed():.0f} s; figures and results.md in {settings.output}")
