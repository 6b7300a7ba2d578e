# %% [markdown]
# # 07 · A neural-network playground: decision boundaries and vanishing gradients
#
# **Goal.** See what neurons, layers and activation functions *do*, on 2-D data you can look at —
# the same experiments as the TensorFlow Playground, but with a network whose every line you can read
# (`minidl/layers/dense.py`, `minidl/model.py`).
#
# **The idea in plain words.** One neuron computes `out = f(w·x + b)`: a weighted vote of its inputs,
# squashed by an activation `f`. Its decision boundary `w·x + b = 0` is a straight line. A *layer* is many
# neurons side by side, `a = f(W·x + b)`; stacking layers bends and folds the input space so that a
# straight line in the last layer becomes a curved boundary in the original space.
#
# **Vanishing gradients.** Backpropagation multiplies, layer after layer, by the derivative of the
# activation. The sigmoid's derivative is at most 1/4, so after 8 sigmoid layers the gradient reaching
# the first layer can be ~(1/4)⁸ ≈ 10⁻⁵ of what the last layer sees: the first layers barely learn.
# ReLU's derivative is 1 where the unit is active, so the gradient survives.

# %%
import numpy as np
import matplotlib.pyplot as plt

from minidl import Adam, Dense, Input, Sequential
from lessons._common import savefig, setup
from lessons.toydata import PROBLEMS

settings = setup("07_playground")
rng = np.random.default_rng(settings.seed)
EPOCHS = 40 if settings.quick else 300
N = 200 if settings.quick else 600

# %% [markdown]
# ## 1 · Four problems, three networks
# A single neuron (logistic regression), one hidden layer of 8 ReLUs, and two hidden layers of 16.
# Each network is trained on 75 % of the points and its accuracy is measured on the other 25 %.

# %%
def make_network(hidden, n_classes, seed):
    layers = [Input((2,))] + [Dense(h, activation="relu") for h in hidden]
    layers.append(Dense(n_classes, activation="softmax"))
    model = Sequential(layers, seed=seed)
    model.compile(Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


architectures = {"1 neuron": [], "1 hidden layer (8)": [8], "2 hidden layers (16, 16)": [16, 16]}
results = {}
for p_name, make in PROBLEMS.items():
    x, y = make(N, rng=rng)
    n_train = int(0.75 * len(x))
    for a_name, hidden in architectures.items():
        model = make_network(hidden, int(y.max()) + 1, settings.seed)
        history = model.fit(x[:n_train], y[:n_train], epochs=EPOCHS, batch_size=32, verbose=0,
                            validation_data=(x[n_train:], y[n_train:]))
        results[p_name, a_name] = (model, x, y, history)
        print(f"{p_name:8s} {a_name:26s} test accuracy {history.history['val_accuracy'][-1]:.2f}")

# %% [markdown]
# The decision boundary: colour every point of a grid by the class the network predicts there.

# %%
def plot_boundary(ax, model, x, y, title):
    lo, hi = x.min(axis=0) - 0.3, x.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    pred = model.predict(grid, batch_size=4096).argmax(axis=1).reshape(gx.shape)
    ax.contourf(gx, gy, pred, alpha=0.3, cmap="viridis", levels=np.arange(pred.max() + 2) - 0.5)
    ax.scatter(x[:, 0], x[:, 1], c=y, s=6, cmap="viridis", edgecolors="none")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(len(architectures), len(PROBLEMS), figsize=(3 * len(PROBLEMS), 3 * len(architectures)))
for j, p_name in enumerate(PROBLEMS):
    for i, a_name in enumerate(architectures):
        model, x, y, history = results[p_name, a_name]
        plot_boundary(axes[i, j], model, x, y,
                      f"{p_name} · {a_name}\ntest acc {history.history['val_accuracy'][-1]:.2f}")
fig.suptitle("Decision boundaries: depth lets the boundary bend")
savefig(fig, settings, "decision_boundaries.png")

# %% [markdown]
# ## 2 · Learning curves
# Training and validation loss per epoch for the spiral problem. When validation loss stops falling
# while training loss keeps going down, the network has started to memorise (lesson 08).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for a_name in architectures:
    h = results["spiral", a_name][3].history
    axes[0].plot(h["loss"], label=f"{a_name} (train)")
    axes[0].plot(h["val_loss"], "--", label=f"{a_name} (validation)")
    axes[1].plot(h["val_accuracy"], label=a_name)
axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="spiral: loss")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="spiral: accuracy")
axes[0].legend(fontsize=7)
axes[1].legend(fontsize=7)
savefig(fig, settings, "learning_curves.png")

# %% [markdown]
# ## 3 · Sigmoid vs ReLU: the gradient reaching each layer
# Build an 8-layer network, push one batch forward, pull the gradient back (`model.backward`) and
# measure ‖∂L/∂W‖ for every layer. Nothing is trained: this is the situation at the very first step.

# %%
def gradient_norms(activation, depth=8, width=32, seed=0):
    layers = [Input((2,))] + [Dense(width, activation=activation) for _ in range(depth)]
    layers.append(Dense(3, activation="softmax"))
    model = Sequential(layers, seed=seed)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = PROBLEMS["spiral"](256, rng=seed)
    model.compute_gradients(x, y)  # forward + loss + backward, no update
    return [float(np.linalg.norm(layer.grads["kernel"])) for layer in model.layers]


norms = {act: gradient_norms(act) for act in ("sigmoid", "tanh", "relu")}
fig, ax = plt.subplots(figsize=(6, 3.5))
for act, values in norms.items():
    ax.semilogy(range(1, len(values) + 1), values, "o-", label=act)
    print(f"{act:8s} first-layer / last-layer gradient norm: {values[0] / values[-1]:.2e}")
ax.set(xlabel="layer (1 = closest to the input)", ylabel="‖∂L/∂W‖ (log scale)",
       title="Vanishing gradients with saturating activations")
ax.legend()
savefig(fig, settings, "gradient_norm_per_layer.png")

# %% [markdown]
# ## Try this
# - Give the single neuron a hidden layer of 2, then 3 units on `circles`: how many are needed?
# - Replace `"relu"` by `"tanh"` in `make_network`: do the boundaries become smoother?
# - Set `Adam(0.5)` — what happens to the learning curves?
# - In part 3, make the network 20 layers deep. How small does the sigmoid gradient get?
# - Open `minidl/layers/dense.py` and find the three lines that compute `∂L/∂W`, `∂L/∂b`, `∂L/∂x`.

# %%
print(f"Lesson 07 done in {settings.elapsed():.1f} s; figures in {settings.output}")
