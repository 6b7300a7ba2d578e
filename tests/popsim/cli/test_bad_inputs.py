"""Bad inputs to the ``popsim`` command: one error line on stderr and exit status 2, before any long work —
never a traceback, never a silently wrong result. (An option argparse itself rejects prints the usage line
first, then ``popsim COMMAND: error: ...``; everything else prints ``popsim: error: ...`` alone.)

Each row: the arguments (``{tmp}`` is a fresh folder holding the fixture files below) and a piece of the
one-line message. The fixtures are made once per test: a tiny statistics file, a text file, a truncated
``.npz``, broken demes YAML files, an existing plain file and a folder.
"""

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from popsim.cli.main import main

SIMULATE = "simulate --scenarios flagship_split,flagship_im --n 2 --seed 1 --no-progress --sequence-length 2000"

CASES = [
    # popsim abc
    ("abc --train {tmp}/stats.npz --target {tmp}/stats.npz --statistics S,pi --target-row 20",
     "--target-row 20 is not a row of --target, which has 20 row(s)"),
    ("abc --train {tmp}/stats.npz --target {tmp}/stats.npz --target-row -1", "expected an integer >= 0; got -1"),
    ("abc --train {tmp}/stats.npz --target 1,2 --statistics ''", "expected a preset"),
    ("abc --train {tmp}/stats.npz --target 1,2 --statistics ,,", "expected a preset"),
    ("abc --train {tmp}/stats.npz --target 1,2 --statistics S --tol nan", "expected a fraction of simulations in (0, 1]"),
    ("abc --train {tmp}/stats.npz --target 1,2 --statistics S --tol 0", "expected a fraction of simulations in (0, 1]"),
    ("abc --train {tmp}/stats.npz --target 1 --statistics S --param bogus", "--param bogus: not a parameter"),
    ("abc --train {tmp}/text.txt --target 1 --statistics S", "is not an .npz archive"),
    ("abc --train {tmp}/truncated.npz --target 1 --statistics S", "corrupt or truncated"),
    ("abc --train {tmp}/nothing.npz --target 1 --statistics S", "neither a dataset directory nor a statistics"),
    ("abc --train {tmp}/stats.npz --target 1 --statistics S --plots {tmp}/file.txt", "is an existing file"),
    # popsim simulate
    (SIMULATE + " --scenarios {tmp}/syntax.yaml --samples A=2 -o {tmp}/a", "is not a valid demes model: ParserError"),
    (SIMULATE + " --scenarios {tmp}/string.yaml --samples A=2 -o {tmp}/b", "is not a valid demes model"),
    (SIMULATE + " --scenarios {tmp}/python.yaml --samples A=2 -o {tmp}/c", "ConstructorError"),
    (SIMULATE + " --scenarios {tmp}/folder.yaml --samples A=2 -o {tmp}/d", "is a directory; expected a .yaml file"),
    (SIMULATE + " -o {tmp}/file.txt", "is an existing file; expected a folder"),
    (SIMULATE + " --mutation-model jc69 -o {tmp}/i", "mutation_model='jc69' (nucleotides) needs discrete_genome=True"),
    (SIMULATE + " --mutation-model hky -o {tmp}/j", "invalid choice: 'hky'"),
    (SIMULATE + " -o ''", "-o/--output must be a non-empty directory path"),
    (SIMULATE + " -o {tmp}/file.txt/inside", "is a file, not a folder"),
    (SIMULATE + " --n-snps 1000000000 -o {tmp}/e", "would take 178.8 GiB"),
    (SIMULATE + " --scheduler tcp://127.0.0.1:9 --scheduler-timeout 1 -o {tmp}/f", "no dask scheduler answered"),
    # a file where a dataset directory is expected, and empty files
    ("info {tmp}/file.txt", "is a file; expected a dataset directory"),
    ("verify {tmp}/file.txt", "is a file; expected a dataset directory"),
    ("stats {tmp}/file.txt", "is a file; expected a dataset directory"),
    ("abc --train {tmp}/empty.npz --target 1 --statistics S", "corrupt or truncated"),
    ("simulate --scenario-file {tmp}/empty.yaml --n 1 --seed 1 -o {tmp}/h", "has no samples: section"),
    # popsim show
    ("show flagship_sc -o {tmp}/folder.yaml", "is a folder; expected a file path"),
    # popsim predict
    ("predict {tmp}/text.txt {tmp}/folder.yaml --pops {tmp}/file.txt -o {tmp}/g", "not a minidl model file"),
    ("predict {tmp}/text.txt {tmp}/folder.yaml --pops {tmp}/file.txt -o {tmp}/file.txt", "is an existing file"),
]


@pytest.fixture
def tmp(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "stats.npz", names=np.array(["S", "pi"]), values=rng.random((20, 2)),
             labels=np.repeat([0, 1], 10), scenario_names=np.array(["a", "b"]), params=rng.random((20, 1)),
             parameter_names=np.array(["T"]), populations=np.array([]), per_bp=np.array(True))
    (tmp_path / "text.txt").write_text("not an archive\n")
    (tmp_path / "file.txt").write_text("a plain file\n")
    np.savez(tmp_path / "whole.npz", a=np.zeros(1000))
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:300])
    (tmp_path / "syntax.yaml").write_text("time_units: generations\ndemes:\n  - name: A\n    epochs: [{start_size: 1\n")
    (tmp_path / "string.yaml").write_text('"just a string"\n')
    (tmp_path / "python.yaml").write_text('!!python/object/apply:os.system ["echo unsafe"]\n')
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "empty.yaml").write_text("")
    return tmp_path


@pytest.mark.parametrize("arguments, message", CASES, ids=[c[0][:60] for c in CASES])
def test_a_bad_input_is_one_line_and_exit_status_2(arguments, message, tmp, capsys):
    try:
        status = main(shlex.split(arguments.format(tmp=tmp)))
    except SystemExit as exit_:  # argparse's own check of an option
        status = exit_.code
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[0].startswith("usage: popsim") and "Traceback" not in "\n".join(lines)
        err = [line for line in lines if ": error: " in line]
        assert len(err) == 1 and err[0] == lines[-1] and err[0].startswith("popsim "), lines
    else:
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("popsim: error: "), err
    assert status == 2
    assert message in err[0]


def test_nothing_is_written_when_the_output_is_refused(tmp, capsys):
    assert main(shlex.split(SIMULATE + f" --n-snps 1000000000 -o {tmp}/never")) == 2
    assert not (tmp / "never").exists()


def test_a_read_only_output_folder_is_refused_before_simulating(tmp, capsys):
    if os.geteuid() == 0:
        # root may write anywhere: make the parent a file instead, which nobody can write into
        target = tmp / "file.txt" / "data"
        expected = "is a file, not a folder"
    else:
        locked = tmp / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target, expected = locked / "data", "permission denied"
    assert main(shlex.split(SIMULATE + f" -o {target}")) == 2
    assert expected in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly_and_ctrl_c_is_one_line(tmp):
    shown = subprocess.run(f"{shlex.quote(sys.executable)} -m popsim.cli show flagship_sc | head -1", shell=True,
                           capture_output=True, text=True)
    assert "Traceback" not in shown.stderr and "BrokenPipeError" not in shown.stderr
    assert shown.stdout.startswith("flagship_sc")
    # Ctrl-C during a command (simulated: the command raises KeyboardInterrupt)
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys; import popsim.cli.simulation as s; "
         "s.run_list = lambda args: (_ for _ in ()).throw(KeyboardInterrupt); "
         "from popsim.cli.main import main; sys.exit(main(['list']))"],
        capture_output=True, text=True)
    assert run.returncode == 130 and run.stderr.strip() == "popsim: interrupted"


def test_abc_target_row_reports_the_true_scenario_of_that_row(tmp, capsys):
    # rows 0-9 are scenario "a", rows 10-19 scenario "b" (labels in the fixture)
    assert main(shlex.split(f"abc --train {tmp}/stats.npz --target {tmp}/stats.npz --statistics S,pi "
                            "--target-row 15 --tol 0.5")) == 0
    out = capsys.readouterr().out
    assert "== target 15 (true scenario b)" in out
