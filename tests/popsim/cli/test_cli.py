"""The popsim command line: list, show, simulate (incl. TASKS.md T1 and resume after a kill), info, --help."""

import os
import signal
import subprocess
import sys
import time

import demes
import pytest

from popsim.cli.main import build_parser, main
from popsim.sim.dataset import Dataset
from tests.popsim.sim.test_dataset import chunk_contents

SMALL = ["--sequence-length", "2000", "--n-loci", "2", "--no-progress"]


def test_list_names_every_builtin_scenario(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("constant_size", "secondary_contact", "mosquito_im", "flagship_sc"):
        assert name in out


def test_show_prints_priors_and_demography_and_draws_a_png(tmp_path, capsys):
    assert main(["show", "mosquito_im", "-o", str(tmp_path / "m.png"), "--params", "T_split=250",
                 "--demes", str(tmp_path / "m.yaml")]) == 0
    out = capsys.readouterr().out
    assert "IntUniform(low=200, high=399)" in out and "Epoch[0]: [0, 250) generations" in out
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    graph = demes.load(tmp_path / "m.yaml")
    assert graph["GN"].epochs[0].start_size == 75_000 and graph["GN"].start_time == 250


@pytest.mark.parametrize("command", ["list", "show", "simulate", "info", "verify"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: popsim " + command in out
    if command == "simulate":
        for option in ("--scenarios", "--n ", "--seed", "--workers", "--segregating-sites", "--keep-genotypes",
                       "--sort-rows", "--encoding", "--distance-channel", "--missing-rate", "--unphased"):
            assert option in out


def test_parser_is_assembled_from_subcommand_modules():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    assert {"list", "show", "simulate", "info", "verify"} <= set(subcommands)


def test_simulate_then_info(tmp_path, capsys):
    out_dir = tmp_path / "data"
    assert main(["simulate", "--scenarios", "flagship_split,flagship_sc", "--n", "3", "--seed", "1", "--workers", "2",
                 "-o", str(out_dir), "--n-snps", "16", "--sort-rows", "frequency", "--keep-genotypes",
                 "--statistics", "tests.popsim.sim.test_simulate:segregating_sites_per_population", *SMALL]) == 0
    capsys.readouterr()
    assert main(["info", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "replicates     6 of 6" in out and "status         complete" in out
    assert main(["verify", str(out_dir), "--no-progress"]) == 0
    assert "result         ok" in capsys.readouterr().out
    dataset = Dataset(out_dir)
    x, y = dataset.arrays()
    assert x.shape == (6, 48, 16, 1) and y.tolist() == [0, 1] * 3
    assert dataset.statistics.shape == (6, 3)


def test_tasks_t1_mosquito_simulation_works_from_the_cli(tmp_path):
    out_dir = tmp_path / "t1"
    assert main(["simulate", "--scenarios", "mosquito_isolation,mosquito_im", "--n", "1", "--seed", "2",
                 "-o", str(out_dir), "--n-snps", "250", "--snp-selection", "first", "--encoding", "pm1",
                 "--distance-channel", "--no-progress"]) == 0
    dataset = Dataset(out_dir)
    assert dataset.image_shape == (280, 250, 2)
    assert dataset.metadata["config"]["settings"]["sequence_length"] == 150_000


def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys):
    assert main(["simulate", "--scenarios", "nope", "--n", "1", "--seed", "0", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("popsim: error: scenario 'nope' is unknown") and "\n" not in err
    assert main(["simulate", "--scenarios", "split", "--n", "1", "--seed", "-3", "-o", str(tmp_path / "y")]) == 2
    assert "seed must be an integer >= 0; got -3" in capsys.readouterr().err
    base = ["simulate", "--scenarios", "split", "--n", "1", "--seed", "0"]
    for extra, message in ((["-o", ""], "-o/--output must be a non-empty directory path; got ''"),
                           (["-o", str(tmp_path / "z"), "--stop-after-chunks", "-1"],
                            "--stop-after-chunks must be an integer >= 0; got -1"),
                           (["-o", str(tmp_path / "z"), "--chunk-size", "0"], "--chunk-size must be an integer >= 1; got 0"),
                           (["-o", str(tmp_path / "z"), "--workers", "0"], "--workers must be an integer >= 1; got 0"),
                           (["-o", str(tmp_path / "z"), "--n", "-2"], "--n must be an integer >= 0; got -2"),
                           (["-o", str(tmp_path / "z"), "--missing-rate", "1.5"], "--missing-rate must lie in [0, 1)")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("popsim: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "z").exists()


def test_verify_names_a_corrupt_chunk_and_exits_1_and_info_reports_incomplete(tmp_path, capsys):
    from tests.popsim.sim.test_dataset import chunk_file

    out_dir = tmp_path / "data"
    assert main(["simulate", "--scenarios", "flagship_split,flagship_sc", "--n", "4", "--seed", "1", "--chunk-size", "2",
                 "-o", str(out_dir), "--n-snps", "8", "--stop-after-chunks", "3", *SMALL]) == 0
    capsys.readouterr()
    assert main(["info", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "INCOMPLETE: 3 of 4 chunks" in out and "replicates     6 of 8" in out
    file = chunk_file(out_dir, "image", 1)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x10
    file.write_bytes(bytes(data))
    assert main(["verify", str(out_dir), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "BAD            chunk 1 (replicates 2..3) of array 'image' is corrupt" in out
    assert "INCOMPLETE: 3 of 4 chunks" in out and "verified       2 of 3 recorded chunks" in out


def test_a_killed_simulate_resumes_to_exactly_the_uninterrupted_result(tmp_path):
    arguments = ["simulate", "--scenarios", "flagship_split,flagship_im", "--n", "100", "--seed", "9",
                 "--chunk-size", "4", "--n-snps", "16", *SMALL]
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "popsim.cli", *arguments, "-o", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while manifest_chunks(killed) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not Dataset(killed, allow_incomplete=True).complete
    assert main([*arguments, "-o", str(killed)]) == 0
    assert main([*arguments, "-o", str(tmp_path / "clean")]) == 0
    assert chunk_contents(killed) == chunk_contents(tmp_path / "clean")
    assert Dataset(killed).complete


def manifest_chunks(path):
    try:
        return max(0, len((path / "manifest.jsonl").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def children_of(pid):
    """Live descendants of ``pid`` (psutil)."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM])
def test_killing_simulate_leaves_no_orphaned_workers(tmp_path, signal_number):
    import psutil  # installed by the test extra: never skipped
    arguments = ["simulate", "--scenarios", "flagship_split,flagship_im", "--n", "400", "--seed", "9",
                 "--chunk-size", "4", "--n-snps", "16", "--workers", "2", *SMALL, "-o", str(tmp_path / "data")]
    process = subprocess.Popen([sys.executable, "-m", "popsim.cli", *arguments],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        workers = []
        while time.time() < deadline and (len(workers) < 2 or manifest_chunks(tmp_path / "data") < 1):
            workers = children_of(process.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, "the pool's workers never started"
        os.kill(process.pid, signal_number)  # the parent only, not its process group
        process.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert alive == [], f"workers {[p.pid for p in alive]} outlived their parent"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_python_m_popsim_cli_reports_a_user_error_in_one_line_like_the_popsim_command(tmp_path):
    # One code path: `python -m popsim.cli` runs popsim.cli.main.main, so a CommandError (here from the
    # demes file without --samples) is one line on stderr and exit status 2, never a traceback.
    result = subprocess.run([sys.executable, "-m", "popsim.cli", "simulate", "--scenarios", "model.yaml", "--n", "1",
                             "--seed", "0", "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["popsim: error: demes file 'model.yaml' needs --samples "
                                                  "POP=INDIVIDUALS[,...]"]


def test_popsim_help_starts_without_loading_the_statistics_abc_or_vcf_modules():
    code = ("import sys; from popsim.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('popsim.features.stats', 'popsim.inference.abc', 'popsim.realdata.vcf', "
            "'msprime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_subcommand_modules_not_written_yet_are_skipped(monkeypatch):
    import popsim.cli.main as cli

    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", [*cli.SUBCOMMAND_MODULES, "popsim.not_written_yet"])
    subcommands = cli.build_parser()._subparsers._group_actions[0].choices
    assert "simulate" in subcommands


def test_simulate_on_a_dask_scheduler_gives_the_same_dataset(tmp_path):
    import distributed  # installed by the test extra: never skipped
    arguments = ["simulate", "--scenarios", "flagship_split,flagship_sc", "--n", "2", "--seed", "4", "--n-snps", "8",
                 *SMALL]
    assert main([*arguments, "-o", str(tmp_path / "local")]) == 0
    # Two worker processes, each writing its chunks straight into the store.
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        assert main([*arguments, "--chunk-size", "1", "--scheduler", cluster.scheduler_address,
                     "-o", str(tmp_path / "dask")]) == 0
    assert main([*arguments, "--chunk-size", "1", "--workers", "2", "-o", str(tmp_path / "pool")]) == 0
    assert chunk_contents(tmp_path / "dask") == chunk_contents(tmp_path / "pool")
    assert Dataset(tmp_path / "dask").arrays()[0].tobytes() == Dataset(tmp_path / "local").arrays()[0].tobytes()
