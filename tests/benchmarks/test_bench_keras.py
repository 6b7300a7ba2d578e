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
