# %% [markdown]
# # 02 · Summary statistics and approximate Bayesian computation (ABC)
#
# **Goal.** Decide between competing scenarios and estimate their parameters from genetic data with
# ABC — the method that deep learning on summary statistics (lesson 06) and on genotype images
# (lessons 11–14) will be compared with — and understand exactly where its answer is approximate.
#
# **The idea in plain words.** Bayes' rule gives the posterior of parameters θ given data D:
#
# $$p(\theta \mid D) \;\propto\; p(D \mid \theta)\, \pi(\theta)$$
#
# The likelihood `p(D | θ)` of a genotype matrix under a demographic model cannot be written down, but
# we can *simulate* D for any θ (lesson 01). ABC replaces the likelihood by a comparison: draw θ from
# the prior π, simulate data, summarise them by statistics S(·), and keep θ when the simulated
# statistics land close to the observed ones:
#
# $$p(\theta \mid D) \;\approx\; p\big(\theta \;\big|\; \lVert S(D_\text{sim}) - S(D_\text{obs}) \rVert \le \varepsilon\big)$$
#
# **The five steps.**
# 1. Choose the competing models and the priors on their parameters.
# 2. Simulate many data sets with parameters drawn from the priors: the *reference table*.
# 3. Summarise every simulated data set — and the observed one — by the same statistics.
# 4. Measure the distance between each simulation's statistics and the observed ones and keep the closest
#    fraction `tol` (the *tolerance*): rejection.
# 5. The kept parameters are a sample of the posterior; the share of kept simulations from each model
#    estimates its posterior probability. Then check how reliable this is by cross-validation.
#
# **Three approximations** make the result differ from the true posterior: the statistics are not
# *sufficient* (they lose information), the tolerance is not 0 (accepted simulations are only *near*
# the data), and the number of simulations is finite. Section 6 shows each one.
#
# The code is `popsim/features/stats.py` (statistics with tskit's definitions) and `popsim/inference/abc.py` (the same
# semantics as R's `abc` package).

# %%
import numpy as np
import matplotlib.pyplot as plt

from lessons._common import savefig, setup, show_file
from popsim.features.stats import compute_statistics
from popsim.inference.abc import abc, cv4abc, cv4postpr, postpr
from popsim.inference.plots import plot_confusion_matrix, plot_prior_posterior
from popsim.sim.dataset import simulate_dataset
from popsim.sim.priors import Fixed
from popsim.sim.scenarios import Scenario, get_scenario
from popsim.sim.simulate import SimulationSettings, available_workers, simulate

settings = setup("02_statistics_and_abc")
np.set_printoptions(precision=3, suppress=True)
N_PER_SCENARIO = 40 if settings.quick else 700
N_LOCI = 3 if settings.quick else 10
NVAL = 8 if settings.quick else 100  # pseudo-observed data sets per model in cross-validation
TOL = 0.05

# %% [markdown]
# ## 1 · Steps 1–3: models, priors, reference table
# Step 1: the three flagship scenarios of lesson 01 — split, isolation with migration (IM), secondary
# contact (SC) — with their priors. Step 2: simulate each one `N_PER_SCENARIO` times, every replicate
# made of 10 independent 10 kb loci. `simulate_dataset` writes the replicates to a folder in chunks;
# running the lesson again reads them back instead of simulating (and an interrupted run resumes).
#
# Step 3: the statistics, computed on all loci of a replicate together (`popsim.features.stats`, per bp where it
# makes sense): S, π, θ_W, Tajima's D, θ_H and Fay & Wu's H over both populations; S, π, θ_W and
# Tajima's D within A and within B; and between them dxy, net divergence da and two versions of Fst.
# Within-population statistics speak about sizes and drift; between-population ones about the split
# and gene flow.

# %%
scenarios = [get_scenario(name) for name in ("flagship_split", "flagship_im", "flagship_sc")]
MODELS = ["split", "IM", "SC"]
KEYS = ("S", "pi", "theta_w", "tajimas_d", "theta_h", "fay_wu_h", "S_pop", "pi_pop", "theta_w_pop",
        "tajimas_d_pop", "dxy", "da", "fst_hudson", "fst_tskit")


def statistics_of(genotypes, populations, length_bp):
    """The summary statistics of one replicate: a {name: value} dict (per bp where length matters)."""
    return compute_statistics(genotypes, length_bp, populations, KEYS)


def reference_table(folder, n, seed, n_loci):
    """Simulate (or reload) the reference table: statistic names, values (n, k), labels, parameters."""
    dataset = simulate_dataset(folder, scenarios, n, seed,
                               settings=SimulationSettings(keep_genotypes=True, n_loci=n_loci), chunk_size=300,
                               workers=min(2, available_workers()) if n > 100 else 1)
    cache = folder / "statistics.npz"
    if not cache.exists():
        rows = [statistics_of(r.genotypes, r.populations, r.sequence_length * r.n_loci)
                for r in dataset.iter_replicates()]
        names = list(rows[0])
        np.savez(cache, names=names, values=[[row[k] for k in names] for row in rows])
    with np.load(cache) as saved:
        return list(saved["names"]), saved["values"], dataset.labels, dataset.params, dataset.parameter_names


folder = settings.output / f"reference_{N_PER_SCENARIO}x{N_LOCI}loci"
stat_names, stats, labels, params, param_names = reference_table(folder, N_PER_SCENARIO, settings.seed, N_LOCI)
print(f"reference table: {stats.shape[0]} simulations × {stats.shape[1]} statistics; "
      f"parameters {param_names} (NaN where a model lacks one)")
print("first rows (model, T_split, Fst Hudson, dxy, π_A):")
for i in range(4):
    print(f"  {MODELS[labels[i]]:6s} {params[i, param_names.index('T_split')]:8.0f} "
          f"{stats[i, stat_names.index('fst_hudson_A_B')]:7.3f} {stats[i, stat_names.index('dxy_A_B')]:.2e} "
          f"{stats[i, stat_names.index('pi_A')]:.2e}")

fig, axes = plt.subplots(1, 4, figsize=(17, 3.5))
for ax, name in zip(axes, ("fst_hudson_A_B", "dxy_A_B", "tajimas_d_A", "pi_A")):
    column = stats[:, stat_names.index(name)]
    bins = np.histogram_bin_edges(column, bins=30)
    for k, model in enumerate(MODELS):
        ax.hist(column[labels == k], bins=bins, histtype="step", lw=1.8, label=model)
    ax.set(xlabel=name, ylabel="simulations")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.legend(fontsize=8)
fig.suptitle("Step 3: statistics under each scenario (parameters drawn from the priors)")
fig.tight_layout()
savefig(fig, settings, "statistics_by_scenario.png")

# %% [markdown]
# Fst sets IM apart (continuous gene flow keeps Fst low) from split (high Fst). Secondary contact sits in
# between and overlaps both: with few migrants since the contact it still looks like a split, with many
# it looks like IM. Within-population statistics such as Tajima's D or π differ little between models.
# Every statistic overlaps between models — no single one decides; ABC combines them.
#
# ## 2 · Step 4: distance and rejection
# The "observed" data here are a simulation we keep apart, under IM with known parameters, so we can
# check the answer. Statistics live on very different scales (π ~ 10⁻³, Tajima's D ~ 1), so each is
# divided by its median absolute deviation (MAD) over the reference table before the Euclidean distance
#
# $$d_i = \sqrt{\textstyle\sum_j \big(s_{ij}/\text{MAD}_j - s^\text{obs}_j/\text{MAD}_j\big)^2}$$
#
# is computed; the `⌈n·tol⌉` simulations with the smallest `d` are accepted.

# %%
TRUE = {"N_A": 12_000, "N_B": 7_000, "N_ANC": 10_000, "T_split": 9_000, "m": 2e-4}
im = scenarios[1]
observed_model = Scenario("observed_im", im.samples, {k: Fixed(v) for k, v in TRUE.items()}, im.build,
                          im.description, im.defaults)
observed_sim = simulate(observed_model, 1, seed=settings.seed + 12345, settings=SimulationSettings(n_loci=N_LOCI))
replicate = observed_sim.replicates[0]
observed = statistics_of(replicate.genotypes, im.haplotype_populations(), 10_000 * N_LOCI)
target = np.array([observed[name] for name in stat_names])
print(f"observed data: {replicate.n_sites} segregating sites; true model IM with {TRUE}")

choice = postpr(target, labels, stats, TOL, method="mnlogistic")
accepted = choice.accepted
print(f"tol = {TOL}: {len(accepted)} of {len(stats)} simulations accepted, distance threshold "
      f"{choice.threshold:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].hist(choice.dist, bins=50, color="0.7")
axes[0].axvline(choice.threshold, color="C3", lw=2, label=f"threshold: closest {TOL:.0%} accepted")
axes[0].set(xlabel="distance to the observed statistics (MAD-scaled)", ylabel="simulations",
            title="Step 4: distances")
axes[0].legend(fontsize=8)
x_name, y_name = "fst_hudson_A_B", "tajimas_d_A"
xs, ys = stats[:, stat_names.index(x_name)], stats[:, stat_names.index(y_name)]
axes[1].scatter(xs, ys, s=4, color="0.8", label="all simulations")
for k, model in enumerate(MODELS):
    mine = accepted[labels[accepted] == k]
    axes[1].scatter(xs[mine], ys[mine], s=14, color=f"C{k}", label=f"accepted: {model} ({len(mine)})")
axes[1].scatter(observed[x_name], observed[y_name], marker="*", s=250, color="k", label="observed")
axes[1].set(xlabel=x_name, ylabel=y_name, title="Accepted simulations, seen in two of the statistics")
axes[1].legend(fontsize=7)
fig.tight_layout()
savefig(fig, settings, "rejection.png")

# %% [markdown]
# Accepted points are close to the observed star in *all* statistics at once, so in any two of them
# they form a cloud around it, not a tight ball.
#
# ## 3 · Step 5a: model choice
# The share of accepted simulations from each model estimates its posterior probability (corrected for
# unequal numbers of simulations per model). `method="mnlogistic"` refines it with a multinomial logistic
# regression of the model on the accepted statistics (Beaumont 2008), as R's `postpr` does.

# %%
for model, p_rej, p_mn in zip(MODELS, choice.probs_rejection, choice.probs):
    print(f"P({model:5s} | data) ≈ {p_rej:.2f} (rejection)   {p_mn:.2f} (mnlogistic)")
p_im, p_split = choice.probs_rejection[1], choice.probs_rejection[0]
print("Bayes factor IM vs split (rejection): " + (f"{p_im / p_split:.1f}" if p_split > 0 else
                                      "infinite (no accepted simulation came from split)"))

# %% [markdown]
# ## 4 · Step 5b: parameters — posterior vs prior
# To estimate parameters we work within one model: the IM simulations only, and their parameters
# T_split and m. The prior is the grey histogram (all IM simulations); the posterior is what rejection
# keeps (with a larger tolerance `TOL_PARAM`, because the regression below needs many accepted points),
# and local-linear regression (Beaumont et al. 2002) moves each accepted value along a regression
# on the statistics to where its statistics would equal the observed ones. Where the posterior is much
# narrower than the prior, the data are informative about that parameter. Look at T_split: the
# rejection posterior hardly differs from the prior — the distance weighs all 18 statistics equally,
# and most say little about the split time once migration blurs it — while the regression, which learns
# *which* statistics move with T_split, concentrates the posterior (in full mode, near the true value).

# %%
in_im = labels == 1
theta_im = params[in_im][:, [param_names.index("T_split"), param_names.index("m")]]
# The regression has 1 + 18 coefficients: it needs many more accepted points than that (~6 per coefficient).
TOL_PARAM = float(f"{min(1.0, max(TOL, 6 * (len(stat_names) + 1) / in_im.sum())):.2g}")
posterior = abc(target, theta_im, stats[in_im], TOL_PARAM, method="loclinear", transf=["none", "log"],
                param_names=["T_split", "m"])
plot_prior_posterior(posterior, theta_im, settings.figure_path("posterior_vs_prior.png"),
                     true=[TRUE["T_split"], TRUE["m"]])
show_file(settings.figure_path("posterior_vs_prior.png"))
low, high = posterior.interval(0.95)
for j, name in enumerate(["T_split", "m"]):
    print(f"{name:8s} true {TRUE[name]:.3g}   posterior median {posterior.median()[j]:.3g}   "
          f"95 % interval [{low[j]:.3g}, {high[j]:.3g}]   prior range "
          f"[{theta_im[:, j].min():.3g}, {theta_im[:, j].max():.3g}]")

# %% [markdown]
# ## 5 · How good is ABC here? Cross-validation
# One observed data set tells us little about the method. Cross-validation asks: if the data came from
# model X, how often would ABC pick X? Each of `NVAL` simulations per model in turn plays the observed
# data; ABC runs on all *other* simulations (`cv4postpr`). Rows of the confusion matrix are the true
# models, columns the models chosen.

# %%
cv = cv4postpr(labels, stats, NVAL, TOL, seed=settings.seed)
cv.models = MODELS  # labels 0, 1, 2 shown by name
plot_confusion_matrix(cv, settings.figure_path("confusion_matrix.png"),
                      title=f"ABC rejection, tol {TOL}: accuracy {cv.accuracy:.1%} (seed {settings.seed})")
show_file(settings.figure_path("confusion_matrix.png"))
print(f"cross-validated accuracy {cv.accuracy:.3f} over {cv.confusion.sum()} pseudo-observed data sets")
print(cv.confusion)

# %% [markdown]
# ## 6 · The three approximations of ABC, one at a time
# **(a) Insufficient statistics.** A statistic is *sufficient* if it keeps all the information the data
# hold about the question; then ABC with ε → 0 gives the exact posterior. Ours are not sufficient, and
# the less they keep, the worse ABC does. Compare the cross-validated accuracy with only the two
# statistics of the whole sample, S and π (blind to population structure), with the within-population
# ones, and with everything.
#
# **(b) Tolerance ε > 0.** With tol = 1 everything is accepted and the "posterior" is the prior (1/3 for
# each model); as tol shrinks, accepted simulations get closer to the data and the posterior moves away
# from the prior — but fewer are kept, so it gets noisier.
#
# **(c) A finite number of simulations.** Keeping the same number of accepted simulations (30), a
# bigger reference table lets them be closer to the data (smaller threshold distance), so the
# approximation improves — at the cost of simulation time. Below: subsets of the reference table.

# %%
subsets = {"S, π (whole sample)": ["S", "pi"],
           "within A and B": [n for n in stat_names if n.endswith(("_A", "_B"))],
           f"all {len(stat_names)} statistics": stat_names}
accuracy_by_set = {}
for label, names in subsets.items():
    columns = [stat_names.index(n) for n in names]
    accuracy_by_set[label] = cv4postpr(labels, stats[:, columns], NVAL, TOL, seed=settings.seed).accuracy
    print(f"(a) {label:26s} accuracy {accuracy_by_set[label]:.3f}")

# (tol = 1 is left out here: every simulation is accepted, all models get the same probability, and the
# choice is a tie — chance level.)
tols = [0.5, 0.2, 0.1, 0.05, 0.02] if settings.quick else [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005]
accuracy_by_tol = {}
for tol in tols:
    accuracy_by_tol[tol] = cv4postpr(labels, stats, NVAL, tol, seed=settings.seed).accuracy
    print(f"(b) tol {tol:5.3f} ({int(np.ceil(tol * len(stats))):5d} accepted) accuracy {accuracy_by_tol[tol]:.3f}")
tols_shown = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01] if not settings.quick else [1.0, 0.5, 0.2, 0.1, 0.05]
model_probs_by_tol = np.array([postpr(target, labels, stats, tol).probs for tol in tols_shown])

rng = np.random.default_rng(settings.seed)
KEEP = 6 if settings.quick else 30
sizes = [n for n in (30, 60, 120) if n <= len(stats)] if settings.quick else [150, 300, 600, 1200, len(stats)]
by_size = {}
for n_sim in sizes:
    accs, thresholds = [], []
    for repeat in range(3):  # three random subsets of the reference table, same rounds kept balanced
        rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == k), n_sim // 3, replace=False)
                                       for k in range(3)]))
        result = cv4postpr(labels[rows], stats[rows], min(NVAL, n_sim // 6), KEEP / len(rows), seed=repeat)
        accs.append(result.accuracy)
        thresholds.append(postpr(target, labels[rows], stats[rows], KEEP / len(rows)).threshold)
    by_size[n_sim] = (np.mean(accs), np.mean(thresholds))
    print(f"(c) {n_sim:5d} simulations, {KEEP} accepted: accuracy {by_size[n_sim][0]:.3f}, "
          f"threshold distance to the observed data {by_size[n_sim][1]:.2f}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(20, 4))
axes[0].barh(list(accuracy_by_set), list(accuracy_by_set.values()), color=["C7", "C1", "C0"])
axes[0].axvline(1 / 3, color="k", ls=":", label="chance (1/3)")
axes[0].set(xlabel=f"cross-validated accuracy (tol {TOL})", xlim=(0, 1), title="(a) Statistics lose information")
axes[0].legend(fontsize=8)
for k, model in enumerate(MODELS):
    axes[1].semilogx(tols_shown, model_probs_by_tol[:, k], "o-", color=f"C{k}", label=f"P({model} | data)")
axes[1].axhline(1 / 3, color="k", ls=":", label="prior (1/3 each)")
axes[1].set_xticks(tols_shown, [f"{t:g}" for t in tols_shown])
axes[1].minorticks_off()
axes[1].set(xlabel="tolerance (fraction accepted)", ylabel="posterior probability", ylim=(0, 1),
            title="(b) Tolerance: observed data (true model IM)")
axes[1].legend(fontsize=7)
axes[2].semilogx(list(accuracy_by_tol), list(accuracy_by_tol.values()), "o-")
axes[2].axhline(1 / 3, color="k", ls=":")
axes[2].set_xticks(list(accuracy_by_tol), [f"{t:g}" for t in accuracy_by_tol])
axes[2].minorticks_off()
axes[2].set(xlabel="tolerance (fraction accepted)", ylabel="cross-validated accuracy", ylim=(0, 1),
            title="(b) Tolerance: accuracy")
axes[3].plot(list(by_size), [v[0] for v in by_size.values()], "o-", label="accuracy")
axes[3].set(xlabel="simulations in the reference table", ylabel="cross-validated accuracy", ylim=(0, 1),
            title=f"(c) Finite simulations, {KEEP} accepted")
twin = axes[3].twinx()
twin.plot(list(by_size), [v[1] for v in by_size.values()], "s--", color="C3", label="threshold distance")
twin.set_ylabel("threshold distance to the observed data", color="C3")
axes[3].legend(loc="lower left", fontsize=8)
twin.legend(loc="lower right", fontsize=8)
fig.tight_layout()
savefig(fig, settings, "three_approximations.png")

# %% [markdown]
# ## 7 · Parameter estimation, cross-validated
# How well does ABC estimate T_split? `cv4abc` uses `NVAL` IM simulations in turn as observed data and
# reports R's prediction error `Σ(θ̂ − θ)² / (n·var(θ))`: 0 is perfect, 1 is no better than guessing
# the mean of the prior. Lesson 06 compares this with a neural network on the same statistics.

# %%
cv_t = cv4abc(theta_im[:, 0], stats[in_im], NVAL, TOL if not settings.quick else 0.2, seed=settings.seed,
              param_names=["T_split"])
print(f"T_split (IM), rejection tol {cv_t.tol}: prediction error {cv_t.prediction_error[0]:.3f}")
fig, ax = plt.subplots(figsize=(4.5, 4))
ax.scatter(cv_t.true[:, 0], cv_t.estimated[:, 0], s=12)
lims = [theta_im[:, 0].min(), theta_im[:, 0].max()]
ax.plot(lims, lims, "k", lw=1)
ax.set(xlabel="true T_split", ylabel="posterior median", title=f"prediction error {cv_t.prediction_error[0]:.2f}")
savefig(fig, settings, "t_split_cross_validation.png")

# %% [markdown]
# ## Try this
# - Set `TOL = 0.01`, then `0.2`. Which models does ABC confuse, and does the confusion matrix change?
# - Remove `"fst_hudson"` and `"fst_tskit"` from `KEYS` (and delete the cached `statistics.npz`). Which
#   models does ABC confuse now?
# - Make the observed data come from `flagship_sc` instead of IM. How sure is ABC?
# - Run `posterior_vs_prior` with `method="rejection"`: how different is the local-linear posterior?
# - Halve `N_PER_SCENARIO` (a new cached folder is simulated): which of the three approximations
#   gets worse?

# %%
print(f"Lesson 02 done in {settings.elapsed():.1f} s; figures in {settings.output}")
