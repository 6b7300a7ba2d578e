"""ABC a researcher can use: Datasets and StatisticsTables as input, statistic names in results and errors,
constant columns dropped and reported, and a warning of many leave-one-out calls summarised once."""

import warnings

import numpy as np
import pytest

from popsim.features.stats import StatisticsTable
from popsim.inference import abc as A
from popsim.sim.dataset import simulate_dataset
from popsim.sim.simulate import SimulationSettings, SummaryStatistics


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    settings = SimulationSettings(sequence_length=5_000, n_loci=2, statistics=SummaryStatistics("t1_sfs"))
    return simulate_dataset(tmp_path_factory.mktemp("abc") / "d", ["flagship_split", "flagship_im"], 40, 3,
                            settings, progress=False)


def _toy(n=300, seed=0):
    """Two models told apart by statistic "signal"; "noise" is noise and "constant" never changes."""
    rng = np.random.default_rng(seed)
    index = np.repeat(["far", "near"], n // 2)
    signal = np.where(index == "far", 3.0, 0.0) + rng.normal(0, 1, n)
    return index, StatisticsTable(["signal", "noise", "constant"],
                                  np.column_stack([signal, rng.normal(0, 1, n), np.ones(n)]))


def test_postpr_and_cv4postpr_take_a_dataset_and_its_scenario_names(dataset):
    target = dataset.statistics[0]
    res = A.postpr(target, None, dataset, 0.2)
    assert res.models == sorted(dataset.scenario_names)
    assert res.stat_names == dataset.statistic_names
    cv = A.cv4postpr(None, dataset, nval=10, tol=0.2, seed=1)
    assert cv.stat_names == dataset.statistic_names
    assert cv.confusion.sum() == 20 and set(cv.models) == set(dataset.scenario_names)
    # The same answer as with the arrays written out by hand.
    index = np.asarray(dataset.scenario_names)[dataset.labels]
    by_hand = A.cv4postpr(index, dataset.statistics, nval=10, tol=0.2, seed=1)
    assert np.array_equal(by_hand.probs, cv.probs)


def test_abc_and_cv4abc_take_parameter_names_of_a_dataset(dataset):
    res = A.abc(dataset.statistics[0], "T_split", dataset, 0.2)
    assert res.param_names == ["T_split"] and res.unadj_values.shape[1] == 1
    column = dataset.parameter_names.index("T_split")
    assert np.array_equal(res.unadj_values[:, 0], dataset.params[res.accepted, column])
    cv = A.cv4abc(["T_split", "N_A"], dataset, nval=8, tol=0.2, seed=2)
    assert cv.param_names == ["T_split", "N_A"] and cv.estimated.shape == (8, 2)
    with pytest.raises(ValueError, match=r"lack \['m'\]"):
        A.abc(dataset.statistics[0], "m", dataset, 0.2)      # the split scenario has no migration rate
    with pytest.raises(ValueError, match="unknown"):
        A.abc(dataset.statistics[0], "T_nothing", dataset, 0.2)


def test_a_dataset_without_statistics_says_what_to_do(tmp_path):
    ds = simulate_dataset(tmp_path / "raw", ["flagship_split", "flagship_im"], 2, 1,
                          SimulationSettings(sequence_length=1_000, keep_genotypes=True), progress=False)
    with pytest.raises(ValueError, match="statistics_table"):
        A.postpr(np.zeros(3), None, ds, 0.5)


@pytest.mark.filterwarnings("ignore::popsim.inference.abc.ConstantStatisticWarning")
def test_target_as_a_mapping_is_put_in_column_order():
    index, table = _toy()
    target = {"constant": 1.0, "noise": 0.0, "signal": 3.0}
    assert np.array_equal(A.postpr(target, index, table, 0.1, drop_constant=True).probs,
                          A.postpr([3.0, 0.0, 1.0], index, table, 0.1, drop_constant=True).probs)
    with pytest.raises(ValueError, match=r"missing \['noise'\]"):
        A.postpr({"signal": 3.0, "constant": 1.0}, index, table, 0.1)


def test_errors_name_the_statistics_not_r_placeholders():
    index, table = _toy()
    with pytest.raises(ValueError, match=r"\['constant'\] are constant .*drop_constant=True"):
        A.postpr([3.0, 0.0, 1.0], index, table, 0.1)
    # Unnamed columns are stat[<column index>], which cannot be read as "S of population 1".
    with pytest.raises(ValueError, match=r"\['stat\[2\]'\] are constant"):
        A.postpr([3.0, 0.0, 1.0], index, table.values, 0.1)
    with pytest.raises(ValueError, match=r"NaN/inf in \['noise'\]"):
        A.abc([3.0, np.nan, 1.0], np.arange(300.0), table, 0.1)
    assert A.abc([3.0, 0.0, 1.0], np.arange(300.0), table.values, 0.1).param_names == ["param[0]"]


def test_drop_constant_reports_the_columns_in_the_result_and_one_warning():
    index, table = _toy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = A.postpr([3.0, 0.0, 1.0], index, table, 0.1, drop_constant=True)
    assert res.dropped == ["constant"] and res.stat_names == ["signal", "noise"]
    assert [str(w.message) for w in caught if issubclass(w.category, A.ConstantStatisticWarning)] == [
        "postpr: dropped 1 constant statistic(s) ['constant'] (they take one value in every simulation, so they "
        "cannot tell simulations apart)"]
    # Dropping a constant column changes nothing else: it adds the same offset to every distance.
    same = A.postpr([3.0, 0.0], index, table.select(["signal", "noise"]), 0.1)
    assert np.array_equal(res.probs, same.probs)
    with pytest.warns(A.ConstantStatisticWarning, match=r"^abc: dropped 1"):
        fit = A.abc([3.0, 0.0, 1.0], np.arange(300.0), table, 0.1, method="loclinear", drop_constant=True)
    assert fit.dropped == ["constant"] and fit.stat_names == ["signal", "noise"]


def test_cross_validation_drops_constant_columns_once_and_summarises_repeated_warnings():
    index, table = _toy(seed=4)
    # A column non-zero in one simulation only: constant in the leave-one-out call that holds it out.
    values = np.column_stack([table.values, np.zeros(len(index))])
    values[7, 3] = 1.0
    names = table.names + ["rare"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv = A.cv4postpr(index, values, nval=20, tol=0.1, seed=5, stat_names=names, drop_constant=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, A.ConstantStatisticWarning)]
    assert cv.dropped == ["constant"] and cv.stat_names == ["signal", "noise", "rare"]
    assert messages[0].startswith("cv4postpr: dropped 1 constant statistic(s) ['constant']")
    assert 7 in cv.cv_rows  # seed 5 holds out the one simulation where "rare" is not 0
    assert len(messages) == 2
    assert messages[1].endswith("(in 1 of 40 cross-validation calls)") and "['rare']" in messages[1]
    assert cv.accuracy > 0.8
    text = cv.summary()
    assert "accuracy" in text and "dropped as constant (1): constant" in text and "signal, noise, rare" in text


def test_a_warning_of_every_leave_one_out_call_is_emitted_once_with_the_count():
    rng = np.random.default_rng(5)
    index = np.repeat(["a", "b", "c"], 40)
    sumstat = rng.normal(0, 1, (120, 2)) + (index == "a")[:, None] * 4.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # At tol 0.05 only 6 simulations are accepted, most from one model: mnlogistic falls back often.
        A.cv4postpr(index, sumstat, nval=5, tol=0.05, method="mnlogistic", seed=1, stat_names=["x", "y"])
    fallback = [str(w.message) for w in caught if "no regression is performed" in str(w.message)]
    assert len(fallback) >= 1 and all(m.startswith("cv4postpr: ") for m in fallback)
    assert all(" cross-validation calls)" in m for m in fallback)
    counts = [int(m.rsplit("(in ", 1)[1].split(" of ")[0]) for m in fallback]
    # 15 calls fell back (5 with one model accepted, 10 with two): two messages instead of fifteen.
    assert sorted(counts) == [5, 10] and all(m.endswith("of 15 cross-validation calls)") for m in fallback)


def test_cv4abc_keeps_statistic_names_and_summary():
    rng = np.random.default_rng(6)
    theta = rng.uniform(0, 10, 400)
    table = StatisticsTable(["theta_plus_noise", "noise"],
                            np.column_stack([theta + rng.normal(0, 1, 400), rng.normal(0, 1, 400)]))
    cv = A.cv4abc(theta, table, nval=30, tol=0.1, seed=1, param_names=["theta"])
    assert cv.stat_names == ["theta_plus_noise", "noise"]
    assert "prediction error theta:" in cv.summary() and cv.prediction_error[0] < 0.3
