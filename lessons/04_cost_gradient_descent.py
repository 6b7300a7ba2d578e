# %% [markdown]
# # 04 · Cost functions and gradient descent
#
# **Goal.** Measure how wrong a network is with a single number (the *cost* or *loss*), and lower that
# number step by step by walking downhill: gradient descent. See what the learning rate does — too small,
# good, too large — on a loss surface you can look at, and why we train on mini-batches.
#
# **The idea in plain words.** Training means choosing the weights that make the loss small. The loss
# depends on every weight, so it is a landscape over "weight space". The *gradient* ∇L — the vector of
# partial derivatives ∂L/∂wᵢ — points in the direction in which the loss rises fastest. Gradient descent
# takes a small step the other way and repeats:
#
# $$w \leftarrow w - \eta\, \nabla L(w)$$
#
# `η` (eta) is the **learning rate**: how far to step. Too small and training crawls; too large and each
# step overshoots the valley floor and lands higher up the other side, until the loss explodes.

# %%
import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

import minidl
from minidl import SGD, Callback, Dense, Input, Sequential
from lessons._common import savefig, setup

settings = setup("04_cost_gradient_descent")
blas = threadpool_limits(1, user_api="blas")  # small matrices: one BLAS thread beats two fighting for shared cores
rng = np.random.default_rng(settings.seed)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · Two cost functions
# **Mean squared error** for regression (predicting a number, e.g. a split time):
#
# $$\text{MSE} = \frac{1}{N}\sum_{n=1}^{N} (\hat y_n - y_n)^2$$
#
# **Cross-entropy** for classification (predicting probabilities `p` of classes, e.g. scenarios). Only
# the probability given to the *true* class counts:
#
# $$\text{CE} = -\frac{1}{N}\sum_{n=1}^{N} \log p_{n,\,\text{true class}}
# \qquad\text{binary: } -\frac{1}{N}\sum_n \big[y_n \log p_n + (1-y_n)\log(1-p_n)\big]$$
#
# We compute a few values by hand and with minidl's loss objects (`minidl/losses.py`).

# %%
mse = minidl.losses.get("mse")
y_true = np.array([[2.0], [0.5], [1.0]])
y_pred = np.array([[2.5], [0.0], [1.0]])
print(f"MSE by hand: {np.mean((y_pred - y_true) ** 2):.4f}   minidl: {mse(y_true, y_pred):.4f}")

bce = minidl.losses.get("binary_crossentropy")
for p in (0.99, 0.9, 0.5, 0.1, 0.01):
    # the true class is 1: a confident right answer costs almost nothing, a confident wrong one a lot
    print(f"true class 1, predicted p = {p:4.2f}:  binary CE = {-np.log(p):.3f}   "
          f"minidl: {bce(np.array([[1.0]]), np.array([[p]])):.3f}")

cce = minidl.losses.get("sparse_categorical_crossentropy")
p3 = np.array([[0.2, 0.7, 0.1], [1 / 3, 1 / 3, 1 / 3]])
print(f"3 classes, true class 1, p = {p3[0]}: CE = {-np.log(0.7):.4f}   minidl: {cce([1], p3[:1]):.4f}")
print(f"3 classes, know-nothing guess 1/3 each: CE = ln 3 = {np.log(3):.4f}   minidl: {cce([1], p3[1:]):.4f}")

# %% [markdown]
# The last line is a useful sanity check: an untrained classifier with C classes should start with a
# loss near ln C. Below, the two costs as a function of the probability given to the true class:
# cross-entropy punishes a confident mistake without limit, squared error at most by 1.

# %%
p_grid = np.linspace(0.005, 1, 300)
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(p_grid, -np.log(p_grid), lw=2, label="cross-entropy  −log p")
ax.plot(p_grid, (1 - p_grid) ** 2, lw=2, label="squared error  (1 − p)²")
ax.set(xlabel="probability given to the true class", ylabel="loss for one sample", ylim=(0, 5),
       title="A confident wrong answer costs a lot under cross-entropy")
ax.grid(alpha=0.3)
ax.legend()
savefig(fig, settings, "cost_functions.png")

# %% [markdown]
# ## 2 · A loss surface with two parameters
# To *see* a loss surface we need a model with only two parameters: a straight line `ŷ = w·x + b` (one
# minidl `Dense(1)` neuron without activation) fitted by MSE to 100 noisy points. Each point of the
# landscape below is one choice of (w, b); its height (colour) is the MSE on the data.
# The inputs are deliberately not centred (mean 2), which makes the valley long and narrow — the
# typical shape of real loss surfaces, and the reason why standardising inputs helps.

# %%
N = 100
x = rng.normal(2.0, 1.0, size=(N, 1)).astype(np.float32)
y = (1.5 * x - 1.0 + rng.normal(0, 0.5, size=(N, 1))).astype(np.float32)


def loss_surface(w, b):
    """MSE of the line (w, b) on the data, for arrays of w and b (broadcast)."""
    w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
    residual = w[..., None] * x[:, 0] + b[..., None] - y[:, 0]
    return np.mean(residual ** 2, axis=-1)


def make_line_model(learning_rate, w0, b0):
    """A one-neuron minidl model ŷ = w·x + b with chosen starting weights."""
    model = Sequential([Input((1,)), Dense(1)], seed=settings.seed)
    model.compile(SGD(learning_rate), "mse")
    model.set_weights([np.array([[w0]]), np.array([b0])])
    return model


ws, bs = np.meshgrid(np.linspace(-1.5, 4.0, 200), np.linspace(-5.0, 5.0, 200))
surface = loss_surface(ws, bs)
w_best, b_best = np.linalg.lstsq(np.c_[x, np.ones(N)], y, rcond=None)[0][:, 0]
print(f"least-squares optimum: w = {w_best:.3f}, b = {b_best:.3f}, MSE = {loss_surface(w_best, b_best):.3f}")

# %% [markdown]
# ## 3 · The gradient points uphill — steepest ascent
# For this model the gradient has a closed form,
# ∂L/∂w = (2/N) Σ (ŷ − y)·x and ∂L/∂b = (2/N) Σ (ŷ − y); minidl computes the same thing by
# backpropagation (`model.compute_gradients`). We check they agree at one point, then verify the claim
# "the gradient is the direction of steepest ascent": walk a tiny distance from that point in every
# direction and measure how fast the loss rises. The fastest rise is exactly along the gradient,
# and its rate equals the gradient's length ‖∇L‖.

# %%
w0, b0 = -0.5, 3.5
probe = make_line_model(0.0, w0, b0)
probe.compute_gradients(x, y)
grad_minidl = np.array([probe.layers[0].grads["kernel"][0, 0], probe.layers[0].grads["bias"][0]])
residual = w0 * x[:, 0] + b0 - y[:, 0]
grad_hand = np.array([2 * np.mean(residual * x[:, 0]), 2 * np.mean(residual)])
print(f"gradient at (w, b) = ({w0}, {b0}):  by hand {grad_hand},  minidl {grad_minidl}")

angles = np.linspace(-np.pi, np.pi, 361)
step = 1e-3
directions = np.c_[np.cos(angles), np.sin(angles)]  # unit vectors in the (w, b) plane
rise = (loss_surface(w0 + step * directions[:, 0], b0 + step * directions[:, 1]) - loss_surface(w0, b0)) / step
grad_angle = np.arctan2(grad_hand[1], grad_hand[0])
print(f"steepest rise found at {np.degrees(angles[rise.argmax()]):.1f}°, gradient direction "
      f"{np.degrees(grad_angle):.1f}°; rate {rise.max():.3f} vs ‖∇L‖ = {np.linalg.norm(grad_hand):.3f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), width_ratios=(1, 1.6))
cs = axes[0].contour(ws, bs, surface, levels=np.geomspace(0.25, 60, 14), cmap="viridis", linewidths=1)
axes[0].clabel(cs, fontsize=6, fmt="%.1f")
gw, gb = np.meshgrid(np.linspace(-1.2, 3.7, 9), np.linspace(-4.5, 4.5, 9))
res = gw[..., None] * x[:, 0] + gb[..., None] - y[:, 0]
dW, dB = 2 * np.mean(res * x[:, 0], axis=-1), 2 * np.mean(res, axis=-1)
length = np.hypot(dW, dB)
axes[0].quiver(gw, gb, dW / length, dB / length, color="tab:red", width=0.007, scale=12)
axes[0].plot(w_best, b_best, "k*", ms=12, label="minimum")
axes[0].plot(w0, b0, "ks", ms=7, label=f"the point ({w0}, {b0})")
axes[0].set_aspect("equal")  # same scale on both axes, so that right angles look like right angles
axes[0].set(xlabel="weight w", ylabel="bias b", title="MSE contours;\nred arrows = gradient direction (uphill)")
axes[0].legend(loc="lower left", fontsize=8)
axes[1].plot(np.degrees(angles), rise, lw=2)
axes[1].axvline(np.degrees(grad_angle), color="tab:red", ls="--", label="direction of the gradient")
axes[1].axhline(np.linalg.norm(grad_hand), color="grey", ls=":", label="‖∇L‖")
axes[1].set(xlabel="direction of a small step in the (w, b) plane (degrees)",
            ylabel="rate of change of the loss\n(loss per unit step)",
            title=f"From (w, b) = ({w0}, {b0}): the loss rises fastest along ∇L")
axes[1].legend(fontsize=8)
axes[1].grid(alpha=0.3)
savefig(fig, settings, "gradient_steepest_ascent.png")

# %% [markdown]
# The arrows cross the contour lines at right angles: going *along* a contour does not change the loss,
# going across it changes it fastest. Gradient descent walks against the arrows.
#
# ## 4 · Gradient descent with three learning rates
# Each step here uses all 100 points (*full-batch* gradient descent) and minidl's `SGD` optimizer;
# `train_on_batch` does forward, loss, backward and one update. For a quadratic loss like MSE there is a
# sharp limit: with `λ_max` the largest curvature of the surface (the top eigenvalue of its Hessian),
# steps with `η > 2/λ_max` overshoot more than they correct, and the loss grows without bound.

# %%
X1 = np.c_[x[:, 0], np.ones(N)]
hessian = 2 * X1.T @ X1 / N                     # second derivatives of the MSE in (w, b)
lam_max = np.linalg.eigvalsh(hessian).max()
eta_limit = 2 / lam_max
print(f"largest curvature λ_max = {lam_max:.2f}  ⇒ divergence above η = 2/λ_max = {eta_limit:.3f}")

STEPS = 80
learning_rates = {"too small": 0.01, "good": 0.5 * eta_limit, "divergent": 1.03 * eta_limit}
paths, curves = {}, {}
for label, lr in learning_rates.items():
    model = make_line_model(lr, w0, b0)
    path, losses = [], []
    for _ in range(STEPS):
        kernel, bias = model.get_weights()
        path.append((kernel[0, 0], bias[0]))
        losses.append(model.train_on_batch(x, y))  # loss *before* this step's update
    paths[label], curves[label] = np.array(path), np.array(losses)
    print(f"η = {lr:.3f} ({label:9s}): loss {losses[0]:.2f} → {losses[-1]:.3g} after {STEPS} steps")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
axes[0].contour(ws, bs, surface, levels=np.geomspace(0.25, 60, 14), cmap="viridis", linewidths=0.8)
colors = {"too small": "tab:blue", "good": "tab:green", "divergent": "tab:red"}
SHOWN = 30  # of the divergent path draw only the first steps: later ones leave the picture
for label in ("divergent", "good", "too small"):  # the short "too small" path is drawn last, on top
    path, lr = paths[label][:SHOWN] if label == "divergent" else paths[label], learning_rates[label]
    axes[0].plot(path[:, 0], path[:, 1], "o-", ms=3, lw=0.9, color=colors[label], label=f"η = {lr:.3f} ({label})")
axes[0].plot(w0, b0, "ks", ms=7, label="start")
axes[0].plot(w_best, b_best, "k*", ms=12, label="minimum")
axes[0].set(xlim=(ws.min(), ws.max()), ylim=(bs.min(), bs.max()), xlabel="weight w", ylabel="bias b",
            title=f"{STEPS} full-batch steps (divergent: first {SHOWN})")
axes[0].legend(fontsize=7, loc="lower left")
for label, losses in curves.items():
    axes[1].semilogy(losses, color=colors[label], lw=2, label=f"η = {learning_rates[label]:.3f} ({label})")
axes[1].axhline(loss_surface(w_best, b_best), color="k", ls=":", label="lowest possible MSE")
axes[1].set(xlabel="gradient-descent step", ylabel="MSE on the data (log scale)", title="Loss curves")
axes[1].legend(fontsize=8)
axes[1].grid(alpha=0.3, which="both")
savefig(fig, settings, "learning_rate_paths.png")

# %% [markdown]
# The small step crawls down the steep wall and has hardly started along the valley floor. The good
# one drops into the valley and then follows it. The divergent one zig-zags across the narrow valley,
# each time a little higher: its loss curve rises exponentially. In practice the same three shapes of
# loss curve tell you whether to raise or lower the learning rate.
#
# ## 5 · Mini-batches: many cheap, noisy steps
# Computing the gradient on all N samples before every step is expensive when N is a million genotype
# images. **Mini-batch** (stochastic) gradient descent estimates it from a small random batch and steps
# right away: one pass through the data (an *epoch*) gives N/batch_size updates instead of one. Each
# estimate is noisy, so the path wobbles, but it gets far more steps for the same amount of computation.
# `model.fit(batch_size=...)` shuffles the data every epoch and walks through it batch by batch; a small
# callback records the weights after every update.

# %%
class RecordWeights(Callback):
    """Keep (w, b) after every update, to draw the path."""

    def on_train_begin(self, logs=None):
        kernel, bias = self.model.get_weights()
        self.path = [(kernel[0, 0], bias[0])]

    def on_train_batch_end(self, batch, logs=None):
        kernel, bias = self.model.get_weights()
        self.path.append((kernel[0, 0], bias[0]))


EPOCHS = 8 if settings.quick else 30
batch_sizes = {"full batch (100)": 100, "mini-batch of 10": 10, "single samples (1)": 1}
lr = 0.05
records = {}
for label, bs_ in batch_sizes.items():
    model = make_line_model(lr, w0, b0)
    recorder = RecordWeights()
    model.fit(x, y, batch_size=bs_, epochs=EPOCHS, verbose=0, callbacks=[recorder])
    path = np.array(recorder.path)
    records[label] = (path, loss_surface(path[:, 0], path[:, 1]), N // bs_)
    print(f"{label:20s}: {len(path) - 1:5d} updates in {EPOCHS} epochs, "
          f"final MSE on all data {records[label][1][-1]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
axes[0].contour(ws, bs, surface, levels=np.geomspace(0.25, 60, 14), cmap="viridis", linewidths=0.8)
for (label, (path, losses, per_epoch)), c in zip(records.items(), ("tab:blue", "tab:orange", "tab:purple")):
    axes[0].plot(path[:, 0], path[:, 1], "-", lw=0.8, color=c, label=label)
    epochs_axis = np.arange(len(losses)) / per_epoch  # one update = 1/per_epoch of a pass through the data
    axes[1].semilogy(epochs_axis, losses, color=c, lw=1.5, label=label)
axes[0].plot(w0, b0, "ks", ms=7)
axes[0].plot(w_best, b_best, "k*", ms=12)
axes[0].set(xlabel="weight w", ylabel="bias b", title=f"Paths with η = {lr}, {EPOCHS} epochs")
axes[0].legend(fontsize=8, loc="lower left")
axes[1].axhline(loss_surface(w_best, b_best), color="k", ls=":", label="lowest possible MSE")
axes[1].set(xlabel="epochs (passes through the 100 samples)", ylabel="MSE on all data (log scale)",
            title="Same data seen, many more (noisier) steps")
axes[1].legend(fontsize=8)
axes[1].grid(alpha=0.3, which="both")
savefig(fig, settings, "minibatch_vs_full_batch.png")

# %% [markdown]
# For the same number of passes through the data, mini-batches get much closer to the minimum. Single
# samples get there fastest at first but never settle: the noise of one-sample gradients keeps them
# jittering around the minimum (a smaller learning rate, or a decaying one — lesson 09 — calms this).
# Batches of 16–256 are the usual compromise, and they also let the computer process many samples in
# one matrix product.
#
# ## Try this
# - Centre the inputs (`x = x - x.mean()`) and rerun part 4. What happens to the valley's shape, to
#   `λ_max`, and to how fast the "good" learning rate converges?
# - Set the "good" learning rate to exactly `eta_limit` (= 2/λ_max). What does the path do?
# - In part 1, compute the binary cross-entropy for p = 1e-9. Why does minidl clip probabilities at 1e-7?
# - In part 5, give the single-sample run a learning rate of 0.005 and more epochs. Does it settle?

# %%
blas.restore_original_limits()
print(f"Lesson 04 done in {settings.elapsed():.1f} s; figures in {settings.output}")
