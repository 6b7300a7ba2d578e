# %% [markdown]
# # 08 · Overfitting and regularisation
#
# **Goal.** Recognise a model that is too simple (underfits) or too flexible (overfits), read it from
# training and validation curves, and know the four standard remedies: L2 and L1 weight penalties,
# dropout and early stopping — plus the one rule that keeps accuracy claims honest.
#
# **The idea in plain words.** A network is fitted to a *sample* of data. A model that is too simple
# misses real structure whatever the sample (**bias**); a model that is too flexible also learns the
# noise of its particular sample, so it changes a lot from one sample to another and predicts new data
# badly (**variance**). Training error always goes down as a model gets bigger; the error on *held-out*
# data goes down and then up again. Regularisation limits flexibility:
#
# $$L_\text{total} = L_\text{data} + \lambda_1 \sum_i |w_i| \;\;(\text{L1}) \qquad
#   L_\text{total} = L_\text{data} + \lambda_2 \sum_i w_i^2 \;\;(\text{L2})$$
#
# L2 pulls every weight towards 0 with a force proportional to its size (gradient `2λ₂w`): all weights
# shrink, none vanishes. L1 pulls with a *constant* force (gradient `λ₁·sign(w)`): small, useless
# weights are pushed all the way to zero — a built-in selection of inputs.
#
# **Three data sets, three jobs.** *Training* data fits the weights. *Validation* data chooses everything
# else — architecture, penalty, when to stop. *Test* data is looked at **once**, at the very end, to
# report accuracy. Using the test set for early stopping or for choosing between models (a mistake in
# public course material) makes the reported accuracy optimistic, because the test set has then been
# used to tune the model.

# %%
import inspect
import warnings

import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

from minidl import Adam, Callback, Dense, Dropout, EarlyStopping, Input, Sequential
from minidl.regularizers import L1, L2
from lessons._common import savefig, setup

settings = setup("08_overfitting_regularisation")
blas = threadpool_limits(1, user_api="blas")  # small matrices: one BLAS thread beats two fighting for shared cores
rng = np.random.default_rng(settings.seed)

# %% [markdown]
# ## 1 · Bias and variance: too small, right, too large
# A curve `y = sin(2πx)` observed with noise (standard deviation 0.3) at only 15 points. Three
# networks: a single linear neuron (a straight line), one hidden layer of 8 tanh units, and three
# hidden layers of 64 tanh units (8,577 weights for 15 points). To see *variance*, each network is
# trained on several independent samples of 15 points; validation error is measured on 500 new points.

# %%
NOISE = 0.3
N_POINTS = 15
EPOCHS_CURVE = 300 if settings.quick else 3000
N_SAMPLES = 2 if settings.quick else 5


def true_curve(x):
    return np.sin(2 * np.pi * x)


def noisy_sample(n):
    x = rng.uniform(0, 1, (n, 1)).astype(np.float32)
    return x, (true_curve(x) + rng.normal(0, NOISE, x.shape)).astype(np.float32)


x_val_curve, y_val_curve = noisy_sample(500)
capacities = {"too small: 1 linear neuron": [], "about right: 8 tanh": [8], "too large: 3 × 64 tanh": [64, 64, 64]}
grid = np.linspace(0, 1, 200, dtype=np.float32)[:, None]
fits = {name: [] for name in capacities}
for s in range(N_SAMPLES):
    x_small, y_small = noisy_sample(N_POINTS)
    for name, hidden in capacities.items():
        model = Sequential([Input((1,))] + [Dense(h, activation="tanh") for h in hidden] + [Dense(1)],
                           seed=settings.seed + s)
        model.compile(Adam(0.01), "mse")
        model.fit(x_small, y_small, epochs=EPOCHS_CURVE, batch_size=N_POINTS, verbose=0)
        fits[name].append((x_small, y_small, model.predict(grid)[:, 0], model.evaluate(x_small, y_small),
                           model.evaluate(x_val_curve, y_val_curve)))
for name, runs in fits.items():
    print(f"{name:28s} training MSE {np.mean([r[3] for r in runs]):.3f}   validation MSE "
          f"{np.mean([r[4] for r in runs]):.3f}   (noise alone gives {NOISE ** 2:.2f})")

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), width_ratios=(1, 1, 1, 0.8))
for ax, (name, runs) in zip(axes, fits.items()):
    ax.plot(grid, true_curve(grid), "k--", lw=1.5, label="true curve")
    for s, (xs, ys, pred, _, _) in enumerate(runs):
        line, = ax.plot(grid, pred, lw=1.3, alpha=0.8, label="fits to different samples" if s == 0 else None)
        if s == 0:
            ax.plot(xs, ys, "o", color=line.get_color(), ms=4, label="sample 1 (15 points)")
    ax.set(title=name, xlabel="input x", ylim=(-2, 2))
    ax.legend(fontsize=7, loc="lower left")
axes[0].set_ylabel("output y")
names = list(fits)
pos = np.arange(len(names))
axes[3].bar(pos - 0.2, [np.mean([r[3] for r in fits[n]]) for n in names], 0.4, label="training")
axes[3].bar(pos + 0.2, [np.mean([r[4] for r in fits[n]]) for n in names], 0.4, label="validation")
axes[3].axhline(NOISE ** 2, color="grey", ls=":", label="noise variance")
axes[3].set_xticks(pos, ["too small", "right", "too large"])
axes[3].set(ylabel="mean squared error", title="Error on seen vs new data")
axes[3].legend(fontsize=8)
fig.suptitle("Bias (too small: wrong the same way every time) and variance (too large: a different "
             "wiggle for every sample)", y=1.0)
fig.tight_layout()
savefig(fig, settings, "bias_variance.png")

# %% [markdown]
# The straight line is wrong in the same way for every sample: high bias. The big network passes near
# every training point — its training error is below the noise level, which is impossible for a model of
# the truth — and wiggles differently for each sample: high variance. Only the validation error tells
# the right model apart.
#
# ## 2 · A classification problem with many inputs and few samples
# A common situation in genomics: many input features (summary statistics, SNPs), few of which matter,
# and a limited number of labelled examples. Here 20 features, of which only the first three decide the
# class (through `x₀ + x₁ − x₂ + 0.8·x₀·x₁ > 0`), 10 % of labels flipped as noise, 200 training samples.
# Validation and test sets are drawn separately and never trained on.

# %%
N_FEATURES, N_INFORMATIVE = 20, 3
EPOCHS = 25 if settings.quick else 200


def make_classification(n):
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    score = x[:, 0] + x[:, 1] - x[:, 2] + 0.8 * x[:, 0] * x[:, 1]
    label = (score > 0).astype(np.float32)
    flipped = rng.random(n) < 0.10  # label noise: no model can be right on these
    return x, np.where(flipped, 1 - label, label)[:, None]


x_train, y_train = make_classification(200)
x_val, y_val = make_classification(500)
x_test, y_test = make_classification(1000)
print(f"train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}")


class DataLoss(Callback):
    """Cross-entropy on training and validation data after every epoch, *without* the penalty.

    minidl (like Keras) adds the L1/L2 penalty to the reported ``loss`` and ``val_loss``; to compare
    models with different penalties we want the data term alone, computed in inference mode.
    """

    def on_train_begin(self, logs=None):
        self.train, self.val = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.train.append(self.model.loss(y_train, self.model.predict(x_train, batch_size=1024)))
        self.val.append(self.model.loss(y_val, self.model.predict(x_val, batch_size=1024)))


def make_classifier(regularizer=None, dropout=0.0):
    layers = [Input((N_FEATURES,)), Dense(32, activation="relu", kernel_regularizer=regularizer)]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(32, activation="relu", kernel_regularizer=regularizer))
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(1, activation="sigmoid"))
    # the same seed for every variant: same starting weights, same shuffles — only the remedy differs
    model = Sequential(layers, seed=settings.seed)
    model.compile(Adam(0.003), "binary_crossentropy", metrics=["accuracy"])
    return model


def train(model, callbacks=()):
    recorder = DataLoss()
    history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[recorder, *callbacks])
    return {"model": model, "history": history.history, "train_ce": recorder.train, "val_ce": recorder.val,
            "val_accuracy": model.evaluate(x_val, y_val, return_dict=True)["accuracy"]}


variants = {
    "no regularisation": train(make_classifier()),
    "L2 (λ₂ = 0.03)": train(make_classifier(regularizer=L2(0.03))),
    "L1 (λ₁ = 0.01)": train(make_classifier(regularizer=L1(0.01))),
    "dropout 0.5": train(make_classifier(dropout=0.5)),
}
for name, r in variants.items():
    h = r["history"]
    print(f"{name:18s} final training accuracy {h['accuracy'][-1]:.3f}   validation accuracy {r['val_accuracy']:.3f}")

# %% [markdown]
# ## 3 · Training and validation curves
# The unregularised network's training loss keeps falling while its validation loss turns upwards after
# a few epochs: from then on it is memorising the 200 training samples, label noise included. The
# penalties keep the two curves much closer together; dropout delays the divergence but, with this
# little data, does not stop it. Note that validation *loss* can rise while validation *accuracy* stays
# flat: the network becomes over-confident on the samples it gets wrong.

# %%
fig, axes = plt.subplots(1, len(variants) + 1, figsize=(19, 3.8), sharey=False)
for ax, (name, r) in zip(axes, variants.items()):
    ax.plot(r["train_ce"], label="training")
    ax.plot(r["val_ce"], label="validation")
    ax.set(title=name, xlabel="epoch", ylim=(0, 1.1 * max(max(r["val_ce"]) for r in variants.values())))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_ylabel("cross-entropy (data term only)")
for name, r in variants.items():
    axes[-1].plot(r["history"]["val_accuracy"], label=name, lw=1.3)
axes[-1].set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy (500 validation samples)")
axes[-1].legend(fontsize=7)
axes[-1].grid(alpha=0.3)
fig.tight_layout()
savefig(fig, settings, "train_validation_curves.png")

# %% [markdown]
# ## 4 · L1 vs L2: what the penalties do to the weights
# Left: all first-layer weights. Right: for each input feature, the size (norm) of its outgoing weights —
# how much the network listens to it. With L1 most weights sit at (or within a hair of) zero and the 17
# useless features are almost switched off; with L2 every weight is smaller but few are zero.
# (Gradient descent with L1 makes weights hover within about one step size of zero rather than land
# exactly on it; we count |w| < 0.01 as "zero".)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
bins = np.linspace(-0.7, 0.7, 71)
shown = ["no regularisation", "L2 (λ₂ = 0.03)", "L1 (λ₁ = 0.01)"]
for name, color in zip(shown, ("tab:grey", "tab:blue", "tab:red")):
    w = variants[name]["model"].layers[0].params["kernel"]
    near_zero = np.mean(np.abs(w) < 0.01)
    axes[0].hist(w.ravel(), bins=bins, histtype="step", lw=1.8, color=color,
                 label=f"{name}: {100 * near_zero:.0f} % of |w| < 0.01")
    importance = np.linalg.norm(w, axis=1)
    offset = {"no regularisation": -0.27, "L2 (λ₂ = 0.03)": 0.0, "L1 (λ₁ = 0.01)": 0.27}[name]
    axes[1].bar(np.arange(N_FEATURES) + offset, importance, 0.27, color=color, label=name)
    print(f"{name:18s} |w| < 0.01: {100 * near_zero:4.1f} %   mean norm informative inputs "
          f"{importance[:N_INFORMATIVE].mean():.2f}, noise inputs {importance[N_INFORMATIVE:].mean():.2f}")
axes[0].set_yscale("log")
axes[0].set(xlabel="first-layer weight value", ylabel="number of weights (log scale)",
            title="Weight histogram: L1 piles weights at zero, L2 shrinks all")
axes[0].legend(fontsize=8)
axes[1].axvspan(-0.5, N_INFORMATIVE - 0.5, color="gold", alpha=0.25, label="informative inputs")
axes[1].set_xticks(range(N_FEATURES))
axes[1].set(xlabel="input feature (0–2 informative, 3–19 noise)", ylabel="norm of its outgoing weights",
            title="How much the network listens to each input")
axes[1].legend(fontsize=8)
savefig(fig, settings, "l1_vs_l2_weights.png")

# %% [markdown]
# ## 5 · Dropout
# During training, `Dropout(0.5)` silences a random half of the units at every step and doubles the
# rest, so no unit can rely on a particular partner — like training a crowd of thinned networks that
# share weights. At prediction time (`training=False`) nothing is dropped. The whole layer is a few
# lines of `minidl/layers/dropout.py`:

# %%
print(inspect.getsource(Dropout.forward))
print(inspect.getsource(Dropout.backward))

# %% [markdown]
# ## 6 · Early stopping on the validation loss
# Instead of fixing the number of epochs, watch the validation loss and stop when it has not improved
# for `patience` epochs; `restore_best_weights=True` then puts back the weights of the best epoch.
# A loss is better when it is *lower*, so the mode is **"min"** (or "auto", which infers it from the name).
# Public course material used `EarlyStopping(monitor="val_loss", mode="max")`: that treats every rise
# in validation loss as an improvement, stops as soon as the model starts getting *better*, and
# restores the *worst* weights. minidl warns when it sees this combination; we run it once to show
# the damage.

# %%
PATIENCE = 5 if settings.quick else 15
stopper = EarlyStopping(monitor="val_loss", mode="min", patience=PATIENCE, restore_best_weights=True)
early = train(make_classifier(), callbacks=[stopper])
variants["early stopping"] = early
print(f"mode='min': best epoch {stopper.best_epoch + 1}, stopped at epoch {len(early['val_ce'])}, "
      f"validation accuracy of the restored model {early['val_accuracy']:.3f}")

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    wrong_stopper = EarlyStopping(monitor="val_loss", mode="max", patience=PATIENCE, restore_best_weights=True)
wrong = train(make_classifier(), callbacks=[wrong_stopper])
print(f"minidl's warning: {caught[0].message}" if caught else "no warning")
print(f"mode='max' (wrong): kept epoch {wrong_stopper.best_epoch + 1}, stopped at epoch {len(wrong['val_ce'])}, "
      f"validation accuracy {wrong['val_accuracy']:.3f}")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
full = variants["no regularisation"]
def epochs_of(curve):
    return np.arange(1, len(curve) + 1)  # epochs counted from 1, as minidl and Keras print them


ax.plot(epochs_of(full["val_ce"]), full["val_ce"], color="lightgrey", lw=7,
        label="validation loss, training to the end")
ax.plot(epochs_of(early["val_ce"]), early["val_ce"], color="tab:green", lw=3.5,
        label="with EarlyStopping(mode='min'): ran until here")
ax.plot(epochs_of(wrong["val_ce"]), wrong["val_ce"], color="tab:red", lw=1.5,
        label="with EarlyStopping(mode='max') — wrong: ran until here")
ax.axvline(stopper.best_epoch + 1, color="tab:green", ls="--", lw=1,
           label=f"best epoch, weights restored (epoch {stopper.best_epoch + 1})")
ax.axvline(wrong_stopper.best_epoch + 1, color="tab:red", ls=":", lw=1.5,
           label=f"weights 'mode=max' restores (epoch {wrong_stopper.best_epoch + 1})")
ax.set(xlabel="epoch", ylabel="validation cross-entropy", title="Early stopping watches the validation loss")
ax.legend(fontsize=8, loc="upper center")
ax.grid(alpha=0.3)
savefig(fig, settings, "early_stopping.png")

# %% [markdown]
# ## 7 · Choose on validation, report on test — once
# All choices so far were made on the validation set. Now pick the variant with the best validation
# accuracy and evaluate it, and only it, on the 1,000 test samples. Evaluating all variants on the test
# set and then reporting the best would turn the test set into a second validation set.

# %%
print(f"{'variant':20s} validation accuracy")
for name, r in variants.items():
    print(f"{name:20s} {r['val_accuracy']:.3f}")
chosen = max(variants, key=lambda k: variants[k]["val_accuracy"])
test = variants[chosen]["model"].evaluate(x_test, y_test, return_dict=True)
print(f"\nchosen on validation: {chosen!r}; validation accuracy {variants[chosen]['val_accuracy']:.3f}, "
      f"test accuracy {test['accuracy']:.3f} on {len(x_test)} samples (the 10 % flipped labels cap it near 0.90)")

# %% [markdown]
# Expect the test accuracy to be a little *lower* than the winner's validation accuracy. Picking the
# best of five on 500 validation samples favours the variant that was also a bit lucky on those
# samples; the test set, untouched until now, has no such luck built in. That gap is exactly the
# optimism you would have reported had you chosen on the test set.

# %% [markdown]
# ## Try this
# - Raise L1 to λ₁ = 0.03. Training accuracy collapses: what happened to the informative inputs' weights?
# - Give the unregularised network 2,000 training samples instead of 200. Does it still overfit?
#   (More data is the best regulariser.)
# - Combine L2 with dropout, or early stopping with L1: do the gains add up?
# - In part 1, add `kernel_regularizer=L2(1e-3)` to the large network. Does the wiggle go away?
# - Set `patience=1` in part 6: why does early stopping then sometimes stop far too early?

# %%
blas.restore_original_limits()
print(f"Lesson 08 done in {settings.elapsed():.1f} s; figures in {settings.output}")
