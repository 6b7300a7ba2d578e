# %% [markdown]
# # 09 · Optimisers and hyperparameters
#
# **Goal.** Compare the optimisers you will meet in Keras (SGD, momentum, RMSprop, Adagrad, Adadelta,
# Adam) on the same problem from the same starting weights; see what learning-rate decay, batch size,
# weight initialisation and batch normalisation change; and choose hyperparameters the honest way — a
# random search scored on validation data, with the winner evaluated once on a test set.
#
# **The idea in plain words.** All optimisers follow the gradient downhill (lesson 04); they differ in
# how they turn a gradient `g` into a step:
#
# | optimiser | update (η = learning rate; all state starts at 0) | in words |
# |---|---|---|
# | SGD | `w ← w − η g` | step against the gradient |
# | momentum | `m ← μ m − η g`,  `w ← w + m` | a heavy ball: keeps rolling, damps zig-zags |
# | Adagrad | `a ← a + g²`,  `w ← w − η g / √a` | per-weight steps that shrink as gradients accumulate |
# | RMSprop | `v ← ρ v + (1−ρ) g²`,  `w ← w − η g / √v` | like Adagrad but forgets old gradients |
# | Adadelta | RMSprop with `η` replaced by the RMS of recent *steps* | no learning rate needed (in theory) |
# | Adam | momentum on `g` and RMSprop on `g²`, bias-corrected | the usual default |
#
# The exact formulas minidl uses (Keras 3's) are in the docstring of `minidl/optimizers.py`.
# *Hyperparameters* are every choice that is not learned by gradient descent: learning rate and its
# schedule, batch size, number of units, dropout rate, initialisation, architecture.

# %%
import time

import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

import minidl
from minidl import (SGD, Activation, Adadelta, Adagrad, Adam, BatchNormalization, Callback, Dense, Dropout,
                    Input, RMSprop, Sequential, TerminateOnNaN)
from minidl.initializers import GlorotUniform, RandomNormal, RandomUniform
from minidl.schedules import ExponentialDecay, PolynomialDecay
from minidl.search import Choice, IntRange, LogUniform, MLPBuilder, Uniform, random_search
from lessons._common import savefig, setup
from lessons.toydata import spiral

settings = setup("09_optimisers_hyperparameters")
blas = threadpool_limits(1, user_api="blas")  # small matrices: one BLAS thread beats two fighting for shared cores
rng = np.random.default_rng(settings.seed)

# %% [markdown]
# ## 1 · Six optimisers on a long, narrow valley
# Before a real network, a loss you can draw: `L(w₁, w₂) = ½(0.1·w₁² + 2·w₂²)`, twenty times steeper
# across the valley than along it — the shape that makes plain gradient descent zig-zag. We call
# minidl's optimizers directly: `optimizer.apply([(name, weights, gradient)])` is exactly what
# `Sequential.fit` does after every batch.

# %%
CURVATURE = np.array([0.1, 2.0])


def valley_loss(w1, w2):
    return 0.5 * (CURVATURE[0] * w1 ** 2 + CURVATURE[1] * w2 ** 2)


toy_optimizers = {
    "SGD (η = 0.9)": SGD(0.9),
    "momentum (η = 0.1, μ = 0.9)": SGD(0.1, momentum=0.9),
    "Adagrad (η = 0.5)": Adagrad(0.5),
    "RMSprop (η = 0.1)": RMSprop(0.1),
    "Adadelta (η = 1)": Adadelta(1.0),
    "Adam (η = 0.2)": Adam(0.2),
}
TOY_STEPS = 60
toy_paths = {}
for name, opt in toy_optimizers.items():
    w = np.array([-4.0, 1.5])
    path = [w.copy()]
    for _ in range(TOY_STEPS):
        opt.apply([("w", w, CURVATURE * w)])  # the gradient of L is (0.1·w₁, 2·w₂)
        path.append(w.copy())
    toy_paths[name] = np.array(path)
    print(f"{name:28s} loss after {TOY_STEPS} steps: {valley_loss(*w):.2e}")

fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), width_ratios=(1.5, 1))
g1, g2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-2, 2, 200))
axes[0].contour(g1, g2, valley_loss(g1, g2), levels=np.geomspace(0.01, 5, 12), colors="lightgrey", linewidths=0.8)
for name, path in toy_paths.items():
    axes[0].plot(path[:, 0], path[:, 1], "o-", ms=2, lw=1, label=name)
    axes[1].semilogy(valley_loss(path[:, 0], path[:, 1]), lw=1.6, label=name)
axes[0].plot(0, 0, "k*", ms=12)
axes[0].set_aspect("equal")
axes[0].set(xlabel="w₁ (gentle direction)", ylabel="w₂ (steep direction)", title="Paths from the same start")
axes[0].legend(fontsize=7, loc="lower right")
axes[1].set(xlabel="step", ylabel="loss (log scale)", title="Loss per step")
axes[1].grid(alpha=0.3)
savefig(fig, settings, "optimiser_paths.png")

# %% [markdown]
# SGD zig-zags across the valley (its step is as large as this valley allows — lesson 04's 2/λ_max);
# momentum builds up speed along the valley but overshoots and circles in; RMSprop, Adagrad and Adam
# divide each step by the size of recent gradients, so the steep and the gentle direction move at a
# similar pace and the path heads straight for the valley floor; Adadelta starts with tiny steps
# (≈ √ε) and has hardly moved after 60 steps. On a simple bowl with a hand-tuned learning rate plain
# SGD is hard to beat; the adaptive methods earn their keep on real networks, where every weight sees
# a different curvature and nobody can tune a learning rate per weight.
#
# ## 2 · The same comparison on a real network
# Three interleaved spirals, 2 inputs → 64 ReLU → 64 ReLU → 3 classes. Data are split once into
# training, validation and test sets. Every model below is created with the same seed, so every
# optimiser starts from **the same initial weights** and sees the batches in the same order.

# %%
N_TOTAL = 360 if settings.quick else 1200
EPOCHS = 8 if settings.quick else 60
x_all, y_all = spiral(N_TOTAL, noise=0.35, rng=settings.seed)
order = rng.permutation(N_TOTAL)
n_train, n_val = int(0.6 * N_TOTAL), int(0.2 * N_TOTAL)
train_idx, val_idx, test_idx = np.split(order, [n_train, n_train + n_val])
x_train, y_train = x_all[train_idx], y_all[train_idx]
x_val, y_val = x_all[val_idx], y_all[val_idx]
x_test, y_test = x_all[test_idx], y_all[test_idx]
print(f"training {len(x_train)}, validation {len(x_val)}, test {len(x_test)} points; {EPOCHS} epochs per run")


def make_mlp(optimizer, units=64, dropout=0.0, initializer="glorot_uniform"):
    layers = [Input((2,))]
    for _ in range(2):
        layers.append(Dense(units, activation="relu", kernel_initializer=initializer))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(3, activation="softmax"))
    model = Sequential(layers, seed=settings.seed)  # same seed ⇒ same initial weights, same shuffles
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(model, batch_size=32, epochs=EPOCHS, callbacks=()):
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0,
                        validation_data=(x_val, y_val), callbacks=list(callbacks))
    return history.history, time.perf_counter() - start


first, second = make_mlp(SGD()), make_mlp(Adam())
assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
print("two models built with the same seed start from identical weights")

optimisers = {
    "SGD (η = 0.1)": SGD(0.1),
    "momentum (η = 0.05, μ = 0.9)": SGD(0.05, momentum=0.9),
    "Adagrad (η = 0.05)": Adagrad(0.05),
    "RMSprop (η = 0.003)": RMSprop(0.003),
    "Adadelta (η = 1)": Adadelta(1.0),
    "Adam (η = 0.005)": Adam(0.005),
}
opt_results = {}
for name, opt in optimisers.items():
    opt_results[name], seconds = run(make_mlp(opt))
    h = opt_results[name]
    print(f"{name:30s} training loss {h['loss'][-1]:.3f}   validation accuracy {h['val_accuracy'][-1]:.3f}   "
          f"({seconds:.1f} s)")

# %% [markdown]
# The learning rates above were picked to suit each optimiser on this problem. Keras's defaults are
# SGD 0.01, RMSprop/Adam/Adagrad/Adadelta 0.001 — fine for Adam, far too small for Adadelta, whose
# original paper uses 1.0. Comparing optimisers at one shared learning rate mostly compares learning rates.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for name, h in opt_results.items():
    epochs_axis = np.arange(1, len(h["loss"]) + 1)
    axes[0].plot(epochs_axis, h["loss"], lw=1.6, label=name)
    axes[1].plot(epochs_axis, h["val_accuracy"], lw=1.6, label=name)
axes[0].set(xlabel="epoch", ylabel="training cross-entropy", title="Same network, same initial weights")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Accuracy on held-out validation data")
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
savefig(fig, settings, "optimisers_on_spirals.png")

# %% [markdown]
# ## 3 · Learning-rate decay
# Large steps early make fast progress; small steps late let the weights settle instead of bouncing
# around the minimum. A *schedule* makes the learning rate a function of the step number:
#
# * linear: `η(t) = (η₀ − η_end)·(1 − t/T) + η_end` — Keras's `PolynomialDecay` with `power=1`;
# * exponential: `η(t) = η₀ · r^(t/T_r)` — `ExponentialDecay`, here halving every fifth of the run.
#
# We give the schedule to the optimizer instead of a number and record the learning rate it used at
# every step with a small callback.

# %%
class RecordLearningRate(Callback):
    """The learning rate the optimizer will use for its next update, after every batch."""

    def on_train_begin(self, logs=None):
        self.values = [self.model.optimizer.learning_rate]

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(self.model.optimizer.learning_rate)


steps_per_epoch = int(np.ceil(len(x_train) / 32))
total_steps = EPOCHS * steps_per_epoch
LR0 = 0.1
schedules = {
    "constant η = 0.1": LR0,
    "linear decay to 0.001": PolynomialDecay(LR0, decay_steps=total_steps, end_learning_rate=0.001, power=1.0),
    "exponential decay (halves every 1/5 of the run)": ExponentialDecay(LR0, decay_steps=total_steps / 5,
                                                                        decay_rate=0.5),
}
decay_results = {}
for name, lr in schedules.items():
    recorder = RecordLearningRate()
    history, _ = run(make_mlp(SGD(lr, momentum=0.9)), callbacks=[recorder])
    decay_results[name] = (history, recorder.values[:-1])  # the last value would be for a step never taken
    print(f"{name:48s} lr first/last step {recorder.values[0]:.4f}/{recorder.values[-2]:.4f}   "
          f"training loss {history['loss'][-1]:.3f}   validation accuracy {history['val_accuracy'][-1]:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(16, 4))
for name, (h, lrs) in decay_results.items():
    axes[0].plot(lrs, lw=1.8, label=name)
    axes[1].plot(np.arange(1, len(h["loss"]) + 1), h["loss"], lw=1.6, label=name)
    axes[2].plot(np.arange(1, len(h["val_loss"]) + 1), h["val_loss"], lw=1.6, label=name)
axes[0].set(xlabel=f"update step ({steps_per_epoch} per epoch)", ylabel="learning rate η",
            title="Learning rate used at each step")
axes[1].set(xlabel="epoch", ylabel="training cross-entropy", title="Training loss (SGD, momentum 0.9)")
axes[2].set(xlabel="epoch", ylabel="validation cross-entropy", title="Validation loss")
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8, loc="upper right")
savefig(fig, settings, "learning_rate_decay.png")

# %% [markdown]
# With a constant learning rate the losses keep jumping up and down late in training: each step is
# still large enough to bounce around the minimum. Both schedules take the same large steps at the
# start and then settle, ending with a lower and smoother loss.

# %% [markdown]
# ## 4 · Batch size
# Same optimizer (Adam, η = 0.005), same number of epochs, four batch sizes. Small batches make many
# noisy updates per epoch; the full batch makes one precise update per epoch. Per epoch, small batches
# learn more; per update, large batches do — and a large batch costs more per update but is processed
# as one big matrix product.

# %%
batch_sizes = [8, 32, 128, len(x_train)]
batch_results = {}
for bs in batch_sizes:
    history, seconds = run(make_mlp(Adam(0.005)), batch_size=bs)
    batch_results[bs] = (history, seconds)
    print(f"batch size {bs:4d}: {int(np.ceil(len(x_train) / bs)) * EPOCHS:5d} updates in {seconds:5.1f} s, "
          f"validation accuracy {history['val_accuracy'][-1]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for bs, (h, seconds) in batch_results.items():
    label = f"batch {bs}" + (" (full)" if bs == len(x_train) else "")
    epochs_axis = np.arange(1, len(h["val_loss"]) + 1)
    updates_axis = epochs_axis * int(np.ceil(len(x_train) / bs))
    axes[0].plot(epochs_axis, h["val_loss"], lw=1.6, label=label)
    axes[1].semilogx(updates_axis, h["val_loss"], "o-", ms=2.5, lw=1.4, label=label)
axes[0].set(xlabel="epoch (passes through the training data)", ylabel="validation cross-entropy",
            title="Per epoch: small batches learn faster")
axes[1].set(xlabel="number of weight updates (log scale)", ylabel="validation cross-entropy",
            title="Per update: large batches learn more")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
savefig(fig, settings, "batch_size.png")

# %% [markdown]
# ## 5 · Weight initialisation
# The starting weights decide whether the signal survives a deep network. A layer with `n` inputs, each
# multiplied by a weight of variance `s²`, multiplies the variance of the signal by about `n·s²` (halved
# by ReLU). Keras's `random_normal` (σ = 0.05) and `random_uniform` (±0.05) ignore `n`: with 64 inputs the
# signal shrinks at every layer and after six layers almost nothing — and almost no gradient — is left.
# A normal with σ = 1 makes it explode instead. **Glorot** (Keras's default) chooses the variance from the
# layer's size, `2 / (n_in + n_out)`, so the signal keeps roughly the same scale.
#
# We use a deeper network here — six hidden layers of 64 ReLUs — because the effect grows with depth.

# %%
DEPTH, WIDTH = 6, 64


def make_deep(initializer, batch_norm=False):
    layers = [Input((2,))]
    for _ in range(DEPTH):
        # with batch norm the layer's own bias is redundant: BN's β shifts the output anyway
        layers.append(Dense(WIDTH, kernel_initializer=initializer, use_bias=not batch_norm))
        if batch_norm:
            # Keras's momentum 0.99 needs a few hundred steps before the moving statistics used at
            # prediction time settle; 0.9 settles within the short runs of this lesson
            layers.append(BatchNormalization(momentum=0.9))
        layers.append(Activation("relu"))
    layers.append(Dense(3, activation="softmax"))
    model = Sequential(layers, seed=settings.seed)
    model.compile(SGD(0.02, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def signal_scale(model, x):
    """Standard deviation of each hidden layer's output, for one forward pass."""
    stds, a = [], x
    for layer in model.layers:
        a = layer.forward(a)
        if isinstance(layer, Activation):
            stds.append(float(a.std()))
    return stds


initialisers = {
    "normal σ = 0.05 (Keras random_normal)": RandomNormal(stddev=0.05),
    "uniform ±0.05 (Keras random_uniform)": RandomUniform(-0.05, 0.05),
    "normal σ = 1": RandomNormal(stddev=1.0),
    "Glorot uniform (Keras default)": GlorotUniform(),
}
init_results = {}
for name, init in initialisers.items():
    model = make_deep(init)
    scales = signal_scale(model, x_train)
    with np.errstate(over="ignore", invalid="ignore"):  # σ = 1 overflows on purpose; TerminateOnNaN stops it
        history, _ = run(model, callbacks=[TerminateOnNaN()])
    init_results[name] = (scales, history)
    print(f"{name:38s} last hidden layer output std at start {scales[-1]:.1e}; "
          f"training loss after {len(history['loss'])} epochs {history['loss'][-1]:.3g}")

fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for name, (scales, h) in init_results.items():
    axes[0].semilogy(range(1, DEPTH + 1), scales, "o-", label=name)
    diverged = not np.isfinite(h["loss"][-1]) or h["loss"][-1] > 10
    label = f"{name} — diverged (loss {h['loss'][-1]:.0e}), stopped" if diverged else name
    axes[1].plot(np.arange(1, len(h["loss"]) + 1), h["loss"], "o-" if diverged else "-", ms=4, lw=1.6, label=label)
axes[0].set(xlabel="hidden layer", ylabel="std of the layer's output (log scale)",
            title="Before training: does the signal survive?")
axes[1].axhline(np.log(3), color="grey", ls=":", label="ln 3: guessing")
axes[1].set(xlabel="epoch", ylabel="training cross-entropy", title="Training (SGD, momentum 0.9)", ylim=(0, 2))
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
savefig(fig, settings, "initialisation.png")

# %% [markdown]
# ## 6 · Batch normalisation on and off
# `BatchNormalization` rescales every unit to mean 0 and variance 1 over the batch, then lets the network
# choose a scale `γ` and shift `β`:
#
# $$\hat x = \frac{x - \mu_\text{batch}}{\sqrt{\sigma^2_\text{batch} + \epsilon}}, \qquad y = \gamma \hat x + \beta$$
#
# so the signal keeps its scale whatever the initialisation, and larger learning rates become safe. At
# prediction time it uses moving averages of μ and σ² collected during training. Below: the deep network
# with the poor σ = 0.05 initialisation, with and without batch norm, next to Glorot without batch norm.
# (For inputs of shape (N, features) minidl's plain NumPy kernels are faster than its parallel numba
# ones, so we select them for this section; both compute the same numbers.)

# %%
with minidl.config.use_kernels("reference"):
    bn_history, bn_seconds = run(make_deep(RandomNormal(stddev=0.05), batch_norm=True))
bn_results = {
    "normal σ = 0.05, no batch norm": init_results["normal σ = 0.05 (Keras random_normal)"][1],
    "normal σ = 0.05, with batch norm": bn_history,
    "Glorot, no batch norm": init_results["Glorot uniform (Keras default)"][1],
}
for name, h in bn_results.items():
    print(f"{name:34s} training loss {h['loss'][-1]:.3f}   validation accuracy {h['val_accuracy'][-1]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for name, h in bn_results.items():
    epochs_axis = np.arange(1, len(h["loss"]) + 1)
    axes[0].plot(epochs_axis, h["loss"], lw=1.8, label=name)
    axes[1].plot(epochs_axis, h["val_accuracy"], lw=1.8, label=name)
axes[0].set(xlabel="epoch", ylabel="training cross-entropy", title=f"{DEPTH} hidden layers of {WIDTH} ReLUs")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (moving statistics)")
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
savefig(fig, settings, "batch_normalisation.png")

# %% [markdown]
# ## 7 · A small random search
# Which combination of learning rate, width, depth, dropout, L2 penalty and batch size is best? Trying
# every combination of a grid is wasteful: most hyperparameters matter little, and a grid tests the
# important one (usually the learning rate) at only a few values. **Random search** (Bergstra & Bengio 2012)
# draws each trial's values independently from ranges like the lecture's table:
#
# | hyperparameter | range | drawn as |
# |---|---|---|
# | learning rate (Adam) | 10⁻⁴ … 10⁻¹ | log-uniform: each factor of 10 equally likely |
# | units per hidden layer | 8, 16, 32, 64, 128 | uniform choice |
# | hidden layers | 1, 2, 3 | uniform choice |
# | dropout rate | 0 … 0.5 | uniform |
# | L2 penalty on the weights | 0, 10⁻⁴, 10⁻³ | uniform choice |
# | batch size | 16, 32, 64, 128 | uniform choice |
#
# `minidl.search` does the bookkeeping. A *space* says how each hyperparameter is drawn; `MLPBuilder` turns
# one draw into a compiled network (write your own `build(params)` for other architectures); `random_search`
# trains every trial with **early stopping** on the validation loss and keeps each trial's best epoch. Every
# trial is scored on the **validation** set — `random_search` has no argument that could take the test set.
# The score is `val_data_loss`, the cross-entropy on the validation data: Keras's `val_loss` also contains
# the L2 penalty `l·Σw²`, which would count against every trial with L2 in a comparison across trials.
# Only the winner is evaluated on the test set, once, after the search. One seed fixes the draws and the
# models' seed, so the whole search repeats exactly.

# %%
N_TRIALS = 3 if settings.quick else 20
PATIENCE = 3 if settings.quick else 10
space = {
    "learning_rate": LogUniform(1e-4, 1e-1),
    "units": Choice([8, 16, 32, 64, 128]),
    "depth": IntRange(1, 3),               # both ends included
    "dropout": Uniform(0.0, 0.5),
    "l2": Choice([0.0, 1e-4, 1e-3]),
    "batch_size": Choice([16, 32, 64, 128]),
    "optimizer": "adam",                  # a plain value is fixed; Choice(["adam", "rmsprop", "sgd"]) would search it
}
search = random_search(MLPBuilder(input_shape=(2,), outputs=3), space, train=(x_train, y_train),
                       validation=(x_val, y_val), n_trials=N_TRIALS, epochs=EPOCHS, patience=PATIENCE,
                       seed=settings.seed)
print(search.table(columns=["trial", "learning_rate", "units", "depth", "dropout", "l2", "batch_size",
                            "val_data_loss", "val_loss", "val_accuracy", "best_epoch", "epochs", "seconds"]))
search.to_csv(settings.figure_path("random_search.csv"))
best = search.best
test = search.evaluate_best(x_test, y_test)  # the test set, once, for the model chosen on validation data
print(f"\nbest on validation: trial {best.index}: learning rate {best.params['learning_rate']:.4g}, "
      f"{best.params['depth']} × {best.params['units']} units, dropout {best.params['dropout']:.2f}, "
      f"L2 {best.params['l2']:g}, batch {best.params['batch_size']} → validation cross-entropy {best.score:.3f}, "
      f"validation accuracy {best.metrics['val_accuracy']:.3f} (epoch {best.best_epoch}); "
      f"test accuracy (evaluated once) {test['accuracy']:.3f} on {len(x_test)} points")

# %% [markdown]
# Each panel shows the validation cross-entropy of every trial against one hyperparameter (log axis for the
# learning rate); the circle is the winner.

# %%
savefig(search.plot(), settings, "random_search_panels.png")

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
colors = {16: "tab:blue", 32: "tab:orange", 64: "tab:green", 128: "tab:red"}
for tr in search.trials:
    ax.scatter(tr.params["learning_rate"], tr.metrics["val_accuracy"], s=8 + tr.params["units"] * 1.5,
               color=colors[tr.params["batch_size"]], alpha=0.7, edgecolors="k", linewidths=0.5)
ax.scatter([best.params["learning_rate"]], [best.metrics["val_accuracy"]], s=300, facecolors="none",
           edgecolors="k", linewidths=1.5, label="best on validation")
for bs, c in colors.items():
    ax.scatter([], [], color=c, label=f"batch {bs}")
for units in (8, 32, 128):
    ax.scatter([], [], s=8 + units * 1.5, color="white", edgecolors="k", label=f"{units} units")
ax.axhline(1 / 3, color="grey", ls=":", lw=1)
ax.set_xscale("log")
ax.set_xlim(1e-4, 1e-1)  # the whole range searched
ax.set(xlabel="learning rate (log scale)", ylabel="validation accuracy (best epoch)",
       title=f"Random search: {N_TRIALS} trials, up to {EPOCHS} epochs each (early stopping)")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
ax.grid(alpha=0.3)
savefig(fig, settings, "random_search.png")

# %% [markdown]
# The learning rate and the width decide most of the ranking. Measured in full mode with seed 2026: the
# winner, trial 14 (η = 0.0054, 2 × 128 units, no dropout, no L2, batch 128), reaches a validation
# cross-entropy of 0.015 and a validation accuracy of 0.996. All four 8-unit networks come last (validation
# accuracy 0.64–0.78): 8 units cannot draw three spirals. The three learning rates below 5·10⁻⁴ are among
# the last six — too small, and the network has barely moved after 60 epochs — while rates from 10⁻³ to
# 5·10⁻² all do well with enough units (no draw came near 10⁻¹, where training becomes unstable). Dropout,
# depth and batch size matter less here. Early stopping ended 5 of the 20 trials before epoch 60. Trial 1
# shows why the score leaves out the penalty: with L2 = 10⁻³ its `val_loss` is 0.145 (12th), but its
# cross-entropy is 0.029 (7th) at a validation accuracy of 1.000.
#
# The test accuracy of the winner, 0.971 on 240 points, is below its validation accuracy: picking the best
# of many trials on the validation set flatters it, which is exactly why the test set is kept for one
# final, unbiased measurement. With more trials, narrow the ranges around the best region and search
# again — still scoring on validation data only.
#
# ## Try this
# - In part 2, give every optimiser Keras's default learning rate (`Adam()`, `RMSprop()`, ...). Which
#   ones still learn in 60 epochs?
# - Replace `SGD(0.9)` in part 1 by `SGD(1.05)`. Why does it diverge now (hint: lesson 04, 2/λ_max)?
# - In part 5, switch the activation to `"tanh"` and compare Glorot with `"he_normal"`.
# - Put `BatchNormalization()` with Keras's default momentum 0.99 in part 6 and train for only 5 epochs:
#   compare training accuracy with validation accuracy. Why the gap?
# - Double `N_TRIALS`. Does the best validation accuracy keep improving? Does the test accuracy?
# - Add `workers=2` to `random_search`: the trials run in two processes; the table is identical but for
#   the seconds.
# - Replace `random_search` by `minidl.search.optuna_search` (`pip install ".[search]"`): Optuna's TPE
#   sampler picks each trial from the ones before, and its median pruner stops trials that lag behind.

# %%
blas.restore_original_limits()
print(f"Lesson 09 done in {settings.elapsed():.1f} s; figures in {settings.output}")
