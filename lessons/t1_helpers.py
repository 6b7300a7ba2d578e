"""Plumbing of lesson 13 (TASKS.md T1, the mosquito task): simulations and their cache, the inputs built
from the raw genotypes, scoring, figures and result tables.

The lesson keeps what a learner should read — the methods (ABC, the dense network, the CNNs, the T_split
regressions) and the networks being compared; this module holds what it runs them *on* and how their
results are stored and shown, so that the two readings of T1 go through the same code::

    from lessons.t1_helpers import load_reading, score_classification, ...

Everything a method produces is stored in ``reading.results[method]``: ``accuracy``, ``confusion``,
``seconds`` and ``history`` for a classifier; ``pe``, ``estimate``, ``history`` and ``seconds`` for a
T_split regression (its method name starts with ``"T_split: "``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lessons._common import savefig
from minidl import ExchangeablePooling
from minidl.metrics import confusion_matrix
from popsim.inference import abc as popsim_abc
from popsim.sim.dataset import simulate_dataset
from popsim.sim.simulate import SimulationSettings, SummaryStatistics

MODELS = ["isolation", "IM"]  # label 0, 1: the order of the two scenarios of a reading
POPULATIONS = ("GN", "BF")


# --- simulations ------------------------------------------------------------------------------------

def simulate_reading(settings, stem, scenarios, n_train, n_test, sequence_length, workers, **options):
    """The training (master seed) and test (seed + 1) datasets of one reading, simulated — or resumed, or
    read — in the output folder ``<stem>_<part>_<n>x2_seed<seed>`` (``quick_`` in front in quick mode).

    Every replicate keeps its raw genotypes and the 8 T1 statistics. ``options`` are further
    ``SimulationSettings`` fields, e.g. ``discrete_genome=True, mutation_model="jc69"`` for msprime's
    default mutation model. This is the one place the lesson calls ``simulate_dataset``.
    """
    simulation = SimulationSettings(sequence_length=sequence_length, keep_genotypes=True,
                                    statistics=SummaryStatistics("t1"), **options)
    parts = {}
    for part, n, seed in (("train", n_train, settings.seed), ("test", n_test, settings.seed + 1)):
        prefix = "quick_" if settings.quick else ""
        folder = settings.output / f"{prefix}{stem}_{part}_{n}x2_seed{seed}"
        parts[part] = simulate_dataset(folder, scenarios, n, seed, simulation, chunk_size=100, workers=workers,
                                       progress=not settings.quick)
    return parts["train"], parts["test"]


class Reading:
    """One reading of T1: its datasets, statistics, labels, split times, train/validation split, and the
    results of every method run on it (``results``); ``inputs``, ``shared`` and ``shared_test`` are
    filled in by :func:`attach_inputs`."""

    def __init__(self, name, title, scenarios, stem, train, test):
        self.name, self.title, self.scenarios, self.stem = name, title, scenarios, stem
        self.train, self.test = train, test
        self.stat_names = train.statistic_names
        self.stats, self.stats_test = train.statistics, test.statistics   # (n, 8) per bp
        self.y, self.y_test = train.labels, test.labels                   # 0 isolation, 1 IM
        column = train.parameter_names.index("T_split")
        self.t_split, self.t_split_test = train.params[:, column], test.params[:, column]
        # Networks: fit on the first 80 % of the training simulations, stop early on the last 20 %.
        self.fit, self.val = train.split((0.8, 0.2))
        self.sites = np.array([len(r.positions) for r in test.iter_replicates()])
        self.results = {}
        self.inputs, self.shared, self.shared_test = None, None, None

    def stat(self, name, test=False):
        """One statistic (a column of the statistics table) of the training or the test simulations."""
        return (self.stats_test if test else self.stats)[:, self.stat_names.index(name)]


def load_reading(settings, name, title, scenarios, stem, n_train, n_test, sequence_length, workers, **options):
    """Simulate (or read from the cache) one reading and wrap it in a :class:`Reading`."""
    train, test = simulate_reading(settings, stem, scenarios, n_train, n_test, sequence_length, workers, **options)
    return Reading(name, title, scenarios, stem, train, test)


# --- scoring ----------------------------------------------------------------------------------------

def score_classification(r, method, predicted, seconds, history=None):
    """Score ``predicted`` labels of ``r``'s test set and store them under ``r.results[method]``."""
    r.results[method] = {"accuracy": float(np.mean(predicted == r.y_test)),
                         "confusion": confusion_matrix(r.y_test, predicted, n_classes=2),
                         "seconds": seconds, "history": history}


def prediction_error(estimate, true):
    """Σ(θ̂ − θ)² / Σ(θ − θ̄)²: 0 is perfect, 1 is no better than the mean (R's definition is this times
    (n − 1)/n)."""
    return float(popsim_abc.prediction_error(estimate, true, ddof=0)[0])


def score_t_split(r, estimates, histories, seconds):
    """Prediction error of each T_split estimate of ``r``'s test set, on all of it and per model; stored as
    ``r.results["T_split: <method>"]`` and printed."""
    for name, estimate in estimates.items():
        pe = {"all": prediction_error(estimate, r.t_split_test)}
        for k, model in enumerate(MODELS):
            mine = r.y_test == k
            pe[model] = prediction_error(estimate[mine], r.t_split_test[mine])
        r.results[f"T_split: {name}"] = {"pe": pe, "estimate": estimate, "history": histories.get(name),
                                         "seconds": seconds[name]}
        print(f"{r.name}: T_split {name:38s} PE all {pe['all']:.3f}, isolation {pe['isolation']:.3f}, "
              f"IM {pe['IM']:.3f}")


# --- inputs built from the raw genotypes ------------------------------------------------------------

def population_counts(image, populations):
    """(haplotypes, SNPs, 1) int8 0/1 image → (2, SNPs) float32: derived-allele count of GN and of BF,
    by an exchangeable sum-pooling over the haplotypes of each population — one
    ``ExchangeablePooling("sum", groups=(n_GN, n_BF))`` layer, e.g. ``groups=(82, 198)``."""
    rows = np.asarray(populations)
    order = np.concatenate([np.flatnonzero(rows == p) for p in POPULATIONS])   # GN rows, then BF rows
    groups = tuple(int(np.sum(rows == p)) for p in POPULATIONS)
    return ExchangeablePooling("sum", groups=groups).forward(image[None, order].astype(np.float32))[0, :, :, 0]


def shared_doubletons(genotypes, populations):
    """Share of the doubletons (derived allele carried by 2 of the 280 haplotypes) carried once in GN and
    once in BF — the 9th statistic of the lesson's section on what CNN D saw."""
    rows = np.asarray(populations)
    gn, bf = genotypes[:, rows == "GN"].sum(axis=1), genotypes[:, rows == "BF"].sum(axis=1)
    doubleton = gn + bf == 2
    return float(np.mean((gn[doubleton] == 1) & (bf[doubleton] == 1))) if doubleton.any() else 0.0


def build_inputs(dataset, transforms, pooled, n_even):
    """Every input variant (one per ``transforms`` entry; those named in ``pooled`` reduced to population
    counts) of every replicate of ``dataset``, and the share of shared doubletons; cached in
    ``inputs_<n_even>.npz`` next to the dataset."""
    path = dataset.path / f"inputs_{n_even}.npz"
    if path.exists():
        with np.load(path) as z:
            out = {name: (z[f"{name}/genotypes"], z[f"{name}/distance"]) for name in transforms}
            return out, z["shared_doubletons"]
    out, shared = {name: ([], []) for name in transforms}, []
    for record in dataset.iter_replicates():
        for name, transform in transforms.items():
            image, distance = transform.encode(record.genotypes, record.positions, record.populations,
                                               record.sequence_length)
            if name in pooled:
                image = population_counts(image, record.populations)
            out[name][0].append(image)
            out[name][1].append(distance)
        shared.append(shared_doubletons(record.genotypes, record.populations))
    out = {name: (np.stack(g), np.stack(d)) for name, (g, d) in out.items()}
    np.savez(path, shared_doubletons=np.array(shared), **{
        f"{name}/{kind}": array for name, arrays in out.items()
        for kind, array in zip(("genotypes", "distance"), arrays)})
    return out, np.array(shared)


def attach_inputs(r, transforms, pooled, n_even):
    """Build (or read) the inputs of ``r``'s training and test sets into ``r.inputs``, ``r.shared`` and
    ``r.shared_test``."""
    (train_inputs, r.shared), (test_inputs, r.shared_test) = (build_inputs(r.train, transforms, pooled, n_even),
                                                              build_inputs(r.test, transforms, pooled, n_even))
    r.inputs = {"train": train_inputs, "test": test_inputs}


def network_input(r, name, transforms, pooled):
    """Float32 (train, test) inputs of one variant: the published image as published (±1 genotypes, raw
    log(1 + distance)); the pooled ones as (SNPs, 3) sequences of log(1 + count) in GN and in BF and
    log(1 + distance), standardised per channel with the training simulations' mean and std."""
    (g_train, d_train), (g_test, d_test) = r.inputs["train"][name], r.inputs["test"][name]
    if name not in pooled:
        transform = transforms[name]
        return transform.assemble(g_train, d_train), transform.assemble(g_test, d_test)
    x_train, x_test = (np.concatenate([np.log1p(g.transpose(0, 2, 1)), d[:, :, None]], axis=-1).astype(np.float32)
                       for g, d in ((g_train, d_train), (g_test, d_test)))
    mean, std = x_train[r.fit].mean(axis=(0, 1)), x_train[r.fit].std(axis=(0, 1))   # per channel, training only
    return (x_train - mean) / std, (x_test - mean) / std


# --- figures ----------------------------------------------------------------------------------------

def plot_by_model(ax, r, values, fmt):
    """Histograms of ``values`` (one per training simulation of ``r``) per model, mean ± std in the legend."""
    bins = np.linspace(values.min(), values.max(), 50)
    for k, model in enumerate(MODELS):
        mine = values[r.y == k]
        ax.hist(mine, bins=bins, alpha=0.6, color=f"C{k}", label=f"{model}: {mine.mean():{fmt}} ± {mine.std():{fmt}}")


def plot_fst_distributions(readings, settings):
    """``fst_distributions.png``: Fst of the training simulations per model and the best cut, one panel per
    reading (the "Fst threshold" result must be stored)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
    for ax, r in zip(axes, readings.values()):
        threshold = r.results["Fst threshold"]
        plot_by_model(ax, r, r.stat("fst_tskit_GN_BF"), ".5f")
        ax.axvline(threshold["cut"], color="k", ls=":", label=f"best cut: {threshold['train_accuracy']:.1%} "
                   f"(training), {threshold['accuracy']:.1%} (test)")
        ax.set(xlabel="Fst (tskit) between GN and BF", ylabel="training simulations",
               title=f"{r.title}: {r.scenarios[0]} vs {r.scenarios[1]}")
        ax.legend(fontsize=8)
    savefig(fig, settings, "fst_distributions.png")


def plot_inputs(settings, record, published, counts, n_even):
    """``inputs.png``: one replicate as the published image, as the designed input (population counts),
    and the joint frequency spectrum of its rare variants."""
    fig = plt.figure(figsize=(14, 8), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    ax = fig.add_subplot(grid[0, :])
    span = record.positions[min(249, len(record.positions) - 1)] - record.positions[0]
    ax.imshow(published[:, :, 0], aspect="auto", cmap="coolwarm", interpolation="nearest")
    ax.axhline(81.5, color="k", lw=1)
    ax.set(title=f"published image ({record.scenario}): first 250 SNPs = {span / 1000:.1f} kb of "
           f"{record.sequence_length / 1000:.0f} kb; rows = 82 GN + 198 BF haplotypes in arbitrary order "
           "(red = minor allele)",
           xlabel="SNP", ylabel="haplotype")
    ax = fig.add_subplot(grid[1, :2])
    shown = np.arange(min(250, counts.shape[1]))
    ax.vlines(shown, 0, np.log1p(counts[0, shown]), color="C0", lw=1, label="GN: log(1 + derived count), of 82")
    ax.vlines(shown, 0, -np.log1p(counts[1, shown]), color="C1", lw=1, label="BF: −log(1 + derived count), of 198")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(title=f"designed input, the same first 250 SNPs (it continues over all {min(n_even, len(record.positions))} "
           "SNPs of the region): one value per population and SNP", xlabel="SNP", ylabel="log(1 + count)")
    ax.legend(fontsize=8, loc="lower right")
    ax = fig.add_subplot(grid[1, 2])
    real = counts.sum(axis=0) > 0
    joint = np.zeros((83, 199))
    np.add.at(joint, (counts[0, real].astype(int), counts[1, real].astype(int)), 1)
    ax.imshow(np.log10(1 + joint[:12, :25]), origin="lower", cmap="viridis", aspect="auto")
    ax.set(title="joint spectrum of the rare variants\n(colour: log10 number of SNPs)", xlabel="derived count in BF",
           ylabel="derived count in GN")
    savefig(fig, settings, "inputs.png")


def plot_reading(r, settings):
    """Confusion matrices, learning curves and the T_split parity plot of one reading
    (``<stem>_confusion.png``, ``<stem>_learning_curves.png``, ``<stem>_t_split_parity.png``)."""
    res = r.results
    classifiers = [m for m in res if "confusion" in res[m]]
    n_rows = -(-len(classifiers) // 5)
    fig, axes = plt.subplots(n_rows, 5, figsize=(20, 4 * n_rows), layout="constrained", squeeze=False)
    for ax, method in zip(axes.flat, classifiers):
        cm = res[method]["confusion"]
        ax.imshow(cm / cm.sum(axis=1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=12)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=MODELS, yticklabels=MODELS, xlabel="predicted",
               ylabel="true", title=f"{method}\naccuracy {res[method]['accuracy']:.1%}")
        ax.title.set_fontsize(8)
    for ax in axes.flat[len(classifiers):]:
        ax.axis("off")
    fig.suptitle(f"{r.title}: confusion matrices (test set of {len(r.y_test)}, except the cross-validation)")
    savefig(fig, settings, f"{r.stem}_confusion.png")

    with_history = [m for m in classifiers if res[m].get("history") is not None]
    fig, axes = plt.subplots(1, len(with_history), figsize=(3.6 * len(with_history), 3.4), layout="constrained",
                             squeeze=False)
    for ax, method in zip(axes[0], with_history):
        h = res[method]["history"].history
        ax.plot(h["accuracy"], label="training")
        ax.plot(h["val_accuracy"], label="validation")
        ax.axhline(res["Fst threshold"]["train_accuracy"], color="k", ls=":", lw=1, label="Fst cut")
        ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0.4, 1.01), title=method)
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    fig.suptitle(f"{r.title}: learning curves (weights of the best validation loss are kept)")
    savefig(fig, settings, f"{r.stem}_learning_curves.png")

    regressions = [m for m in res if m.startswith("T_split")]
    fig, axes = plt.subplots(1, len(regressions), figsize=(4.5 * len(regressions), 4), layout="constrained")
    for ax, method in zip(axes, regressions):
        for k, model in enumerate(MODELS):
            mine = r.y_test == k
            ax.scatter(r.t_split_test[mine], res[method]["estimate"][mine], s=10, alpha=0.7, color=f"C{k}",
                       label=f"{model}: PE {res[method]['pe'][model]:.2f}")
        ax.plot([200, 399], [200, 399], "k", lw=1)
        ax.set(xlabel="true T_split (scaled generations)", ylabel="estimate",
               title=f"{method[9:]}\nPE {res[method]['pe']['all']:.2f} (all test simulations)")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    fig.suptitle(f"{r.title}: T_split on the test set (points on the diagonal are perfect)")
    savefig(fig, settings, f"{r.stem}_t_split_parity.png")


def plot_shared_doubletons(readings, settings):
    """``shared_doubletons.png``: the share of shared doubletons per model, one panel per reading."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
    for ax, r in zip(axes, readings.values()):
        plot_by_model(ax, r, r.shared, ".3f")
        ax.axvline(2 * 82 * 198 / (280 * 279), color="k", ls=":", label="one random-mating population")
        ax.set(xlabel="share of doubletons carried once in GN and once in BF", ylabel="training simulations",
               title=r.title)
        ax.legend(fontsize=8)
    savefig(fig, settings, "shared_doubletons.png")


def plot_summary(readings, settings):
    """``summary.png``: the test accuracy of every classifier on every reading, as bars (a method a reading
    did not run has no bar)."""
    first = next(iter(readings.values()))
    fig, ax = plt.subplots(figsize=(11, 4.5 + 0.5 * (len(readings) - 2)), layout="constrained")
    classifiers = [m for m in first.results if "accuracy" in first.results[m]]
    positions = np.arange(len(classifiers))
    height = 0.8 / len(readings)
    for j, r in enumerate(readings.values()):
        shift = (j - (len(readings) - 1) / 2) * height
        values = [r.results[m]["accuracy"] if m in r.results else np.nan for m in classifiers]
        ax.barh(positions + shift, values, height=height, label=r.title, color=f"C{(0, 2, 1, 4)[j % 4]}")
    ax.axvline(0.5, color="k", ls=":", lw=1, label="chance")
    ax.axvline(0.955, color="C3", ls="--", lw=1, label="published ABC (95.5 %)")
    ax.set(yticks=positions, yticklabels=classifiers, xlim=(0.3, 1.01), xlabel="accuracy (test set; ABC CV as noted)",
           title="TASKS.md T1: isolation vs IM, every method on every reading")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    savefig(fig, settings, "summary.png")


# --- the course's reference tables ------------------------------------------------------------------

# TASKS.md T1: distributions in the course's committed reference tables (1,000 rows per model)
COURSE_TABLES = {"Fst isolation min": 1.3e-5, "Fst isolation max": 1.5e-3, "Fst isolation mean": 7.5e-4,
                 "Fst IM min": -5.1e-4, "Fst IM max": 4.7e-4, "Fst IM mean": 0.0,
                 "pi mean": 0.0069, "D mean (range)": "-0.1 ... -0.2",
                 "corr(S_GN, T_split) under IM": 0.28, "corr(S_BF, T_split) under IM": 0.54,
                 "corr(D_GN, T_split) under IM": -0.30, "corr(D_BF, T_split) under IM": -0.49,
                 "corr(Fst, T_split) under IM": 0.011}


def reference_table_summary(r):
    """The quantities of :data:`COURSE_TABLES` computed on ``r``'s training simulations."""
    fst = r.stat("fst_tskit_GN_BF")
    iso, im = r.y == 0, r.y == 1
    out = {"Fst isolation min": fst[iso].min(), "Fst isolation max": fst[iso].max(), "Fst isolation mean": fst[iso].mean(),
           "Fst IM min": fst[im].min(), "Fst IM max": fst[im].max(), "Fst IM mean": fst[im].mean(),
           "pi mean": np.mean([r.stat("pi_GN"), r.stat("pi_BF")]),
           "D mean (range)": f"{r.stat('tajimas_d_GN').mean():.2f}, {r.stat('tajimas_d_BF').mean():.2f} (GN, BF)"}
    for name, label in (("S_GN", "S_GN"), ("S_BF", "S_BF"), ("tajimas_d_GN", "D_GN"), ("tajimas_d_BF", "D_BF"),
                        ("fst_tskit_GN_BF", "Fst")):
        out[f"corr({label}, T_split) under IM"] = float(np.corrcoef(r.stat(name)[im], r.t_split[im])[0, 1])
    return out


def course_distributions(readings, settings):
    """Markdown table: the course's reference-table distributions (TASKS.md) beside each reading's
    training simulations; also ``course_tables.png`` (Fst per model, and the correlations with T_split)."""
    ours = {name: reference_table_summary(r) for name, r in readings.items()}

    def cell(value):
        return value if isinstance(value, str) else f"{value:.2g}" if abs(value) >= 0.01 else f"{value:.2e}"

    lines = ["| quantity | course's tables | " + " | ".join(r.title for r in readings.values()) + " |",
             "|---|---|" + "---|" * len(readings)]
    lines += [f"| {q} | {cell(v)} | " + " | ".join(cell(ours[name][q]) for name in readings) + " |"
              for q, v in COURSE_TABLES.items()]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
    sources = {"course's tables": COURSE_TABLES, **{r.title: ours[name] for name, r in readings.items()}}
    for j, (label, values) in enumerate(sources.items()):
        for k, model in enumerate(("isolation", "IM")):
            y = 2 * k + j * 0.25
            axes[0].plot([values[f"Fst {model} min"], values[f"Fst {model} max"]], [y, y], color=f"C{j}", lw=2,
                         label=label if k == 0 else None)
            axes[0].plot(values[f"Fst {model} mean"], y, "o", color=f"C{j}")
    axes[0].set(yticks=[0.25, 2.25], yticklabels=["isolation", "IM"], xlabel="Fst (tskit), range and mean",
                title="Fst in 1,000 simulations per model")
    axes[0].legend(fontsize=8)
    names = [q for q in COURSE_TABLES if q.startswith("corr")]
    width = 0.8 / len(sources)
    for j, (label, values) in enumerate(sources.items()):
        axes[1].bar(np.arange(len(names)) + (j - (len(sources) - 1) / 2) * width, [values[q] for q in names],
                    width=width, color=f"C{j}", label=label)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_xticks(np.arange(len(names)), [q[5:q.index(",")] for q in names])
    axes[1].set(ylabel="correlation with T_split (IM simulations)", title="What dates the split under IM")
    axes[1].legend(fontsize=8)
    savefig(fig, settings, "course_tables.png")
    return "\n".join(lines)


# --- tables -----------------------------------------------------------------------------------------

def results_table(r):
    """Markdown tables of one reading: every classifier (accuracy, confusion, time), every T_split method (PE)."""
    lines = ["| method | test accuracy | confusion (rows true isolation, IM) | time (s) |", "|---|---|---|---|"]
    for method, value in r.results.items():
        if "accuracy" in value:
            cm = value.get("confusion")
            seconds = f"{value['seconds']:.0f}" if "seconds" in value else ""
            matrix = cm.tolist() if cm is not None else ""
            lines.append(f"| {method} | {value['accuracy']:.1%} | {matrix} | {seconds} |")
    lines += ["", "| T_split method | PE all | PE isolation | PE IM | time (s) |", "|---|---|---|---|---|"]
    for method, value in r.results.items():
        if "pe" in value:
            pe = value["pe"]
            lines.append(f"| {method[9:]} | {pe['all']:.3f} | {pe['isolation']:.3f} | {pe['IM']:.3f} | "
                         f"{value['seconds']:.0f} |")
    return "\n".join(lines)


def result_cell(r, method):
    """One cell of the comparison table: accuracy and confusion counts, or the T_split PE; "" if not run."""
    value = r.results.get(method)
    if value is None:
        return ""
    if "pe" in value:
        return f"PE {value['pe']['all']:.2f} (isolation {value['pe']['isolation']:.2f})"
    cm = value.get("confusion")
    counts = "" if cm is None else " (" + ", ".join("/".join(str(v) for v in row) for row in cm) + ")"
    return f"{value['accuracy']:.1%}{counts}"


def comparison_report(readings, published, header, timings):
    """``results.md``: ``header``, every method of the first reading against ``published`` and every
    reading, then each reading's own tables and the timings."""
    first = next(iter(readings.values()))
    lines = [header, "", "| method | published | " + " | ".join(r.title for r in readings.values()) + " |",
             "|---|---|" + "---|" * len(readings)]
    lines += [f"| {m} | {published.get(m, '')} | " + " | ".join(result_cell(r, m) for r in readings.values()) + " |"
              for m in first.results]
    lines += ["", "Confusion counts: rows true isolation, IM; columns predicted isolation, IM. "
              "Fst threshold: cut chosen on the training simulations, scored on the test set.", ""]
    for r in readings.values():
        lines += [f"## {r.title}", "", results_table(r), ""]
    lines += ["Times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())]
    return "\n".join(lines)
