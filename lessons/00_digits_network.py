# %% [markdown]
# # 00 · Exercise 1: watch a network read handwritten digits
#
# **Goal.** The lecture's first exercise, after 3Blue1Brown's digit network: *draw different numbers and
# look at how the hidden layers and the output layer get activated.* We train a small network — written
# from scratch in NumPy (`minidl`) — on real handwritten digits, then open it up: for a digit you pick and
# for a digit you draw, we look at every layer's activations as pictures, at what single neurons
# "look for", and at how the picture changes when the digit changes. At the end, the same kind of network
# reads genotype images instead of digits.
#
# **The data.** 1,797 handwritten digits of 8 × 8 pixels, each pixel an ink level from 0 (white) to 16
# (black), that ship inside scikit-learn (`sklearn.datasets.load_digits`, the UCI "optical recognition of
# handwritten digits" set): nothing is downloaded. Each image becomes a vector `x` of 64 numbers.
#
# **The idea in plain words.** Each neuron of a layer takes all the numbers of the layer before, weighs
# them, adds a bias and bends the total with an activation `f` (here ReLU, `f(z) = max(0, z)`). For a whole
# layer, with one row of the weight matrix `W` per neuron:
#
# $$a^{(1)} = f\big(W^{(1)} x + b^{(1)}\big), \qquad a^{(2)} = f\big(W^{(2)} a^{(1)} + b^{(2)}\big)$$
#
# The last layer gives one score `zₖ` per digit `k = 0 … 9`, and softmax turns the scores into
# probabilities that are positive and sum to 1:
#
# $$p_k = \frac{e^{z_k}}{\sum_{j=0}^{9} e^{z_j}}, \qquad z = W^{(3)} a^{(2)} + b^{(3)}$$
#
# Our network is 3Blue1Brown's shape on a smaller image: 64 inputs → 16 → 16 → 10. Lessons 03–05 take the
# forward pass, the cost and backpropagation apart step by step; here we only *watch* a trained network.

# %%
import numpy as np
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

import minidl
from minidl import Adam, Dense, EarlyStopping, Input, Sequential
from lessons._common import in_notebook, savefig, setup

settings = setup("00_digits_network")
rng = np.random.default_rng(settings.seed)
EPOCHS = 40 if settings.quick else 300      # upper bound; early stopping usually ends sooner in full mode
print(f"{'quick' if settings.quick else 'full'} mode, seed {settings.seed}")

# %% [markdown]
# ## 1 · The digits, and a held-out test set
# We shuffle the 1,797 images with the lesson's seed and keep 60 % to train on, 20 % to decide when to
# stop training (validation) and 20 % that the network never sees until the end (test).
#
# **Standardising.** Networks learn best from inputs around 0 with spread 1. We subtract the mean ink level
# and divide by its standard deviation — both computed on the *training* images only, then applied
# unchanged to validation, test and your own drawings. We use one mean and one standard deviation for all
# 64 pixels rather than one per pixel: a border pixel that is almost always white has a tiny spread, and
# per-pixel scaling would turn one stroke of ink there into a huge number.

# %%
digits = load_digits()
images, labels = digits.images.astype(np.float32), digits.target       # (1797, 8, 8) ink 0–16, (1797,) 0–9
order = rng.permutation(len(images))
n_train, n_val = int(0.6 * len(images)), int(0.2 * len(images))
train, val, test = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
INK_MEAN, INK_STD = images[train].mean(), images[train].std()          # training images only


def scale(ink):
    """8×8 ink images (…, 8, 8), 0–16 → standardised network inputs (…, 64)."""
    ink = np.asarray(ink, dtype=np.float32)
    return ((ink.reshape(-1, 64) - INK_MEAN) / INK_STD).astype(np.float32)


x_all = scale(images)
print(f"{len(train)} training, {len(val)} validation, {len(test)} test images; "
      f"training ink mean {INK_MEAN:.2f}, std {INK_STD:.2f}")

fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for k in range(10):
    for row, i in enumerate(train[labels[train] == k][:2]):
        axes[row, k].imshow(images[i], cmap="gray_r", vmin=0, vmax=16)
        axes[row, k].set_title(f"{k}", fontsize=9)
        axes[row, k].axis("off")
fig.suptitle("Training digits: 8 × 8 pixels, ink 0–16")
savefig(fig, settings, "digits.png")

# %% [markdown]
# ## 2 · Train the network
# Adam, cross-entropy, batches of 32; training stops when the validation loss has not improved for 15
# epochs and keeps the best weights.

# %%
model = Sequential([Input((64,)), Dense(16, activation="relu", name="hidden_1"),
                    Dense(16, activation="relu", name="hidden_2"),
                    Dense(10, activation="softmax", name="output")], seed=settings.seed)
model.compile(Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
history = model.fit(x_all[train], labels[train], epochs=EPOCHS, batch_size=32, verbose=0,
                    validation_data=(x_all[val], labels[val]),
                    callbacks=[EarlyStopping(monitor="val_loss", patience=15, restore_best_weights=True)])
test_pred = model.predict(x_all[test]).argmax(axis=1)
test_accuracy = float(np.mean(test_pred == labels[test]))
print(f"{len(history.history['loss'])} epochs; test accuracy {test_accuracy:.3f} on {len(test)} digits "
      f"(seed {settings.seed}; chance is 0.10)")

# %% [markdown]
# With the default seed 2026 the network classifies **96.9 %** of the 360 test digits correctly, in
# quick and full mode alike (early stopping ends training after 28 epochs, before quick mode's limit of
# 40); the lesson's test (`tests/lessons/test_lesson_claims.py`) checks that quick mode stays **above
# 90 %**. Another seed (`--seed`) gives a slightly different network and a similar accuracy. A network
# with 16 + 16 hidden neurons — 1,482 numbers — has learned to read digits it never saw.

# %%
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (labels[test], test_pred), 1)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(history.history["loss"], label="training")
axes[0].plot(history.history["val_loss"], "--", label="validation")
axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="learning curves")
axes[0].legend()
axes[1].imshow(confusion, cmap="Blues")
for (t, p), n in np.ndenumerate(confusion):
    if n:
        axes[1].text(p, t, n, ha="center", va="center", fontsize=7, color="white" if n > 20 else "black")
axes[1].set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit",
            title=f"test set: accuracy {test_accuracy:.1%}")
savefig(fig, settings, "training.png")

# %% [markdown]
# ## 3 · Pick a digit and watch every layer
# `minidl.inspect.activations` runs one forward pass and returns what every layer outputs. We draw the
# input, the 16 neurons of each hidden layer as a 4 × 4 grid of squares (dark = strongly active; a ReLU
# neuron at 0 is silent) and the 10 output probabilities. **Change `PICK`** (any test index from 0 to
# 359) and re-run the cell.

# %%
PICK = 0   # index into the test set (with seed 2026, a 5): try others


def layer_pictures(ink, title, axes=None):
    """Input, hidden 1, hidden 2 (16 neurons each as 4×4) and output probabilities of one 8×8 digit."""
    acts = list(minidl.inspect.activations(model, scale(ink)).values())
    hidden_1, hidden_2, probs = acts[0][0], acts[1][0], acts[2][0]
    fig = None
    if axes is None:
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.1), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    axes[0].imshow(ink, cmap="gray_r", vmin=0, vmax=16)
    axes[0].set_title("input: 64 pixels", fontsize=9)
    for ax, a, name in ((axes[1], hidden_1, "hidden layer 1"), (axes[2], hidden_2, "hidden layer 2")):
        ax.imshow(a.reshape(4, 4), cmap="Purples", vmin=0, vmax=max(float(a.max()), 1e-6))
        for j, value in enumerate(a):
            ax.text(j % 4, j // 4, f"{j}\n{value:.1f}", ha="center", va="center", fontsize=6,
                    color="white" if value > 0.6 * a.max() else "black")
        ax.set_title(f"{name}: {np.sum(a > 0)} of 16 active", fontsize=9)
    for ax in axes[:3]:
        ax.set(xticks=[], yticks=[])
    guess = int(probs.argmax())
    axes[3].barh(range(10), probs, color=["tab:orange" if k == guess else "tab:grey" for k in range(10)])
    axes[3].set(yticks=range(10), xlim=(0, 1), xlabel="probability", ylabel="digit")
    axes[3].invert_yaxis()
    axes[3].set_title(f"output: '{guess}' with p = {probs[guess]:.2f}", fontsize=9)
    if fig is not None:
        fig.suptitle(title)
    return fig, acts


fig, picked_acts = layer_pictures(images[test[PICK]], f"test digit {PICK}: a handwritten "
                                  f"{labels[test[PICK]]}")
savefig(fig, settings, "picked_digit.png")

# %% [markdown]
# ## 4 · Draw your own digit
# An 8 × 8 array of ink levels, 0 (white) to 16 (black): **edit the numbers** and re-run the cell. The
# strokes of the training digits are thick and blurred (each pixel counts the ink of a 4 × 4 block of a
# 32 × 32 drawing), so draw with wide strokes and soft edges, like the examples in part 1.
#
# *In Jupyter with `ipywidgets` installed* (`pip install ipywidgets`), full mode also shows a pad of 8 × 8
# buttons below: a click cycles a pixel through 0 → 8 → 16 → 0, the pictures update at once, and the
# buttons write into `DRAWN`, so re-running the cells after it uses your drawing.

# %%
DRAWN = np.array([            # a 1
    [0, 0, 0, 8, 16, 4, 0, 0],
    [0, 0, 4, 14, 16, 4, 0, 0],
    [0, 0, 8, 14, 16, 4, 0, 0],
    [0, 0, 0, 10, 16, 4, 0, 0],
    [0, 0, 0, 8, 16, 4, 0, 0],
    [0, 0, 0, 8, 16, 4, 0, 0],
    [0, 0, 0, 8, 16, 6, 0, 0],
    [0, 0, 0, 8, 16, 8, 0, 0],
])


def drawing_pad(ink):
    """A clickable 8×8 grid editing ``ink`` in place (needs ipywidgets in a Jupyter kernel), or None."""
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        return None
    shown = widgets.Output()
    levels = {0: 8, 8: 16, 16: 0}

    def colour(value):
        return "#" + f"{255 - int(value) * 15:02x}" * 3   # grey: white at 0, near black at 16

    def redraw():
        with shown:
            shown.clear_output(wait=True)
            figure, _ = layer_pictures(ink, "your drawing")
            display(figure)
            plt.close(figure)

    def click(button):
        r, c = button.pixel
        ink[r, c] = levels.get(int(ink[r, c]), 0)
        button.style.button_color = colour(ink[r, c])
        redraw()

    buttons = []
    for r in range(8):
        for c in range(8):
            button = widgets.Button(layout=widgets.Layout(width="28px", height="28px"))
            button.pixel = (r, c)
            button.style.button_color = colour(ink[r, c])
            button.on_click(click)
            buttons.append(button)
    pad = widgets.GridBox(buttons, layout=widgets.Layout(grid_template_columns="repeat(8, 30px)"))
    redraw()
    return widgets.HBox([pad, shown])


pad = drawing_pad(DRAWN) if in_notebook() and not settings.quick else None
if pad is not None:
    from IPython.display import display
    display(pad)

fig, drawn_acts = layer_pictures(DRAWN, "your drawing (the array DRAWN)")
savefig(fig, settings, "drawn_digit.png")

# %% [markdown]
# ## 5 · What does one neuron look for?
# A neuron of hidden layer 1 computes `z = w · x + b`: one weight per pixel. Drawn as an 8 × 8 picture,
# its weights show the pattern of ink that excites it (red: ink here raises `z`) or silences it (blue).
# The second row is the product `w ⊙ x` for the digit of part 3, pixel by pixel: summed (plus `b`), it is
# exactly that neuron's score — where the digit's ink lies on red weights, the neuron fires. (Standardised,
# a white pixel is negative, about −0.8, so white where the weights are blue raises the score too.)
# `NEURONS = None` shows the 6 neurons most active for the picked digit; set your own list (0–15).
#
# Few neurons look like clean strokes or loops: each one only has to be *useful* together with the
# others, and nothing asked for human-readable patterns (3Blue1Brown makes the same point).

# %%
NEURONS = None   # e.g. [0, 3, 11]

weights, bias = model.get_layer("hidden_1").get_weights()     # kernel (64 pixels, 16 neurons), bias (16,)
x_picked = scale(images[test[PICK]])[0]
hidden_1 = picked_acts[0][0]
chosen = list(np.argsort(hidden_1)[::-1][:6]) if NEURONS is None else list(NEURONS)
fig, axes = plt.subplots(2, len(chosen), figsize=(2.1 * len(chosen), 4.6), squeeze=False)
limit = np.abs(weights[:, chosen]).max()
for col, j in enumerate(chosen):
    w = weights[:, j]
    axes[0, col].imshow(w.reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, col].set_title(f"neuron {j}: weights", fontsize=9)
    contribution = w * x_picked
    c_limit = max(np.abs(contribution).max(), 1e-6)
    axes[1, col].imshow(contribution.reshape(8, 8), cmap="RdBu_r", vmin=-c_limit, vmax=c_limit)
    z = contribution.sum() + bias[j]
    assert np.isclose(max(z, 0.0), hidden_1[j], atol=1e-4)   # ReLU(w·x + b) is the activation shown above
    axes[1, col].set_title(f"w ⊙ x: z = {z:.1f}\na = max(0, z) = {max(z, 0):.1f}", fontsize=8)
for ax in axes.ravel():
    ax.set(xticks=[], yticks=[])
fig.suptitle(f"What hidden-layer-1 neurons look for (top), and what they find in test digit {PICK} (bottom)")
savefig(fig, settings, "neuron_weights.png")

# %% [markdown]
# ## 6 · Change the digit, watch the activations change
# We redraw the 1 of part 4 as a 7 — a bar on top, the stroke slanted — in 7 small steps (each step a
# mix `(1 − t) · DRAWN + t · EDITED` of the two arrays) and follow every neuron. Some first-layer neurons
# switch on as the bar appears, others switch off as the vertical stroke fades; the second layer
# recombines them, and the output hands its probability from 1 to 7. It need not do so directly: a half
# 1, half 7 is neither, and with the default seed the network calls the middle steps a 3 — the
# in-between pictures are unlike any training digit, and the network has to say *something*.

# %%
EDITED = np.array([           # the 1 redrawn as a 7: a bar on top, the stroke slanted
    [0, 0, 8, 16, 16, 16, 10, 0],
    [0, 0, 6, 8, 8, 16, 8, 0],
    [0, 0, 0, 0, 8, 14, 1, 0],
    [0, 0, 2, 8, 16, 10, 0, 0],
    [0, 0, 6, 16, 16, 8, 0, 0],
    [0, 0, 0, 12, 8, 0, 0, 0],
    [0, 0, 4, 14, 2, 0, 0, 0],
    [0, 0, 8, 10, 0, 0, 0, 0],
])
STEPS = np.linspace(0, 1, 7)

mixes = np.array([(1 - t) * DRAWN + t * EDITED for t in STEPS])
acts = list(minidl.inspect.activations(model, scale(mixes)).values())
fig = plt.figure(figsize=(13, 7))
grid = fig.add_gridspec(2, 3 * len(STEPS), height_ratios=[1, 2.3], hspace=0.35, wspace=0.6)
for k, (t, ink) in enumerate(zip(STEPS, mixes)):
    ax = fig.add_subplot(grid[0, 3 * k:3 * k + 3])
    ax.imshow(ink, cmap="gray_r", vmin=0, vmax=16)
    ax.set(xticks=[], yticks=[], title=f"t = {t:.2f}: '{acts[2][k].argmax()}'")
third = len(STEPS)
for n, (name, a) in enumerate((("hidden layer 1", acts[0]), ("hidden layer 2", acts[1]))):
    ax = fig.add_subplot(grid[1, third * n:third * n + third - 1])
    ax.imshow(a.T, cmap="Purples", aspect="auto", vmin=0)
    ax.set(xticks=range(len(STEPS)), xticklabels=[f"{t:.1f}" for t in STEPS], yticks=range(16),
           xlabel="t (0 = DRAWN, 1 = EDITED)", ylabel="neuron", title=name)
    ax.tick_params(labelsize=7)
ax = fig.add_subplot(grid[1, 2 * third:])
for k in range(10):
    strong = k in (int(acts[2][0].argmax()), int(acts[2][-1].argmax()))
    ax.plot(STEPS, acts[2][:, k], "o-" if strong else "-", lw=2 if strong else 0.8,
            color=None if strong else "grey", label=f"'{k}'" if strong else None)
ax.set(xlabel="t", ylabel="probability", ylim=(-0.02, 1.02), title="output layer")
ax.legend(fontsize=8)
fig.suptitle("The drawn 1 redrawn as a 7: every neuron, step by step")
savefig(fig, settings, "digit_changes.png")
changed = np.abs(acts[0][-1] - acts[0][0]) > 0.5
print(f"prediction: '{acts[2][0].argmax()}' (p = {acts[2][0].max():.2f}) → '{acts[2][-1].argmax()}' "
      f"(p = {acts[2][-1].max():.2f}); {changed.sum()} of 16 first-layer neurons changed by more than 0.5")

# %% [markdown]
# ## 7 · The bridge to genomics: the same network on genotype images
# A genotype image (lesson 01) is a picture too: one row per haplotype, one column per SNP, 1 where the
# haplotype carries the derived allele. Flattened, a 48 × 64 image is a vector of 3,072 numbers, and
# the very same kind of network — `a = f(W · x + b)`, 16 → 16 → softmax — can learn to tell demographic
# scenarios apart from it. Here: the three two-population scenarios of the flagship (split, isolation with
# migration, secondary contact), simulated with popsim (30 replicates each in quick mode, 300 in full mode;
# cached in the output folder). A first-layer neuron's weights, reshaped, are again a picture: which
# haplotypes and SNPs it looks at.
#
# Expect much less than with digits: close to chance, in full mode too (0.31 for 3 scenarios with the
# default seed; 600 replicates per scenario do no better). The haplotypes of a sample have no
# order, so the same pattern can sit on any row, and a dense network must learn it again for every row.
# Lesson 06 gives the dense network summary statistics instead, and lessons 11 and 14 build networks that
# pool over the haplotypes of each population (`ExchangeablePooling`) so the order cannot matter.

# %%
from popsim.features.images import GenotypeImage
from popsim.sim.dataset import simulate_dataset
from popsim.sim.simulate import SimulationSettings, available_workers

GENOMIC = ["flagship_split", "flagship_im", "flagship_sc"]
n_per = 30 if settings.quick else 300
genomic = simulate_dataset(settings.output / f"genotypes_{n_per}_seed{settings.seed}", GENOMIC, n_per,
                           seed=settings.seed, workers=1 if settings.quick else available_workers(),
                           settings=SimulationSettings(transform=GenotypeImage(n_snps=64, snp_selection="even",
                                                                               encoding="01")),
                           progress=False)
g_images, _ = genomic.arrays()                                  # (replicates, 48 haplotypes, 64 SNPs, 1)
g_labels = genomic.labels
g_x = g_images.reshape(len(g_images), -1).astype(np.float32)    # flattened, like the digits
g_train, g_val, g_test = genomic.split((0.6, 0.2, 0.2))
g_mean, g_std = g_x[g_train].mean(), g_x[g_train].std()        # training replicates only, as for the digits
g_x = (g_x - g_mean) / g_std
g_model = Sequential([Input((g_x.shape[1],)), Dense(16, activation="relu"), Dense(16, activation="relu"),
                      Dense(len(GENOMIC), activation="softmax")], seed=settings.seed)
g_model.compile(Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
g_model.fit(g_x[g_train], g_labels[g_train], epochs=20 if settings.quick else 100, batch_size=32, verbose=0,
            validation_data=(g_x[g_val], g_labels[g_val]),
            callbacks=[EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)])
g_accuracy = float(np.mean(g_model.predict(g_x[g_test]).argmax(axis=1) == g_labels[g_test]))
print(f"dense network on flattened {g_images.shape[1]} × {g_images.shape[2]} genotype images: test accuracy "
      f"{g_accuracy:.2f} on {len(g_test)} replicates (chance {1 / len(GENOMIC):.2f})")

fig, axes = plt.subplots(1, 4, figsize=(14, 3.3))
for ax, k in zip(axes, range(len(GENOMIC))):
    ax.imshow(g_images[np.flatnonzero(g_labels == k)[0], :, :, 0], cmap="gray_r", aspect="auto",
              interpolation="nearest")
    ax.axhline(23.5, color="tab:orange", lw=1)
    ax.set(title=f"{GENOMIC[k]}: input", xlabel="SNP", ylabel="haplotype (A above, B below)")
g_w = g_model.layers[0].get_weights()[0][:, 0].reshape(g_images.shape[1:3])
axes[3].imshow(g_w, cmap="RdBu_r", aspect="auto", vmin=-np.abs(g_w).max(), vmax=np.abs(g_w).max())
axes[3].set(title="hidden neuron 0: weights", xlabel="SNP", ylabel="haplotype")
fig.suptitle(f"The same dense network on genotype images: test accuracy {g_accuracy:.2f}")
savefig(fig, settings, "genotype_bridge.png")

# %% [markdown]
# ## Try this
# - Pick test digits the network gets wrong (`np.flatnonzero(test_pred != labels[test])`) and look at
#   them with `PICK`: would you have hesitated too?
# - Edit `DRAWN` into a 9 (close the top left), a 5 or a 7. Which pixels does the network need before it
#   changes its mind? Set `STEPS = np.linspace(0, 1, 21)` to find the tipping point.
# - Make the network 64 → 32 → 10 (one hidden layer), then 64 → 4 → 4 → 10. How few neurons still read
#   digits? Do the neuron pictures of part 5 become cleaner with fewer neurons?
# - Replace `"relu"` by `"sigmoid"`, as in 3Blue1Brown's video: every neuron is now between 0 and 1.
#   Does accuracy change? Do more neurons stay (half) active?
# - A second-layer neuron reads neurons, not pixels. `minidl.inspect.saliency(model, scale(DRAWN),
#   unit=j, layer="hidden_2")` gives, as 64 numbers, how its activation would change with each pixel of
#   your drawing: reshape it to 8 × 8 and draw it like the weights of part 5.
# - Standardise per pixel instead (`minidl.preprocessing.StandardScaler`) and predict your drawing: what
#   happens when your ink touches a border pixel the training digits almost never use?
# - In part 7, average the 24 haplotypes of each population before flattening
#   (`g_images.reshape(len(g_images), 2, 24, 64).mean(axis=2)`, 2 × 64 allele frequencies instead of
#   48 × 64 genotypes — what `ExchangeablePooling` does in lessons 11 and 14) and train the same network.

# %%
print(f"Lesson 00 done in {settings.elapsed():.1f} s; figures in {settings.output}")
