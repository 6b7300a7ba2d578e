"""Scenarios from the command line without editing popsim: YAML scenario files with priors, module:function."""

import sys
import textwrap

import numpy as np
import pytest

from popsim.cli.main import main
from popsim.sim.dataset import Dataset

SMALL = ["--sequence-length", "1000", "--n-loci", "1", "--no-progress", "--n-snps", "8", "--mutation-rate", "1e-7",
         "--recombination-rate", "1e-8"]

SCENARIO_FILE = textwrap.dedent("""\
    # A split with priors: no Python needed.
    priors:
      T_split: Uniform(200, 2000)
      N_A: {type: LogUniform, low: 1000, high: 10000}
      T_contact: Uniform(10, "0.5 * T_split")
    samples: {A: 3, B: 2}
    defaults:
      n_loci: 1
    time_units: generations
    demes:
      - name: ANC
        epochs: [{start_size: 5000, end_time: ${T_split}}]
      - name: A
        ancestors: [ANC]
        epochs: [{start_size: ${N_A}}]
      - name: B
        ancestors: [ANC]
        epochs: [{start_size: 2000}]
    migrations:
      - {demes: [A, B], rate: 1e-4, start_time: ${T_contact}}
    """)


def test_scenario_file_through_simulate_and_show(tmp_path, capsys):
    path = tmp_path / "contact.yaml"
    path.write_text(SCENARIO_FILE)
    out = tmp_path / "ds"
    assert main(["simulate", "--scenarios", "split", "--scenario-file", str(path), "--samples", "A=2,B=2",
                 "--n", "3", "--seed", "5", "-o", str(out), *SMALL]) == 0
    ds = Dataset(out)
    assert ds.scenario_names == ["split", "contact"]
    names = ds.parameter_names
    assert "T_contact" in names and "T_split" in names
    table = np.asarray(ds.params)
    labels = np.asarray(ds.labels)
    t_split, t_contact = table[labels == 1, names.index("T_split")], table[labels == 1, names.index("T_contact")]
    assert np.all((200 <= t_split) & (t_split <= 2000)) and np.all(t_contact <= 0.5 * t_split)
    capsys.readouterr()
    # show: samples from the file, priors printed, drawn with a log time axis.
    assert main(["show", str(path), "-o", str(tmp_path / "c.png"), "--log-time"]) == 0
    shown = capsys.readouterr().out
    assert "Uniform(low=200, high=2000)" in shown and "'A': 3" in shown
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_scenario_file_errors_name_the_file_and_the_problem(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO_FILE.replace("  T_contact: Uniform(10, \"0.5 * T_split\")\n", ""))
    assert main(["show", str(path)]) == 2
    assert "placeholders ['N_A', 'T_contact', 'T_split'] do not match priors ['N_A', 'T_split']" in capsys.readouterr().err
    path.write_text(SCENARIO_FILE.replace("Uniform(200, 2000)", "Normal(1, 2)"))
    assert main(["show", str(path)]) == 2
    assert "prior 'T_split'" in capsys.readouterr().err
    path.write_text(SCENARIO_FILE.replace("samples: {A: 3, B: 2}\n", ""))
    assert main(["simulate", "--scenario-file", str(path), "--n", "1", "--seed", "1", "-o", str(tmp_path / "x")]) == 2
    assert "has no samples: section" in capsys.readouterr().err


MODULE = textwrap.dedent('''\
    from popsim.sim.priors import Uniform, LogUniform
    from popsim.sim.vocabulary import Model, Population, Epoch

    def bottleneck_in_years():
        model = Model([Population("pop", [Epoch(size="N", end="T"), Epoch(factor=0.1, end="T + 2000"), Epoch(size="N")])],
                      time_units="years", generation_time="g")
        return model.scenario("years_bottleneck", {"pop": 3}, {"N": LogUniform(1e3, 1e4), "T": Uniform(1000, 5000),
                              "g": Uniform(1, 2)})
    ''')


def test_module_function_loads_a_python_scenario_with_priors(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_models.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_models", None)
    out = tmp_path / "ds"
    assert main(["simulate", "--scenarios", "my_models:bottleneck_in_years,constant_size", "--samples", "pop=3", "--n", "2", "--seed", "1",
                 "-o", str(out), *SMALL]) == 0
    assert Dataset(out).scenario_names == ["years_bottleneck", "constant_size"]
    capsys.readouterr()
    assert main(["show", "my_models:bottleneck_in_years", "--demes", str(tmp_path / "m.yaml")]) == 0
    assert "generation_time_years" in (tmp_path / "m.yaml").read_text()
    assert main(["show", "no_such_module_xyz:f"]) == 2
    assert "no module 'no_such_module_xyz'" in capsys.readouterr().err


def test_simulate_without_any_scenario_says_how_to_name_one(tmp_path, capsys):
    assert main(["simulate", "--n", "1", "--seed", "1", "-o", str(tmp_path / "x")]) == 2
    assert "--scenario-file model.yaml" in capsys.readouterr().err
