# %% [markdown]
# # 05 · Backpropagation by hand
#
# **Goal.** Compute every gradient of a two-layer network yourself, with nothing but NumPy and the chain
# rule, and check the result three ways: against minidl's backward pass, against numerical gradients
# (`minidl.gradcheck`), and by training with your own gradients and getting the same weights as minidl.
#
# **The idea in plain words.** Gradient descent (lesson 04) needs ∂L/∂w for every weight. The loss
# depends on a first-layer weight only *through* a chain of intermediate results — the layer's score,
# its activation, the next layer's score, the probabilities. The **chain rule** says the derivative
# along a chain is the product of the local derivatives of each link. **Backpropagation** computes these
# products from the loss backwards, re-using each intermediate result, so the whole gradient costs about
# as much as one more forward pass.
#
# The network: inputs `X` (N × 2) → 5 sigmoid units → 3 softmax outputs, cross-entropy loss.
#
# | forward | backward (chain rule, from the loss back) |
# |---|---|
# | `z1 = X·W1 + b1` | `dW1 = Xᵀ·dz1`,  `db1 = Σₙ dz1` |
# | `a1 = σ(z1)` | `dz1 = da1 ⊙ a1 ⊙ (1 − a1)`   (σ′ = σ(1 − σ)) |
# | `z2 = a1·W2 + b2` | `dW2 = a1ᵀ·dz2`,  `db2 = Σₙ dz2`,  `da1 = dz2·W2ᵀ` |
# | `p = softmax(z2)` | `dz2 = (p − Y)/N`   (softmax and cross-entropy together) |
# | `L = −(1/N) Σₙ log p[n, yₙ]` | start: ∂L/∂L = 1 |
#
# Here `dA` is shorthand for ∂L/∂A, an array of the same shape as `A`, `⊙` is element-wise
# multiplication and `Y` is the one-hot matrix of the labels.

# %%
import inspect

import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

import minidl
from minidl import SGD, Dense, Input, Sequential
from minidl.gradcheck import check_layer, numerical_gradient, relative_error
from lessons._common import savefig, setup
from lessons.toydata import spiral

settings = setup("05_backprop_by_hand")
blas = threadpool_limits(1, user_api="blas")  # small matrices: one BLAS thread beats two fighting for shared cores
np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## 1 · A network and a small batch
# We let minidl create the network (and its random starting weights), then copy the weights out to work
# on them by hand. Everything is converted to float64 so that rounding errors do not hide real mistakes.

# %%
N = 12
X, y = spiral(N, n_classes=3, rng=settings.seed)
X = X.astype(np.float64)
Y = np.eye(3)[y]  # one-hot: row n has a 1 in column y[n]

model = Sequential([Input((2,)), Dense(5, activation="sigmoid"), Dense(3, activation="softmax")],
                   seed=settings.seed)
model.compile(SGD(0.5), "sparse_categorical_crossentropy")
for layer in model.layers:
    layer.cast(np.float64)
W1, b1, W2, b2 = model.get_weights()
print("shapes: X", X.shape, " W1", W1.shape, " b1", b1.shape, " W2", W2.shape, " b2", b2.shape)

# %% [markdown]
# ## 2 · Forward pass, keeping every intermediate result
# Backpropagation needs the intermediate values, so we keep them (minidl's layers do the same: `Dense`
# stores its input `self._x`, the sigmoid stores its output).

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))  # minus the row maximum: no overflow
    return e / e.sum(axis=1, keepdims=True)


def forward(X, W1, b1, W2, b2):
    z1 = X @ W1 + b1          # (N, 5)  scores of the hidden units
    a1 = sigmoid(z1)          # (N, 5)  their outputs
    z2 = a1 @ W2 + b2         # (N, 3)  class scores (logits)
    p = softmax(z2)           # (N, 3)  class probabilities
    return z1, a1, z2, p


z1, a1, z2, p = forward(X, W1, b1, W2, b2)
loss = -np.mean(np.log(p[np.arange(N), y]))
print(f"loss by hand {loss:.6f}   minidl {model.evaluate(X, y, batch_size=N):.6f}   "
      f"(untrained: close to ln 3 = {np.log(3):.4f})")

# %% [markdown]
# The same computation drawn as a graph: black arrows carry values forward, red arrows carry
# gradients back. Each red arrow is one line of the backward pass below.

# %%
def draw_graph(ax, shapes):
    nodes = [("X", "input", shapes["X"]), ("z1", "X·W1 + b1", shapes["z1"]), ("a1", "σ(z1)", shapes["a1"]),
             ("z2", "a1·W2 + b2", shapes["z2"]), ("p", "softmax(z2)", shapes["p"]), ("L", "−mean log p[y]", "scalar")]
    xs = np.arange(len(nodes)) * 2.2
    box = dict(boxstyle="round,pad=0.4", fc="white", ec="k")
    for x, (name, formula, shape) in zip(xs, nodes):
        ax.text(x, 0, f"{name}\n{formula}\n{shape}", ha="center", va="center", fontsize=9, bbox=box)
    for x, name in ((xs[1], "W1, b1"), (xs[3], "W2, b2")):
        ax.text(x, 1.6, name, ha="center", va="center", fontsize=9, bbox=dict(box, fc="lightyellow"))
        ax.annotate("", (x, 0.55), (x - 0.25, 1.3), arrowprops=dict(arrowstyle="->", color="k"))
    for a, b in zip(xs[:-1], xs[1:]):  # forward arrows
        ax.annotate("", (b - 0.85, 0.15), (a + 0.85, 0.15), arrowprops=dict(arrowstyle="->", color="k", lw=1.5))
    back = {4: "dz2 = (p − Y)/N\n(skips p: fused)", 3: "da1 = dz2·W2ᵀ", 2: "dz1 = da1 ⊙ a1(1 − a1)"}
    spans = {4: (xs[5], xs[3]), 3: (xs[3], xs[2]), 2: (xs[2], xs[1])}
    for k, (start, end) in spans.items():  # backward arrows, right to left
        ax.annotate("", (end + 0.6, -0.7), (start - 0.6, -0.7),
                    arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.5))
        ax.text((start + end) / 2, -0.85, back[k], ha="center", va="top", fontsize=8.5, color="tab:red")
    for x, text in ((xs[1], "dW1 = Xᵀ·dz1\ndb1 = Σₙ dz1"), (xs[3], "dW2 = a1ᵀ·dz2\ndb2 = Σₙ dz2")):
        ax.annotate("", (x + 0.25, 1.3), (x + 0.25, 0.55), arrowprops=dict(arrowstyle="->", color="tab:red"))
        ax.text(x + 0.45, 1.0, text, ha="left", va="center", fontsize=8.5, color="tab:red")
    ax.set(xlim=(-1, xs[-1] + 1), ylim=(-1.9, 2.1))
    ax.axis("off")


fig, ax = plt.subplots(figsize=(14, 4))
draw_graph(ax, {"X": X.shape, "z1": z1.shape, "a1": a1.shape, "z2": z2.shape, "p": p.shape})
ax.set_title("Forward (black) and backward (red) through the two-layer network; shapes for this batch")
savefig(fig, settings, "computation_graph.png")

# %% [markdown]
# ## 3 · Backward pass, one link of the chain at a time
# Start at the loss and walk back. Each line multiplies the gradient arriving from above by the local
# derivative of one operation.

# %%
def backward_by_hand(X, Y, a1, p, W2):
    N = len(X)
    dz2 = (p - Y) / N               # softmax + cross-entropy: the error of each probability, averaged
    dW2 = a1.T @ dz2                # each weight: its input times the error it fed, summed over samples
    db2 = dz2.sum(axis=0)           # a bias's input is always 1
    da1 = dz2 @ W2.T                # send the error back through the same connections
    dz1 = da1 * a1 * (1 - a1)       # through the sigmoid: multiply by its slope σ(z)(1 − σ(z))
    dW1 = X.T @ dz1                 # same rule as dW2, one layer down
    db1 = dz1.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


hand = backward_by_hand(X, Y, a1, p, W2)
for name, g in hand.items():
    print(f"∂L/∂{name} shape {g.shape}")

# %% [markdown]
# ## 4 · Check 1 — minidl's backward pass
# `model.compute_gradients(X, y)` runs minidl's forward, loss and backward without changing any weight;
# afterwards each layer's `grads` dictionary holds ∂L/∂kernel and ∂L/∂bias.

# %%
model.compute_gradients(X, y)
dense1, dense2 = model.layers
from_minidl = {"W1": dense1.grads["kernel"], "b1": dense1.grads["bias"],
               "W2": dense2.grads["kernel"], "b2": dense2.grads["bias"]}
errors_minidl = {k: relative_error(hand[k], from_minidl[k]) for k in hand}
for k, e in errors_minidl.items():
    print(f"∂L/∂{k}: relative error hand vs minidl = {e:.1e}")

# %% [markdown]
# minidl's `Dense` backward is the same three lines as ours. Compare side by side: `dz` is our `dz2`
# (or `dz1`), `x` is the layer's input (`a1` or `X`), and the value returned is the `da1` sent to the
# layer below. `_store_grad` only adds a regularization term when there is one (lesson 08).

# %%
def side_by_side(left, right, width=58):
    """Print two code listings next to each other (comments dropped to save width)."""
    a = left.rstrip().splitlines()
    b = [line.split("  #")[0].rstrip() for line in right.rstrip().splitlines()]
    print(f"{'minidl/layers/dense.py':{width}s}| this lesson")
    print("-" * width + "+" + "-" * width)
    for i in range(max(len(a), len(b))):
        print(f"{(a[i] if i < len(a) else ''):{width}s}| {b[i] if i < len(b) else ''}")


side_by_side(inspect.getsource(Dense.backward_linear), inspect.getsource(backward_by_hand))

# %% [markdown]
# And the two other links — the sigmoid's slope and the fused softmax + cross-entropy gradient — in
# `minidl/activations.py` and `minidl/losses.py`:

# %%
print(inspect.getsource(minidl.activations.SigmoidFunction.backward))
print(inspect.getsource(minidl.losses.CategoricalCrossentropy.fused))

# %% [markdown]
# ## 5 · Check 2 — numerical gradients
# A derivative is a slope: nudge one weight by ±h, recompute the loss, and divide the change by 2h
# (the *centred difference*, error ∝ h²). `minidl.gradcheck.numerical_gradient` does this for every
# element of an array, in place. It costs two forward passes *per weight* — far too slow for training,
# perfect for checking. The relative error `‖a − n‖ / (‖a‖ + ‖n‖)` reads: below 1e-7 correct,
# above 1e-3 a bug.

# %%
def loss_of_model():
    return model.evaluate(X, y, batch_size=N)


numeric = {"W1": numerical_gradient(loss_of_model, dense1.params["kernel"]),
           "b1": numerical_gradient(loss_of_model, dense1.params["bias"]),
           "W2": numerical_gradient(loss_of_model, dense2.params["kernel"]),
           "b2": numerical_gradient(loss_of_model, dense2.params["bias"])}
errors_numeric = {k: relative_error(hand[k], numeric[k]) for k in hand}
for k, e in errors_numeric.items():
    print(f"∂L/∂{k}: relative error hand vs numerical = {e:.1e}")

# %% [markdown]
# minidl's own tests use `check_layer`, which does the same for one layer on its own (with a random
# "loss" `Σ y ⊙ R`) and also checks the gradient sent to the input:

# %%
print("check_layer(Dense(4, 'sigmoid')):",
      {k: f"{v:.1e}" for k, v in check_layer(Dense(4, activation="sigmoid", seed=1), X[:6]).items()})
print("check_layer(Dense(4, 'relu'))   :",
      {k: f"{v:.1e}" for k, v in check_layer(Dense(4, activation="relu", seed=1), X[:6]).items()})

# %% [markdown]
# **How big should h be?** Too large and the slope is measured over a curved stretch (error ∝ h²); too
# small and the two losses agree in almost all their digits, so their difference is mostly rounding
# noise (error ∝ machine precision / h). The best h sits in between — about 1e-5 in float64, but 1e-2
# in float32, where the error never gets small. That is why gradient checks run in float64.

# %%
steps = np.geomspace(1e-1, 1e-11, 21)
sweep = {}
for dtype in (np.float64, np.float32):
    probe = Sequential([Input((2,)), Dense(5, activation="sigmoid"), Dense(3, activation="softmax")])
    probe.compile("sgd", "sparse_categorical_crossentropy")
    for layer in probe.layers:
        layer.cast(dtype)
    probe.set_weights([W1, b1, W2, b2])
    Xd = X.astype(dtype)
    sweep[np.dtype(dtype).name] = [
        relative_error(hand["W1"], numerical_gradient(lambda: probe.evaluate(Xd, y, batch_size=N),
                                                      probe.layers[0].params["kernel"], h=h))
        for h in steps]
    best = int(np.argmin(sweep[np.dtype(dtype).name]))
    print(f"{np.dtype(dtype).name}: best h = {steps[best]:.0e}, relative error {sweep[np.dtype(dtype).name][best]:.1e}")

# %% [markdown]
# ## 6 · Check 3 — train with your own gradients
# If our gradients are right, plain gradient descent with them must give *exactly* the weights minidl's
# `SGD` reaches, step after step.

# %%
STEPS = 100 if settings.quick else 2000
lr = 0.5
Wh = [w.copy() for w in (W1, b1, W2, b2)]  # our own copy of the starting weights
losses_hand, losses_minidl = [], []
for _ in range(STEPS):
    z1, a1, z2, p = forward(X, *Wh)
    losses_hand.append(-np.mean(np.log(p[np.arange(N), y])))
    g = backward_by_hand(X, Y, a1, p, Wh[2])
    for w, dw in zip(Wh, (g["W1"], g["b1"], g["W2"], g["b2"])):
        w -= lr * dw                      # the gradient-descent step of lesson 04
    losses_minidl.append(model.train_on_batch(X, y))
difference = max(float(np.abs(a - b).max()) for a, b in zip(Wh, model.get_weights()))
accuracy = float(np.mean(forward(X, *Wh)[3].argmax(axis=1) == y))
print(f"after {STEPS} steps: loss by hand {losses_hand[-1]:.5f}, minidl {losses_minidl[-1]:.5f}; "
      f"largest weight difference {difference:.1e}; training accuracy {accuracy:.2f} on the {N} points")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
names = list(hand)
pos = np.arange(len(names))
axes[0].bar(pos - 0.2, [max(errors_minidl[k], 1e-18) for k in names], 0.4, label="hand vs minidl backward")
axes[0].bar(pos + 0.2, [errors_numeric[k] for k in names], 0.4, label="hand vs numerical (h = 1e-6)")
axes[0].axhline(1e-7, color="tab:green", ls="--", lw=1, label="1e-7: correct")
axes[0].axhline(1e-3, color="tab:red", ls="--", lw=1, label="1e-3: a bug")
for i, k in enumerate(names):
    if errors_minidl[k] == 0:  # log scale cannot show 0: say it in words
        axes[0].text(i - 0.2, 3e-18, "exactly 0", rotation=90, ha="center", va="bottom", fontsize=7)
axes[0].set_yscale("log")
axes[0].set_ylim(1e-18, 1)
axes[0].set_xticks(pos, [f"∂L/∂{k}" for k in names])
axes[0].set(ylabel="relative error (log scale)", title="Our gradients agree with both checks")
axes[0].legend(fontsize=7, loc="upper left")
for name, errs in sweep.items():
    axes[1].loglog(steps, errs, "o-", ms=3, label=name)
axes[1].axvline(1e-6, color="grey", ls=":", lw=1, label="h = 1e-6 (the default)")
axes[1].invert_xaxis()
axes[1].set(xlabel="step h of the centred difference (log scale, smaller →)",
            ylabel="relative error of ∂L/∂W1",
            title="Numerical gradient: too large h bends,\ntoo small h drowns in rounding")
axes[1].legend()
axes[1].grid(alpha=0.3, which="both")
axes[2].plot(losses_hand, lw=3, alpha=0.5, label="our gradients + our update")
axes[2].plot(losses_minidl, "k--", lw=1, label="minidl SGD (train_on_batch)")
axes[2].set(xlabel="gradient-descent step (full batch)", ylabel="cross-entropy on the 12 points",
            title=f"Same training curve (η = {lr})")
axes[2].legend()
axes[2].grid(alpha=0.3)
fig.tight_layout()
savefig(fig, settings, "gradient_checks.png")

# %% [markdown]
# Hand vs minidl errors are at the level of float64 rounding (≈1e-16) because the two compute the very
# same products; hand vs numerical is ≈1e-9–1e-10, the accuracy of the centred difference.
#
# ## Try this
# - Introduce a bug: drop the `/ N` in `dz2`, or use `a1 * (1 - a1)` on the wrong side. Which checks catch
#   it, and how large do the relative errors become?
# - Replace the sigmoid by tanh (derivative `1 − a1²`) in both `forward` and `backward_by_hand`, and
#   in the minidl model. Do all checks still pass?
# - Run `check_layer` on `Dense(4, activation="relu")` with inputs exactly at 0. Why can ReLU's check
#   fail at a kink even when the code is right?
# - Count the multiplications in the backward pass and compare with the forward pass.

# %%
blas.restore_original_limits()
print(f"Lesson 05 done in {settings.elapsed():.1f} s; figures in {settings.output}")
