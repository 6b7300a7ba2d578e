# %% [markdown]
# # 10 · Convolution from scratch: kernels, stride, padding, pooling and batch normalisation
#
# **Goal.** Take the operation at the heart of every CNN apart on a genotype image: compute it with
# loops you can follow by hand, see what a few kernels make of an image of haplotypes × SNPs, check that
# minidl's fast kernel computes *exactly* the same thing (and measure how much faster it is), then see
# what pooling and batch normalisation do to the resulting feature maps.
#
# **The idea in plain words.** A convolution slides a small window — the *kernel*, a grid of weights —
# over the image. At every position it multiplies the pixels under the window by the weights, adds them
# up (plus a bias) and writes one number into the output, the *feature map*. The same weights are used at
# every position, so a kernel detects *one pattern wherever it occurs*; a layer with F kernels produces
# F feature maps (channels). With an input `x` of shape (H, W, C) and a kernel `w` of shape (kh, kw, C):
#
# $$y[i, j] = b + \sum_{a=0}^{k_h-1}\sum_{c=0}^{k_w-1}\sum_{k=0}^{C-1} x[i\,s_h + a,\; j\,s_w + c,\; k]\; w[a, c, k]$$
#
# (strictly a cross-correlation — nothing is flipped — which is what every deep-learning library calls
# a convolution). The **stride** `s` is the step between window positions. **Padding** adds zeros around
# the image: `"valid"` adds none, so the output shrinks to `⌊(n − k)/s⌋ + 1`; `"same"` adds just enough
# for `⌈n/s⌉` outputs, as TensorFlow does — and when the number of zeros needed is odd, the extra one
# goes at the **bottom/right**.

# %%
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

from minidl import (AveragePooling2D, BatchNormalization, Conv2D, MaxPooling2D)
from minidl.config import use_kernels
from minidl.kernels import family, reference, same_padding
from popsim.features.images import GenotypeImage
from popsim.sim.dataset import simulate_dataset
from popsim.sim.simulate import SimulationSettings
from lessons._common import savefig, setup

settings = setup("10_convolution_from_scratch")
N_SNPS = 64                                   # columns of the genotype image
N_IMAGES = 32                                 # a small batch (the same in quick mode: it costs seconds)
REPEATS = 3 if settings.quick else 9          # timings: the median of this many runs
rng = np.random.default_rng(settings.seed)

# %% [markdown]
# ## 1 · A genotype image
# One replicate of the flagship "isolation with migration" scenario (lesson 14): 12 + 12 diploid
# individuals, i.e. 24 haplotypes from population A above 24 from B, and 64 SNPs spread evenly over the
# replicate's loci. `GenotypeImage` turns the `(sites, haplotypes)` matrix from msprime into a
# `(haplotypes, SNPs, channels)` image: 1 = derived allele, 0 = ancestral. We simulate a small batch and
# keep it in the output folder, so a second run reads it back instead of simulating again.

# %%
transform = GenotypeImage(n_snps=N_SNPS, snp_selection="even", sort_rows="none", encoding="01")
dataset = simulate_dataset(settings.output / f"replicates_{N_IMAGES}_seed{settings.seed}", "flagship_im", N_IMAGES,
                           seed=settings.seed, settings=SimulationSettings(transform=transform, keep_genotypes=True),
                           progress=False)
batch = dataset.images()                      # (N_IMAGES, 48, 64, 1) float32
image = batch[0]
params = dict(zip(dataset.parameter_names, dataset.params[0]))
print(f"batch {batch.shape}; first replicate: "
      + ", ".join(f"{k} = {v:.3g}" for k, v in params.items()))

# The same transform applied by hand to the raw genotypes of the first replicate (as it would be to real data):
record = next(dataset.iter_replicates([0]))
genome_positions = record.positions + record.locus * record.sequence_length   # the 10 loci laid end to end
by_hand = transform(record.genotypes, genome_positions, record.populations,
                    sequence_length=record.sequence_length * record.n_loci)
print(f"raw genotypes {record.genotypes.shape} (sites × haplotypes) → image {by_hand.shape} "
      f"(haplotypes × SNPs × channels); identical to the stored one: {np.array_equal(by_hand, image)}")

# %% [markdown]
# ## 2 · The convolution, six loops deep
# The equation above, written as literally as possible: one loop per index. Nobody should run this on real
# data — it is here to be read and to be the yardstick for the two real implementations below.

# %%
def conv2d_by_hand(x, w, b, stride=(1, 1), padding="valid"):
    """x (H, W, C), w (kh, kw, C, F), b (F,) -> y (Ho, Wo, F). The textbook definition, nothing else."""
    H, W, C = x.shape
    kh, kw, _, F = w.shape
    sh, sw = stride
    if padding == "same":                     # TensorFlow's rule; the extra zero goes bottom/right
        top, bottom = same_padding(H, kh, sh)
        left, right = same_padding(W, kw, sw)
        x = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    Ho = (x.shape[0] - kh) // sh + 1
    Wo = (x.shape[1] - kw) // sw + 1
    y = np.zeros((Ho, Wo, F))
    for i in range(Ho):                       # every output row ...
        for j in range(Wo):                   # ... and column
            for f in range(F):                # every kernel
                total = b[f]
                for a in range(kh):           # every weight of the kernel
                    for c in range(kw):
                        for k in range(C):
                            total += x[i * sh + a, j * sw + c, k] * w[a, c, k, f]
                y[i, j, f] = total
    return y


# %% [markdown]
# **Padding, precisely.** `same_padding(n, k, s)` (in `minidl/kernels/geometry.py`) gives the zeros
# before and after along one axis: `total = max((⌈n/s⌉ − 1)·s + k − n, 0)`, `before = total // 2`,
# `after = total − before`. A few cases — note the asymmetric ones:

# %%
print(f"{'n':>3s} {'k':>2s} {'s':>2s} | {'valid out':>9s} | {'same out':>8s}  zeros (before, after)")
for n, k, s in [(64, 5, 1), (64, 4, 1), (64, 5, 2), (48, 2, 1), (7, 3, 2), (6, 3, 2)]:
    before, after = same_padding(n, k, s)
    print(f"{n:3d} {k:2d} {s:2d} | {(n - k) // s + 1:9d} | {-(-n // s):8d}  ({before}, {after})")

# %% [markdown]
# The same in pictures: a 6 × 6 input (white), the zeros that `"same"` adds (grey) and the first window
# position (red) for a 3 × 3 kernel (symmetric), a 4 × 4 kernel (one more zero bottom/right) and a 3 × 3
# kernel with stride 2 (where 6 inputs need only one extra zero, on the right and bottom).

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, (k, s) in zip(axes, [(3, 1), (4, 1), (3, 2)]):
    before, after = same_padding(6, k, s)
    size = 6 + before + after
    grid = np.full((size, size), 0.75)
    grid[before:before + 6, before:before + 6] = 1.0
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, size), minor=True)
    ax.set_yticks(np.arange(-0.5, size), minor=True)
    ax.grid(which="minor", color="k", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.add_patch(plt.Rectangle((-0.5, -0.5), k, k, fill=False, ec="red", lw=3))
    out = -(-6 // s)
    ax.set_title(f"kernel {k}×{k}, stride {s}: zeros ({before}, {after}) per axis\n"
                 f"6×6 input → {out}×{out} output", fontsize=9)
fig.suptitle('padding="same" (TensorFlow): the extra zero goes bottom/right')
savefig(fig, settings, "padding_same.png")

# %% [markdown]
# ## 3 · Feature maps of a genotype image
# Four kernels designed by hand, each asking one question of the image:
#
# | kernel | shape | weights | answers |
# |---|---|---|---|
# | density | 1 × 5 | all 1/5 | share of derived alleles among the next 5 SNPs of this haplotype |
# | SNP edge | 1 × 2 | (−1, +1) | does the haplotype switch allele between neighbouring SNPs? |
# | haplotype difference | 2 × 1 | (+1, −1) vertically | do two neighbouring haplotypes differ at this SNP? |
# | shared derived | 2 × 2 | all 1, bias −3, ReLU | do two neighbouring haplotypes share derived alleles at two adjacent SNPs? |
#
# A network *learns* its kernels instead of being given them — but what it learns are detectors of
# the same kind. We compute each map with the six loops, and check it against minidl's `Conv2D` layer
# given the same weights.

# %%
kernels = {
    "density (1×5)": (np.full((1, 5, 1, 1), 1 / 5), 0.0),
    "SNP edge (1×2)": (np.array([-1.0, 1.0]).reshape(1, 2, 1, 1), 0.0),
    "haplotype difference (2×1)": (np.array([1.0, -1.0]).reshape(2, 1, 1, 1), 0.0),
    "shared derived (2×2), ReLU": (np.ones((2, 2, 1, 1)), -3.0),
}
maps = {}
for name, (w, b) in kernels.items():
    y = conv2d_by_hand(image.astype(np.float64), w, np.array([b]), padding="same")
    if "ReLU" in name:
        y = np.maximum(y, 0)
    layer = Conv2D(1, w.shape[:2], padding="same", activation="relu" if "ReLU" in name else None)
    layer.build(image.shape)
    layer.set_weights([w.astype(np.float32), np.array([b], np.float32)])
    difference = np.abs(layer(image[None])[0] - y).max()
    maps[name] = y[:, :, 0]
    print(f"{name:28s} feature map {y.shape}, |by hand − Conv2D layer| max = {difference:.1e}")

fig, axes = plt.subplots(1, 5, figsize=(21, 4.2), layout="constrained")
axes[0].imshow(image[:, :, 0], cmap="viridis", aspect="auto", interpolation="nearest")
axes[0].set(title="genotype image (yellow = derived)", xlabel="SNP", ylabel="haplotype (A above, B below)")
for ax, (name, fmap) in zip(axes[1:], maps.items()):
    limit = np.abs(fmap).max() or 1
    im = ax.imshow(fmap, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.set(title=name, xlabel="SNP")
    fig.colorbar(im, ax=ax, fraction=0.05)
for ax in axes:
    ax.axhline(23.5, color="k", lw=0.8)
fig.suptitle('Feature maps (padding="same": each map keeps the 48 × 64 size of the image)')
savefig(fig, settings, "feature_maps.png")

# %% [markdown]
# **Stride and padding change the size of the map**, not what it measures. The density kernel again,
# with `"valid"` (no zeros: 64 − 5 + 1 = 60 columns) and with stride (1, 2) (every other position:
# ⌈64/2⌉ = 32 columns with `"same"`).

# %%
w_density = kernels["density (1×5)"][0]
variants = {"valid, stride 1": ((1, 1), "valid"), "same, stride 1": ((1, 1), "same"),
            "same, stride (1, 2)": ((1, 2), "same")}
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, (name, (stride, padding)) in zip(axes, variants.items()):
    y = conv2d_by_hand(image.astype(np.float64), w_density, np.zeros(1), stride, padding)[:, :, 0]
    print(f"density kernel, {name:20s} → feature map {y.shape}")
    ax.imshow(y, cmap="magma", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set(title=f"{name}: {y.shape[0]} × {y.shape[1]}", xlabel="output column", ylabel="haplotype")
savefig(fig, settings, "stride_and_padding.png")

# %% [markdown]
# ## 4 · The reference kernel — the version to read
# minidl's layers do not call the six loops: they call a *kernel family*. The reference family
# (`minidl/kernels/reference.py`) keeps only the two loops over output positions and lets NumPy contract
# each window with all the kernels at once (`np.tensordot` sums over kh, kw and C, for all N images and
# F filters together). Here is its source:

# %%
print(inspect.getsource(reference.conv2d_forward))

# %% [markdown]
# The fast family (`minidl/kernels/conv_numba.py`) computes the same sums with compiled numba loops, or,
# for big windows, copies every window into a row of a matrix (*im2col*) and does one matrix product in
# BLAS. Its docstring lists the checklist it follows (parallel loop over rows that do not overlap,
# innermost loop with unit stride, no allocation inside the parallel loop). We check the three agree,
# on a batch of images with 16 random 1 × 5 kernels — the first layer of lesson 14's CNN:

# %%
x = batch                                                   # (N_IMAGES, 48, 64, 1)
w = rng.normal(0, 0.5, size=(1, 5, 1, 16)).astype(np.float32)
b = rng.normal(0, 0.1, size=16).astype(np.float32)
pads = (0, 0, 0, 0)                                         # "valid"
ref, fast = family("reference"), family("fast")
start = time.perf_counter()
y_fast = fast.conv2d_forward(x, w, b, (1, 1), pads)         # the first call compiles (or loads numba's cache)
jit_seconds = time.perf_counter() - start
y_ref = ref.conv2d_forward(x, w, b, (1, 1), pads)
start = time.perf_counter()
y_hand = conv2d_by_hand(x[0].astype(np.float64), w.astype(np.float64), b.astype(np.float64))
t_hand = (time.perf_counter() - start) * len(x)            # one image is enough to time the loops
print(f"output {y_ref.shape}")
print(f"max |reference − fast| = {np.abs(y_ref - y_fast).max():.2e}   (whole batch, float32)")
print(f"max |six loops − reference| = {np.abs(y_hand - y_ref[0]).max():.2e}   (first image; loops in float64)")
print(f"first call of the fast kernel (numba compile or cache load): {jit_seconds:.2f} s")

# %% [markdown]
# **How much faster?** The median of a few runs of each (one thread: the lesson sets one numba and one
# BLAS thread, so the comparison is loop against loop). The first call above paid the compilation;
# it is not counted. The six loops are timed once, on one image, and multiplied by the batch size.

# %%
def median_seconds(function, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


t_ref = median_seconds(lambda: ref.conv2d_forward(x, w, b, (1, 1), pads))
t_fast = median_seconds(lambda: fast.conv2d_forward(x, w, b, (1, 1), pads))
timing = {"six Python loops (1 image timed, × batch)": t_hand, "reference (NumPy)": t_ref, "fast (numba)": t_fast}
for name, seconds in timing.items():
    print(f"{name:36s} {seconds * 1e3:9.2f} ms for {len(x)} images")
print(f"speed-up fast / reference: {t_ref / t_fast:.0f}×;  fast / six loops: {t_hand / t_fast:.0f}× "
      f"(median of {REPEATS}, batch {x.shape}, 16 kernels 1×5)")

# %% [markdown]
# Why such a large ratio? The reference calls `np.tensordot` once per output position — 48 × 60 = 2,880
# calls, each on a window of only 5 numbers per image: the time goes into Python and NumPy's per-call
# overhead, not arithmetic. The numba kernel runs the same loops compiled, with the multiply-adds
# over the 16 filters vectorised. With bigger windows and more channels each `tensordot` does more
# work per call, and the ratio shrinks (see "Try this").
#
# The layers switch family with one call, so the same network can run on either — useful for tests and
# for stepping through a forward pass in a debugger:

# %%
layer = Conv2D(16, (1, 5), activation="relu", seed=settings.seed)
layer.build(x.shape[1:])
with use_kernels("reference"):
    out_ref = layer(x)
with use_kernels("fast"):
    out_fast = layer(x)
print(f"Conv2D layer, reference vs fast family: max |difference| = {np.abs(out_ref - out_fast).max():.2e}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(list(timing), [t * 1e3 for t in timing.values()], color=["C3", "C0", "C2"])
ax.set_xscale("log")
ax.set(xlabel=f"milliseconds for {len(x)} images (log scale)",
       title=f"Same convolution, three implementations: fast is {t_ref / t_fast:.0f}× the reference")
for k, seconds in enumerate(timing.values()):
    ax.text(seconds * 1e3, k, f" {seconds * 1e3:.3g} ms", va="center", fontsize=8)
savefig(fig, settings, "kernel_speed.png")

# %% [markdown]
# ## 5 · Pooling: summarising a feature map
# A pooling layer slides a window like a convolution but has no weights: it keeps the **maximum**
# (`MaxPooling2D`: "is the pattern present anywhere in this window?") or the **average**
# (`AveragePooling2D`: "how much of it is there?"). A 2 × 2 window with stride 2 halves both sides.
#
# Pooling over a *whole population block* — a window 24 haplotypes tall — is special: the mean of the
# 24 rows does not depend on their order. Haplotypes in a sample have no natural order, so this makes
# the network's answer *invariant to shuffling them* (lesson 11 builds on it). A 2 × 2 window does not
# have that property: shuffle the rows and its output changes.

# %%
fmap = maps["density (1×5)"][None, :, :, None].astype(np.float32)     # (1, 48, 64, 1)
pooled = {"max 2×2": MaxPooling2D((2, 2))(fmap), "average 2×2": AveragePooling2D((2, 2))(fmap),
          "average over each population (24×1)": AveragePooling2D((24, 1))(fmap)}
for name, y in pooled.items():
    print(f"{name:36s} {fmap.shape[1:3]} → {y.shape[1:3]}")

shuffled = fmap.copy()
shuffled[0, :24] = fmap[0, rng.permutation(24)]                      # reorder population A's haplotypes
shuffled[0, 24:] = fmap[0, 24 + rng.permutation(24)]                 # and B's
for name, pool in [("average 2×2", AveragePooling2D((2, 2))), ("average over each population", AveragePooling2D((24, 1)))]:
    change = np.abs(pool(shuffled) - pool(fmap)).max()
    print(f"shuffle haplotypes within populations → {name:30s} output changes by {change:.2e}")

fig, axes = plt.subplots(1, 4, figsize=(20, 3.8), gridspec_kw={"width_ratios": [1, 1, 1, 1]})
panels = {"density feature map": fmap, **pooled}
for ax, (name, y) in zip(axes, panels.items()):
    ax.imshow(y[0, :, :, 0], cmap="magma", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set(title=f"{name}\n{y.shape[1]} × {y.shape[2]}", xlabel="column", ylabel="row")
axes[3].set_yticks([0, 1], ["A", "B"])
savefig(fig, settings, "pooling.png")

# %% [markdown]
# ## 6 · Batch normalisation: putting every channel on the same scale
# After a convolution with random weights the feature maps of different kernels live on different
# scales — one may range over 0…3, another over 0…0.1. The next layer (and the optimiser's single
# learning rate) sees them all at once. `BatchNormalization` standardises each channel with the mean and
# variance over the *batch and all positions*, then lets the network rescale it:
#
# $$\hat{x} = \frac{x - \mu_\text{batch}}{\sqrt{\sigma^2_\text{batch} + \epsilon}}, \qquad y = \gamma\,\hat{x} + \beta$$
#
# (γ = 1, β = 0 at the start; ε = 10⁻³.) During training it also keeps moving averages of μ and σ²
# (momentum 0.99) and uses **those** at prediction time, so that a prediction does not depend on which
# other images share its batch.

# %%
conv = Conv2D(4, (1, 5), activation="relu", seed=settings.seed)
conv.build(x.shape[1:])
conv.set_weights([conv.get_weights()[0] * np.array([4.0, 1.0, 0.25, 0.05], np.float32), conv.get_weights()[1]])
features = conv(x)                                                   # 4 channels on very different scales
bn = BatchNormalization()
normalised = bn(features, training=True)
predicted = bn(features, training=False)                            # moving statistics: still near 0 and 1
for c in range(4):
    print(f"channel {c}: before mean {features[..., c].mean():6.3f} std {features[..., c].std():6.3f} "
          f"(variance {features[..., c].var():.1e} vs ε = {bn.epsilon:g})  →  "
          f"after (training) mean {normalised[..., c].mean():+.3f} std {normalised[..., c].std():.3f};  "
          f"inference mode std {predicted[..., c].std():.3f}")

fig, axes = plt.subplots(2, 3, figsize=(16, 7), layout="constrained")
channels = [f"channel {c}" for c in range(4)]
for ax, data in ((axes[0, 0], features), (axes[1, 0], normalised)):
    ax.boxplot([data[..., c].ravel() for c in range(4)], showfliers=False, whis=(1, 99))
    ax.set_xticks(range(1, 5), channels)
axes[0, 0].set(title="before: ReLU feature maps, 4 channels", ylabel="value (box: quartiles; whiskers: 1-99 %)")
axes[1, 0].set(title="after BatchNormalization (training mode)", ylabel="value")
for row, (name, data) in enumerate([("before", features), ("after", normalised)]):
    for col, c in enumerate((0, 3)):
        ax = axes[row, col + 1]
        im = ax.imshow(data[0, :, :, c], cmap="viridis", aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax)
        ax.set(title=f"{name}: channel {c} of the first image", xlabel="SNP", ylabel="haplotype")
fig.suptitle("Batch normalisation keeps the pattern of each map and puts the channels on one scale")
savefig(fig, settings, "batch_normalisation.png")

# %% [markdown]
# Channels whose variance is well above ε come out with a standard deviation near 1, whatever their
# scale before. The smallest channel does not: its variance (~10⁻⁴) is *smaller than ε = 10⁻³*, so
# `sqrt(σ² + ε)` is dominated by ε and the channel is only partly stretched. That is on purpose: a channel that is almost constant carries almost no
# signal, and dividing by its tiny σ would blow its noise up to the size of a real signal.
# And in inference mode (`training=False`) the output is still almost the input: after one batch the
# moving averages have moved only 1 % of the way from (0, 1) to the batch's μ and σ². This is why a
# network with batch normalisation must be trained for a good number of steps before its predictions
# mean anything.

# %% [markdown]
# ## Try this
# - Write a 3 × 1 kernel that lights up where three neighbouring haplotypes all carry the derived
#   allele. Sort the rows first (`GenotypeImage(sort_rows="similarity")`): what happens to its map?
# - Change the image to 128 SNPs and re-measure the speed-up. Does it grow with the batch size? Run with
#   `LESSONS_THREADS=2` for the fast kernel's second thread.
# - Replace the 1 × 5 kernels of section 4 by 16 kernels of 3 × 3 × 16 (input with 16 channels): the
#   fast family now takes its im2col + BLAS path. How does the ratio change?
# - Pool with `MaxPooling2D((24, 1))` instead of the average: is it also invariant to shuffling the
#   haplotypes? What does it throw away?
# - Call `bn(features, training=True)` 500 times, then compare `training=False` outputs with the
#   training-mode ones: the moving averages have caught up.
# - Open `minidl/kernels/reference.py` and find how `conv2d_backward_input` reuses `conv2d_forward`
#   (a full convolution with the flipped kernel).

# %%
print(f"Lesson 10 done in {settings.elapsed():.1f} s; figures in {settings.output}")
