# %% [markdown]
# # 03 · A neuron and a network forward pass
#
# **Goal.** Compute what one artificial neuron, one layer and a small network output — first by hand
# with NumPy, then with minidl — and check that the numbers are identical. Then turn a network's raw
# scores into class probabilities with softmax.
#
# **The idea in plain words.** A neuron takes a few numbers `x₁ … xₙ` (for us, later: summary
# statistics of a genomic region, such as the number of segregating sites or Tajima's D), multiplies
# each by a weight saying how much it matters, adds them up with a bias, and passes the total through
# an *activation function* `f`:
#
# $$\text{out} = f(w \cdot x + b) = f\Big(\sum_i w_i x_i + b\Big)$$
#
# The sum `z = w·x + b` is a straight-line (linear) score; `f` bends it. Without `f`, stacking neurons
# would only ever give another straight line.
#
# A **layer** is many neurons reading the same inputs, each with its own weights. Written with a
# weight matrix `W` (one row per neuron) and a bias vector `b`, the activations `a` of the previous layer
# become
#
# $$a^{(\ell)} = \sigma\big(W^{(\ell)} a^{(\ell-1)} + b^{(\ell)}\big)$$
#
# A **network** repeats this layer after layer; the *forward pass* is nothing more than this repetition.

# %%
import inspect

import numpy as np
import matplotlib.pyplot as plt

import minidl
from minidl import Dense, Input, Sequential
from lessons._common import savefig, setup

settings = setup("03_neuron_forward")
rng = np.random.default_rng(settings.seed)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · One neuron, by hand
# Three inputs, three weights, one bias. We pick the numbers ourselves so you can redo the sum on paper.
# The activation is the sigmoid `σ(z) = 1 / (1 + e^(−z))`, which squashes any score into (0, 1).

# %%
x = np.array([0.5, -1.2, 3.0])  # e.g. three standardised summary statistics of one genomic window
w = np.array([0.8, 0.1, -0.4])  # how strongly each input pushes the neuron up (+) or down (−)
b = 0.2                          # the neuron's baseline, before it has seen any input

z = w @ x + b                    # the weighted vote: 0.8·0.5 + 0.1·(−1.2) − 0.4·3.0 + 0.2
out_by_hand = 1 / (1 + np.exp(-z))
print(f"z = w·x + b = {z:.4f}")
print(f"out = σ(z)  = {out_by_hand:.6f}")

# %% [markdown]
# The same neuron as a minidl `Dense` layer with one unit. minidl (like Keras) stores the kernel with
# shape `(inputs, units)` and processes a *batch* of samples at once, so `x` becomes a 1 × 3 matrix.

# %%
neuron = Dense(1, activation="sigmoid")
neuron.build((3,))                               # create kernel (3, 1) and bias (1,)
neuron.set_weights([w.reshape(3, 1), np.array([b])])  # overwrite the random start with our numbers
out_minidl = neuron.forward(x.reshape(1, 3).astype(np.float32))
print(f"minidl Dense(1, 'sigmoid') output: {out_minidl[0, 0]:.6f}   (by hand: {out_by_hand:.6f})")
assert np.isclose(out_minidl[0, 0], out_by_hand, atol=1e-6)

# %% [markdown]
# What minidl ran is `Dense.forward` in `minidl/layers/dense.py` — the same sum, for a whole batch:

# %%
print(inspect.getsource(Dense.forward))

# %% [markdown]
# ### Activation functions
# The choice of `f` decides how the neuron responds to its score `z`. Sigmoid and tanh saturate (flat for
# large |z|); ReLU is zero for negative scores and the identity otherwise. Every curve below is computed
# by minidl's own activation functions.

# %%
z_grid = np.linspace(-5, 5, 201)
fig, ax = plt.subplots(figsize=(6, 3.6))
styles = {"linear": dict(ls="--", lw=1.2, color="grey"), "sigmoid": dict(lw=2), "tanh": dict(lw=2),
          "relu": dict(lw=2.5, ls=(0, (4, 2)))}  # relu dashed: it coincides with linear for z > 0
for name, style in styles.items():
    ax.plot(z_grid, minidl.activations.get(name).forward(z_grid), label=name, **style)
ax.axvline(z, color="grey", ls=":", lw=1)
ax.annotate(f"our neuron: z = {z:.2f}\nσ(z) = {out_by_hand:.3f}", (z, out_by_hand), xytext=(0.3, -1.8),
            arrowprops=dict(arrowstyle="->", color="grey"), fontsize=8)
ax.set(xlabel="score z = w·x + b (no unit)", ylabel="output f(z)", ylim=(-2.2, 3.2),
       title="Activation functions: how a neuron turns its score into an output")
ax.grid(alpha=0.3)
ax.legend()
savefig(fig, settings, "activation_functions.png")

# %% [markdown]
# ## 2 · A layer: many neurons at once, the matrix form
# Four neurons reading the same three inputs. Writing each neuron's weights as a **row** of a 4 × 3
# matrix `W`, the four scores are the matrix–vector product `W x + b` — four dot products in one go.
#
# minidl and Keras store the transpose: `kernel` has shape `(inputs, units)` = 3 × 4 and a batch of
# samples stacked as **rows** of `X` (shape `N × 3`) is transformed as `X · kernel + b`. It is the same
# arithmetic; only the bookkeeping differs (`kernel = Wᵀ`). We check that both give the same numbers.

# %%
W = rng.normal(0, 0.5, size=(4, 3))   # textbook layout: one row per neuron
b_layer = rng.normal(0, 0.1, size=4)

a_textbook = 1 / (1 + np.exp(-(W @ x + b_layer)))          # σ(W a + b) for one sample (a column vector)

layer = Dense(4, activation="sigmoid")
layer.build((3,))
layer.set_weights([W.T, b_layer])                          # Keras layout: kernel = Wᵀ, shape (3, 4)
a_minidl = layer.forward(x.reshape(1, 3).astype(np.float32))[0]
print("σ(W x + b), textbook:", a_textbook)
print("minidl Dense(4)     :", a_minidl)
print("kernel shape in minidl:", layer.params["kernel"].shape, "  textbook W shape:", W.shape)
assert np.allclose(a_textbook, a_minidl, atol=1e-6)

# %% [markdown]
# ## 3 · A small network, layer by layer
# A classifier that could read 6 summary statistics and choose between 3 demographic scenarios:
# 6 inputs → 16 ReLU → 8 ReLU → 3 scores turned into probabilities by softmax. We push a batch of 5
# samples through it by hand, printing the shape after each step, then let minidl do the same.
# (The weights are random: the network has not learned anything yet.)

# %%
model = Sequential([Input((6,)), Dense(16, activation="relu"), Dense(8, activation="relu"),
                    Dense(3, activation="softmax")], seed=settings.seed)
model.summary()

batch = rng.normal(size=(5, 6)).astype(np.float32)  # 5 samples × 6 statistics


def softmax(scores):
    # subtracting the row maximum changes nothing mathematically but prevents exp() from overflowing
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


activations = {"relu": lambda z: np.maximum(z, 0), "softmax": softmax}
a = batch
print(f"input                  a0: {a.shape}")
for i, lay in enumerate(model.layers, start=1):
    kernel, bias = lay.get_weights()
    z = a @ kernel + bias                       # every sample × every neuron in one matrix product
    a = activations[lay.activation.name](z)
    print(f"layer {i} ({lay.activation.name:7s}) z{i}, a{i}: {z.shape}   kernel {kernel.shape}, bias {bias.shape}")
by_hand = a
by_minidl = model.predict(batch)
print("largest difference between hand and minidl:", float(np.abs(by_hand - by_minidl).max()))
print("probabilities (rows sum to 1):\n", by_minidl, "\nrow sums:", by_minidl.sum(axis=1))

# %% [markdown]
# The number of parameters in the summary is exactly the sizes of these matrices:
# (6 × 16 + 16) + (16 × 8 + 8) + (8 × 3 + 3) = 112 + 136 + 27 = 275.

# %% [markdown]
# ## 4 · Softmax: from scores to class probabilities
# The last layer gives one real-valued score `zₖ` per class ("logits"). Softmax turns them into
# probabilities that are positive and sum to 1:
#
# $$p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}$$
#
# The biggest score gets the biggest probability, but not all of it: the *differences* between scores
# decide how confident the prediction is. Adding the same constant to every score changes nothing;
# multiplying all scores by a large factor makes the prediction more and more certain.

# %%
classes = ["constant size", "bottleneck", "expansion"]
scores = np.array([1.0, 2.5, 0.3])
probs = softmax(scores[None, :])[0]
print("scores:", scores, "→ probabilities:", probs)
print("scores + 100 give the same probabilities:", softmax(scores[None, :] + 100)[0])

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
axes[0].bar(classes, scores, color="tab:grey")
axes[0].set(title="1. scores from the last layer (logits)", ylabel="score z (no unit)")
axes[1].bar(classes, probs, color=["tab:blue", "tab:orange", "tab:green"])
for k, p in enumerate(probs):
    axes[1].text(k, p + 0.02, f"{p:.2f}", ha="center")
axes[1].set(title="2. softmax: probabilities summing to 1", ylabel="probability", ylim=(0, 1.05))
# scaling the scores (dividing by a "temperature") changes confidence but never the ranking
factors = np.linspace(0, 4, 81)
curve = softmax(factors[:, None] * scores[None, :])
for k, name in enumerate(classes):
    axes[2].plot(factors, curve[:, k], label=name, lw=2)
axes[2].axvline(1, color="grey", ls=":", lw=1)
axes[2].set(title="3. same scores multiplied by a factor", xlabel="factor applied to all scores",
            ylabel="probability", ylim=(0, 1.02))
axes[2].legend(fontsize=8)
for ax in axes[:2]:
    ax.tick_params(axis="x", labelsize=8)
fig.suptitle("Softmax turns a network's scores into class probabilities", y=1.03)
savefig(fig, settings, "softmax.png")

# %% [markdown]
# At factor 0 every class gets 1/3 — the network knows nothing; that is also why an untrained
# classifier's cross-entropy is close to ln(3) ≈ 1.10 (lesson 04).
#
# ## Try this
# - Change `w` in part 1 so that the neuron's output is above 0.9. Which input has the most leverage?
# - Replace `"sigmoid"` by `"tanh"` in part 1: can the output now be negative?
# - In part 3, feed the batch twice (`np.vstack([batch, batch])`) and check that the per-sample outputs
#   do not change: every sample goes through the network independently.
# - Add 1000 to every score before `softmax` *without* subtracting the row maximum. What goes wrong?
# - Count the parameters of a network 100 → 64 → 32 → 2 by hand, then check with `model.summary()`.

# %%
print(f"Lesson 03 done in {settings.elapsed():.1f} s; figures in {settings.output}")
