# %% [markdown]
# # 01 · Simulating competing scenarios with the coalescent
#
# **Goal.** Turn a demographic hypothesis ("the two populations split and never exchanged migrants",
# "they kept exchanging migrants", "they met again recently") into simulated genetic data we can
# compare, with msprime, through `popsim`. Along the way: priors, the model drawing, genotype matrices
# seen as images, the ms "fixed number of segregating sites" option, and the scaling trick with `k`.
#
# **The idea in plain words.** We cannot rerun history, but we can simulate it. The *coalescent* does it
# backwards in time: take the sampled haplotypes and follow their lineages into the past until they
# all meet in one common ancestor. In a population of `N` diploid individuals (`2N` gene copies) two
# lineages pick the same parent — they *coalesce* — with probability `1/(2N)` per generation, so the
# waiting time is roughly exponential with mean `2N` generations. Mutations fall on the branches of
# this genealogy at rate `μ` per bp per generation. Two haplotypes are separated by `2 × 2N`
# generations of branch on average, so they differ at
#
# $$\mathbb{E}[\pi] = 2 \cdot 2N \cdot \mu = 4N\mu = \theta \quad\text{sites per bp},
# \qquad\text{and likewise}\qquad \rho = 4Nr$$
#
# for recombination. A demographic *scenario* changes the genealogy (a small population coalesces
# fast, isolated populations coalesce only in their ancestor, migration lets lineages hop between
# populations), and the genealogy shapes the data. **msprime** simulates all of this efficiently;
# **popsim** wraps it with named scenarios, priors and seeds (`popsim/sim/scenarios.py`,
# `popsim/sim/simulate.py`). Units are those of msprime: sizes in diploid individuals, times in
# generations ago, rates per bp per generation, samples in diploid individuals (2 haplotypes each).

# %%
import time
from dataclasses import replace

import demes
import matplotlib.pyplot as plt
import msprime
import numpy as np

from lessons._common import savefig, setup, show_file
from popsim.features.images import GenotypeImage
from popsim.features.plot import plot_image
from popsim.features.stats import compute_statistics
from popsim.sim.priors import Fixed
from popsim.sim.scenarios import Scenario, get_scenario
from popsim.sim.simulate import SimulationSettings, simulate

settings = setup("01_simulating_scenarios")
rng = np.random.default_rng(settings.seed)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · The coalescent, checked with msprime
# First msprime on its own. One genealogy of 4 haplotypes (2 diploid individuals) in a population of
# N = 10,000: time runs upwards, in generations.

# %%
N = 10_000
ts = msprime.sim_ancestry(samples=2, population_size=N, sequence_length=1, random_seed=settings.seed)
tree = ts.first()
print(tree.draw_text())
print({node: round(tree.time(node)) for node in tree.nodes()}, "← generations ago of each node")

# %% [markdown]
# Now two claims of the introduction, checked numerically:
# * the time until two lineages coalesce is exponential with mean `2N` generations;
# * the diversity π (mean number of differences between two haplotypes, per bp) averages `θ = 4Nμ`.
#
# For the second we use popsim: the built-in scenario `constant_size` with its prior on `N` replaced by
# a `Fixed` value, simulated as many independent replicates of 10 loci × 10 kb.

# %%
n_pairs = 500 if settings.quick else 5000
pair_times = np.array([t.first().tmrca(0, 1) for t in msprime.sim_ancestry(
    samples=1, population_size=N, sequence_length=1, random_seed=settings.seed + 1, num_replicates=n_pairs)])
print(f"mean coalescence time of 2 lineages: {pair_times.mean():,.0f} generations (theory 2N = {2 * N:,})")

MU = 1e-8
constant = get_scenario("constant_size")
fixed_n = Scenario("constant_N10000", constant.samples, {"N": Fixed(N)}, constant.build)
n_rep = 20 if settings.quick else 200
sim = simulate(fixed_n, n_rep, seed=settings.seed,
               settings=SimulationSettings(sequence_length=10_000, mutation_rate=MU, recombination_rate=1e-8, n_loci=10))
pi_per_bp = np.array([compute_statistics(r.genotypes, 10 * 10_000, statistics=["pi"])["pi"] for r in sim.replicates])
print(f"mean π over {n_rep} replicates: {pi_per_bp.mean():.2e} per bp (theory θ = 4Nμ = {4 * N * MU:.2e})")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].hist(pair_times, bins=40, density=True, color="0.75", label=f"{n_pairs} msprime pairs")
grid = np.linspace(0, pair_times.max(), 200)
axes[0].plot(grid, np.exp(-grid / (2 * N)) / (2 * N), "C3", lw=2, label="exponential, mean 2N")
axes[0].set(xlabel="generations until two lineages coalesce", ylabel="density",
            title=f"Coalescence time of a pair, N = {N:,}")
axes[0].legend(fontsize=8)
axes[1].hist(pi_per_bp, bins=25, color="0.75", label=f"{n_rep} replicates (10 loci × 10 kb)")
axes[1].axvline(4 * N * MU, color="C3", lw=2, label="θ = 4Nμ")
axes[1].axvline(pi_per_bp.mean(), color="k", ls="--", label="mean of replicates")
axes[1].set(xlabel="π per bp", ylabel="replicates", title="Diversity averages θ = 4Nμ")
axes[1].legend(fontsize=8)
fig.tight_layout()
savefig(fig, settings, "coalescent_check.png")

# %% [markdown]
# The spread of π between replicates is large even with 100 kb per replicate: genealogies are random.
# Any method that infers history from data has to see through this noise.
#
# ## 2 · Three competing scenarios and their priors
# Our running example (TASKS.md T2, the flagship): two populations A and B, 12 diploid individuals each
# (48 haplotypes), descending from an ancestor ANC.
#
# * `flagship_split` — split `T_split` generations ago, no gene flow since;
# * `flagship_im` — isolation with migration: symmetric migration at rate `m` since the split;
# * `flagship_sc` — secondary contact: isolated after the split, migration only since `T_contact`.
#
# We do not know the parameters, so each is given a **prior**: a distribution saying which values we
# consider plausible before seeing data. `LogUniform` spreads draws evenly over orders of magnitude (good
# for sizes and rates); a bound may refer to an earlier parameter, which is how the conditional prior
# `T_contact ~ Uniform(0.02·T_split, 0.12·T_split)` keeps the contact after the split.

# %%
scenarios = [get_scenario(name) for name in ("flagship_split", "flagship_im", "flagship_sc")]
for scenario in scenarios:
    print(f"{scenario.name}: {scenario.description}")
    print(f"   samples {scenario.samples} diploid individuals = {scenario.n_haplotypes} haplotypes")
    for name, prior in scenario.priors.items():
        print(f"   {name:9s} ~ {prior}")

draws = {s.name: [s.sample_params(rng) for _ in range(2000)] for s in scenarios}
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
axes[0].hist([d["T_split"] for d in draws["flagship_split"]], bins=30, color="C0")
axes[0].set(xlabel="T_split (generations ago)", ylabel="draws", title="Uniform prior on T_split")
axes[1].hist(np.log10([d["m"] for d in draws["flagship_im"]]), bins=30, color="C1")
axes[1].set(xlabel="log10 m (fraction of migrants per generation)", title="LogUniform prior on m")
sc = draws["flagship_sc"]
axes[2].scatter([d["T_split"] for d in sc], [d["T_contact"] for d in sc], s=3, color="C2")
axes[2].set(xlabel="T_split", ylabel="T_contact", title="Conditional prior: T_contact < 0.12 · T_split")
fig.tight_layout()
savefig(fig, settings, "priors.png")

# %% [markdown]
# ## 3 · Drawing the models (demes)
# Every scenario exports to a **demes** graph (a standard, simulator-independent description of a
# demographic model) and draws with demesdraw. For the drawings and the images below we pin every
# parameter to one illustrative value with `Fixed` priors — the same trick as in section 1.

# %%
SHOWN = {"N_A": 10_000, "N_B": 5_000, "N_ANC": 15_000, "T_split": 12_000, "m": 5e-4, "T_contact": 800}


def pinned(scenario, values=SHOWN):
    """The same model with every prior replaced by a fixed value (one parameter set, no randomness)."""
    priors = {name: Fixed(values[name]) for name in scenario.priors}
    return Scenario(scenario.name, scenario.samples, priors, scenario.build, scenario.description,
                    scenario.defaults)


fixed_scenarios = [pinned(s) for s in scenarios]
for scenario in fixed_scenarios:
    show_file(scenario.draw(settings.figure_path(f"demes_{scenario.name}.png")))
print(demes.dumps(fixed_scenarios[2].to_demes()))

# %% [markdown]
# The YAML above is the whole model: it can be read back by msprime, SLiM, moments or fwdpy11.
#
# ## 4 · Genotype matrices, seen as images
# One replicate per scenario: a single 100 kb locus. msprime/tskit return a **genotype matrix** of shape
# `(sites, haplotypes)`: 0 = ancestral, 1 = derived allele; only segregating sites are kept.
# `popsim.features.images.GenotypeImage` turns it into an image `(haplotypes, SNPs, channels)` — here the 150
# consecutive SNPs around the middle of the locus, haplotypes of A on top and of B below the line.
#
# Read the columns. After a split without gene flow many SNPs are derived in (nearly) all haplotypes of
# one population and absent from the other: mutations that arose on one side after the split. With
# migration, derived alleles cross the line and the two blocks look alike. Sorting rows by similarity
# within each population (bottom row) groups haplotypes that share a recent ancestor, so the blocks
# become easier to see; whether a CNN needs this is a question for lesson 11.

# %%
images = {"rows unsorted": GenotypeImage(n_snps=150, snp_selection="centre", sort_rows="none"),
          "rows sorted by similarity": GenotypeImage(n_snps=150, snp_selection="centre", sort_rows="similarity")}
one_each = simulate(fixed_scenarios, 1, seed=settings.seed,
                    settings=SimulationSettings(sequence_length=100_000, n_loci=1))
populations = fixed_scenarios[0].haplotype_populations()
fig, axes = plt.subplots(2, 3, figsize=(15, 7))
for j, (scenario, replicate) in enumerate(zip(fixed_scenarios, one_each.replicates)):
    for i, (label, transform) in enumerate(images.items()):
        image = transform(replicate.genotypes, replicate.positions, populations, sequence_length=100_000)
        plot_image(image, populations, ax=axes[i, j],
                   title=f"{scenario.name} ({replicate.n_sites} sites) — {label}")
    print(f"{scenario.name:15s} genotype matrix {replicate.genotypes.shape} (sites, haplotypes)")
fig.suptitle("Genotype images: rows = haplotypes (A above the line, B below), columns = SNPs, black = derived")
fig.tight_layout()
savefig(fig, settings, "genotype_images.png")

# %% [markdown]
# ## 5 · A fixed number of segregating sites (ms `-s`)
# With a mutation rate, the number of segregating sites S varies from replicate to replicate — with the
# genealogy and with the parameters (a large population has more). Hudson's `ms` offered another option, `-s S`: put
# **exactly S mutations** on each genealogy, each on a branch chosen with probability proportional to
# its length. Then every replicate has the same number of SNPs (convenient for fixed-size images, and
# no need to know μ), and the information is only in *how* the sites are shared, not in how many there
# are. popsim does this with `segregating_sites=S` (`popsim.sim.simulate.place_segregating_sites`).
# Below: 5 loci per replicate, parameters drawn from the priors, both ways. Here S says little about
# *which* scenario it is (the three share their priors on sizes), whereas Fst between A and B, a ratio
# of diversities, separates them — and keeps doing so when S is fixed; S itself becomes a constant.

# %%
n_each = 15 if settings.quick else 150
five_loci = SimulationSettings(n_loci=5)
by_rate = simulate(scenarios, n_each, settings.seed, five_loci)
fixed_s = simulate(scenarios, n_each, settings.seed, replace(five_loci, segregating_sites=60))


def per_locus_s_and_fst(simulation):
    """Segregating sites of every locus, and Fst (Hudson) of every replicate (all loci together)."""
    s = np.array([r.sites_per_locus for r in simulation.replicates])
    d = np.array([compute_statistics(r.genotypes, populations=populations, statistics=["fst_hudson"])["fst_hudson_A_B"]
                  for r in simulation.replicates])
    return s, d


fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
for mode, simulation in (("mutation rate μ", by_rate), ("exactly 60 sites per locus", fixed_s)):
    s, d = per_locus_s_and_fst(simulation)
    for k, scenario in enumerate(scenarios):
        mine = simulation.labels == k
        if mode.startswith("mutation"):
            axes[0].hist(s[mine].ravel(), bins=30, histtype="step", lw=1.8, label=scenario.name)
        ax = axes[1] if mode.startswith("mutation") else axes[2]
        ax.hist(d[mine], bins=np.linspace(0, 0.8, 33), histtype="step", lw=1.8, label=scenario.name)
    print(f"{mode:28s} S per locus: min {s.min()}, max {s.max()}")
axes[0].set(xlabel="segregating sites per 10 kb locus", ylabel="loci", title="With a mutation rate, S varies")
axes[1].set(xlabel="Fst A–B (Hudson)", ylabel="replicates", title="Fst, mutation rate")
axes[2].set(xlabel="Fst A–B (Hudson)", ylabel="replicates", title="Fst, fixed S = 60 per locus")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
savefig(fig, settings, "segregating_sites.png")

# %% [markdown]
# ## 6 · The scaling trick: divide by k
# Course material often scales a model by a factor `k`: **sizes and times ÷ k, rates × k** (mutation,
# recombination, and migration as a fraction per generation). The quantities the coalescent depends on
# do not change:
#
# $$\theta = 4N\mu = 4\,\frac{N}{k}\,(k\mu), \qquad \rho = 4Nr = 4\,\frac{N}{k}\,(kr), \qquad
#   \frac{T}{2N} = \frac{T/k}{2N/k}, \qquad 4Nm = 4\,\frac{N}{k}\,(km)$$
#
# A result in scaled units is converted back by multiplying times and sizes by `k`.

# %%
REAL = {"N_GN": 750_000, "N_BF": 1_500_000, "N_ANC": 500_000, "T_split": 3_000, "mu": 3.5e-9, "r": 1.45e-8}


def scale(real, k):
    """Scale every real value exactly once: sizes and times ÷ k, per-generation rates × k."""
    return {name: value * k if name in ("mu", "r") else value / k for name, value in real.items()}


print(f"{'k':>4s} {'N_GN':>9s} {'N_BF':>10s} {'T_split':>8s} {'mu':>9s} {'theta_GN=4Nmu':>14s} "
      f"{'theta_BF':>9s} {'rho_GN=4Nr':>11s} {'T/2N_GN':>8s}")
for k in (1, 10, 100):
    p = scale(REAL, k)
    print(f"{k:4d} {p['N_GN']:9,.0f} {p['N_BF']:10,.0f} {p['T_split']:8,.0f} {p['mu']:9.1e} "
          f"{4 * p['N_GN'] * p['mu']:14.4f} {4 * p['N_BF'] * p['mu']:9.4f} {4 * p['N_GN'] * p['r']:11.4f} "
          f"{p['T_split'] / (2 * p['N_GN']):8.4f}")

# %% [markdown]
# **Does it make the simulation cheaper?** That depends on the simulator. We time the two-population
# split above (10 + 10 diploids, one 5 kb locus) for several `k`, with the same seeds:
#
# * msprime's default **coalescent** (Hudson) works in coalescent units internally: the number of
#   events depends only on θ, ρ and T/2N. Scaling changes *nothing* — not even the random draws: the
#   same seed gives the same genealogy with times divided by k, hence the very same genotype matrix.
#   The run time is the same whatever k: for msprime's coalescent the trick buys nothing.
# * A **generation-by-generation** simulation — msprime's discrete-time Wright–Fisher model
#   (`model="dtwf"`), and forward simulators such as SLiM whose cost grows with N × generations — gets
#   much cheaper as k grows. That is where the trick pays off. Its price: with N/k individuals, events
#   that were rare per generation (several coalescences or recombinations at once, `k·m` close to 1)
#   are no longer rare, so k cannot be pushed too far.

# %%
def two_populations(p, n=10, length=5_000, model="hudson", seed=1):
    """The GN/BF split with parameters ``p`` (sizes, T_split, mu, r); a tree sequence with mutations."""
    demography = msprime.Demography()
    demography.add_population(name="GN", initial_size=p["N_GN"])
    demography.add_population(name="BF", initial_size=p["N_BF"])
    demography.add_population(name="ANC", initial_size=p["N_ANC"])
    demography.add_population_split(time=p["T_split"], derived=["GN", "BF"], ancestral="ANC")
    ts = msprime.sim_ancestry({"GN": n, "BF": n}, demography=demography, sequence_length=length,
                              recombination_rate=p["r"], model=model, random_seed=seed)
    return msprime.sim_mutations(ts, rate=p["mu"], random_seed=seed)


def timed(k, model, repeats):
    """Mean seconds and mean segregating sites per replicate at scaling factor k."""
    start = time.perf_counter()
    sites = [two_populations(scale(REAL, k), model=model, seed=s + 1).num_sites for s in range(repeats)]
    return (time.perf_counter() - start) / repeats, float(np.mean(sites))


ks_hudson = (1, 10, 100, 1000)
ks_dtwf = (1000, 3000) if settings.quick else (100, 300, 1000, 3000)  # k = 1 would take hours
hudson = {k: timed(k, "hudson", 2 if settings.quick else 10) for k in ks_hudson}
dtwf = {k: timed(k, "dtwf", 1 if settings.quick else 3) for k in ks_dtwf}
for name, results in (("hudson", hudson), ("dtwf", dtwf)):
    for k, (seconds, sites) in results.items():
        print(f"{name:6s} k = {k:5d}: {seconds:8.4f} s per replicate, {sites:6.1f} segregating sites")
same = np.array_equal(two_populations(scale(REAL, 1)).genotype_matrix(),
                      two_populations(scale(REAL, 100)).genotype_matrix())
print(f"Hudson coalescent, same seed, k = 1 vs k = 100: identical genotype matrices? {same}")

# %% [markdown]
# **A mistake to avoid: N2 = N1·2/k.** In the real Anopheles data BF is twice as large as GN. A public
# notebook wrote the scaled size as `N_BF = N_GN * 2 / k` — but `N_GN` was *already* scaled (75,000),
# so BF was divided by k twice: 15,000 instead of 150,000, and the larger population became five times
# *smaller* than GN. The split is recent (T/2N ≈ 0.002), so diversity within each population comes mostly
# from the ancestor and barely moves; what changes is **differentiation**: drift in the too-small BF
# raises Fst several-fold, and a network trained on such simulations learns the wrong data. The rule:
# write every relation between parameters on the real values, then scale each value exactly once, in
# one place (`scale` above).

# %%
k = 10
right = scale(REAL, k)
wrong = dict(right, N_BF=right["N_GN"] * 2 / k)  # the mistake: N_GN is already divided by k
print(f"right: N_GN = {right['N_GN']:,.0f}, N_BF = {right['N_BF']:,.0f}   "
      f"wrong: N_BF = N_GN·2/k = {wrong['N_BF']:,.0f}")
n_regions = 3 if settings.quick else 20
summaries = {}
for label, p in (("right", right), ("N_BF = N_GN·2/k", wrong)):
    values = []
    for region in range(n_regions):  # independent 20 kb regions, averaged
        ts = two_populations(p, n=20, length=20_000, seed=settings.seed + region)
        gn, bf = ts.samples(population=0), ts.samples(population=1)
        values.append([*ts.diversity([gn, bf]), ts.Fst([gn, bf])])
    summaries[label] = np.mean(values, axis=0)
    print(f"{label:16s} π_GN = {summaries[label][0]:.4f}, π_BF = {summaries[label][1]:.4f} per bp, "
          f"Fst = {summaries[label][2]:.4f}   ({n_regions} regions of 20 kb)")

fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
for name, results, marker in (("coalescent (Hudson)", hudson, "o-"), ("Wright–Fisher (dtwf)", dtwf, "s-")):
    ks = list(results)
    axes[0].loglog(ks, [results[k][0] for k in ks], marker, label=name)
    axes[1].semilogx(ks, [results[k][1] for k in ks], marker, label=name)
axes[0].set(xlabel="scaling factor k", ylabel="seconds per replicate", title="Cost of one simulation")
axes[1].set(xlabel="scaling factor k", ylabel="mean segregating sites",
            title="Data unchanged (θ, ρ, T/2N fixed)", ylim=(0, None))
for ax in axes[:2]:
    ax.legend(fontsize=8)
labels = list(summaries)
axes[2].bar(labels, [summaries[label][2] for label in labels], color=["C0", "C3"])
for i, label in enumerate(labels):
    axes[2].text(i, summaries[label][2], f"π_GN {summaries[label][0]:.4f}\nπ_BF {summaries[label][1]:.4f}",
                 ha="center", va="bottom", fontsize=8)
axes[2].set(ylabel="Fst GN–BF", title="N2 = N1·2/k: BF too small, Fst inflated")
axes[2].margins(y=0.3)
fig.tight_layout()
savefig(fig, settings, "scaling_trick.png")

# %% [markdown]
# ## Try this
# - In section 1, halve N: how do the mean coalescence time and π change? Check against 2N and 4Nμ.
# - Draw `flagship_im` with `m = 5e-3`, then simulate it: how do the sorted images of A and B compare?
# - Change `SHOWN["T_split"]` to 2,000 generations. Can you still tell the split from the contact by eye?
# - In section 5, set `segregating_sites=5`: is Fst still informative with so few sites?
# - In section 6, time `model="dtwf"` at k = 3000 and compare π with 4Nμ. What goes wrong when N/k is
#   close to the sample size?
# - Scale the mosquito model with migration rate 0.01 (real) by k = 10 and check that 4Nm is unchanged.

# %%
print(f"Lesson 01 done in {settings.elapsed():.1f} s; figures in {settings.output}")
