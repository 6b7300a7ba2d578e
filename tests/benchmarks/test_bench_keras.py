"""The benchmark's summary against the issue's targets (benchmarks/bench_keras.py): a run's results in, the
table and the missed targets out. No timing here — the benchmark itself is never part of the test run."""

from benchmarks.bench_keras import MODES, summary


def _results(ratio_keras, ratio_torch, conv, sgemm, warm):
    workload = {"workload": "R1", "keras_jit_compile": "auto"}
    for mode in MODES:
        workload.update({f"{mode}_minidl": 100.0, f"{mode}_keras": 100.0 / ratio_keras[mode],
                         f"{mode}_ratio_keras": ratio_keras[mode], f"{mode}_torch": 100.0 / ratio_torch,
                         f"{mode}_ratio_torch": ratio_torch})
    return {"workloads": [workload], "sgemm_gflops": sgemm, "conv_gflops": {"R1": conv},
            "startup": {"R1": {"cold": {"jit_s": 8.5, "import_build_s": 0.2, "first_step_s": 8.7},
                               "warm": {"jit_s": 0.5, "import_build_s": 0.2, "first_step_s": warm}}}}


def test_summary_marks_every_missed_target_and_says_by_how_much():
    lines = summary(_results({"fit": 2.5, "tob": 1.25, "infer": 3.0}, 2.2,
                             [("conv1d", [1000, 270], 300.0), ("conv1d_1", [499, 64], 100.0)], [400.0, 500.0, 450.0],
                             warm=0.6))
    table = "\n".join(lines)
    assert "| R1 | keras | 2.50× | 1.25× * | 3.00× |" in table
    assert "| R1 | torch | 2.20× | 2.20× | 2.20× |" in table
    assert "67% of the run's median sgemm (450)" in table and "22% of the run's median sgemm" in table
    missed = lines[-1]
    assert missed.startswith("missed: ")
    assert "R1 `train_on_batch` vs keras (jit_compile=auto): 1.25×, 1.60× short" in missed
    assert "R1 conv1d_1: 22% of sgemm, 2.7× short of 60%" in missed
    assert "fit" not in missed and "conv1d:" not in missed and "warm start" not in missed


def test_summary_with_every_target_met_says_none_missed():
    lines = summary(_results({"fit": 2.1, "tob": 2.0, "infer": 5.0}, 3.0, [("conv1d", [1000, 270], 400.0)],
                             [450.0], warm=0.9))
    assert lines[-1].startswith("missed: none")
    assert not any(" * " in line or line.endswith(" *|") for line in lines)


def test_summary_counts_a_slow_warm_start_as_missed():
    lines = summary(_results({"fit": 3.0, "tob": 3.0, "infer": 3.0}, 3.0, [], [450.0], warm=3.5))
    assert "R1 warm start 3.7 s (target < 3 s)" in lines[-1]


def test_summary_names_a_memory_bound_layer_with_its_ceiling():
    """A conv layer's fourth field is its FLOP per byte that must move (bench_keras.conv_bytes); with the run's
    memory rate, the summary gives its memory-bound ceiling and says when that ceiling itself is below the target."""
    results = _results({"fit": 3.0, "tob": 3.0, "infer": 3.0}, 3.0,
                       [("conv2d", [50, 400, 1], 24.0, 2.25), ("conv2d_1", [24, 199, 32], 120.0, 40.0)], [135.0],
                       warm=0.5)
    results["memory_gbs"] = [20.0, 24.0]   # median 22 GB/s: ceilings 49.5 and 880 GFLOP/s
    lines = summary(results)
    table = "\n".join(lines)
    assert "memory-bound ceiling 50 GFLOP/s (37% of sgemm), reached 48%" in table
    assert ("conv2d_1 on (24, 199, 32): 120 GFLOP/s = 89% of the run's median sgemm (135); memory-bound ceiling 880 "
            "GFLOP/s, above sgemm") in table
    assert "R1 conv2d: 18% of sgemm, 3.4× short of 60% (memory-bound: its ceiling at 22 GB/s is 37% of sgemm)" in lines[-1]
    assert "conv2d_1:" not in lines[-1]


def test_conv_bytes_counts_each_array_the_layer_must_move():
    import minidl
    from benchmarks.bench_keras import conv_bytes, conv_flops
    layer = minidl.layers.Conv2D(32, 3, activation="relu")
    layer.build((50, 400, 1))
    # x: 50·400 values, y: 48·398·32; forward x + y, backward x + dy + y + dx: 3·(|x| + |y|) float32 values
    assert conv_bytes(layer, (50, 400, 1), 2) == 3 * 2 * (50 * 400 + 48 * 398 * 32) * 4
    assert conv_flops(layer, (50, 400, 1)) == 3 * 2 * 48 * 398 * 9 * 32
