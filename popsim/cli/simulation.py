"""``popsim list``, ``popsim show``, ``popsim simulate``, ``popsim info``: scenarios and datasets.

    popsim list [--catalogue]                     # built-in scenarios (and the stdpopsim catalogue)
    popsim show SCENARIO|FILE.yaml|MODULE:FUNCTION [-o model.png] [--log-time]
    popsim simulate [--scenarios A,B,...] [--scenario-file FILE.yaml ...] --n N --seed S -o DATASET [...]
    popsim info DATASET
    popsim verify DATASET
"""

from __future__ import annotations

import sys
import time

from popsim.cli.common import CommandError, HelpFormatter, check_output_file, check_output_folder, parse_mapping

__all__ = ["add_parser", "run_list", "run_show", "run_simulate", "run_info", "run_verify"]

IMAGE_BYTES_LIMIT = 256 * 2**20  # one image of more than 256 MiB is a typo, not a plan
# `popsim simulate` options that are, under the same names, fields of GenotypeImage and SimulationSettings.
IMAGE_OPTIONS = ("n_snps", "snp_selection", "sort_rows", "encoding", "unphased", "distance_channel", "missing_rate")
SETTINGS_OPTIONS = ("sequence_length", "mutation_rate", "recombination_rate", "n_loci", "segregating_sites",
                    "discrete_genome", "mutation_model", "keep_genotypes")


def _file_has_samples(path: str) -> bool:
    import os
    import re

    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            return any(re.match(r"samples\s*:", line) for line in handle)
    except (OSError, UnicodeDecodeError):
        return False


def _load_one(name: str, sample_sizes):
    """One scenario: a built-in name, a YAML scenario file (demes + optional priors:/samples:/defaults:), or
    ``module:function`` naming a Python function that returns a Scenario (or a Scenario object)."""
    from popsim.sim.scenarios import Scenario, get_scenario

    if name.endswith((".yaml", ".yml")):
        if sample_sizes is None and not _file_has_samples(name):
            raise CommandError(f"demes file {name!r} needs --samples POP=INDIVIDUALS[,...]")
        return [Scenario.from_file(name, sample_sizes)]
    if name.startswith("stdpopsim:"):
        species, _, model = name[len("stdpopsim:"):].partition("/")
        if not species or not model:
            raise CommandError(f"scenario {name!r} must look like stdpopsim:SPECIES/MODEL, e.g. "
                               "stdpopsim:AnoGam/GabonAg1000G_1A17 (see popsim list --catalogue)")
        if sample_sizes is None:
            raise CommandError(f"catalogue scenario {name!r} needs --samples POP=INDIVIDUALS[,...]")
        return [Scenario.from_stdpopsim(species, model, sample_sizes)]
    if ":" in name:
        import importlib

        module, _, attribute = name.partition(":")
        try:
            target = importlib.import_module(module)
        except ModuleNotFoundError as error:
            raise CommandError(f"scenario {name!r}: no module {error.name!r} (is it on PYTHONPATH, or in the "
                               "current directory?)") from None
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise CommandError(f"scenario {name!r}: module {module!r} has no attribute {attribute!r}")
            target = getattr(target, part)
        made = target if isinstance(target, Scenario) else target()
        made = list(made) if isinstance(made, (list, tuple)) else [made]
        if not made or not all(isinstance(s, Scenario) for s in made):
            raise CommandError(f"scenario {name!r} returned {made!r}; expected a popsim Scenario (or a list of them)")
        return [s.with_samples(sample_sizes) if sample_sizes else s for s in made]
    scenario = get_scenario(name)
    return [scenario.with_samples(sample_sizes) if sample_sizes else scenario]


def _load_scenarios(names: str | None, samples: str | None, files=()):
    """Scenarios from ``--scenarios`` (comma-separated built-in names, YAML files or module:function) and then
    ``--scenario-file`` files, in that order (label k = k-th scenario); optional sample override for all."""
    sample_sizes = parse_mapping(samples, "--samples", int) if samples else None
    scenarios = []
    for name in filter(None, (part.strip() for part in (names or "").split(","))):
        scenarios += _load_one(name, sample_sizes)
    for path in files or ():
        if sample_sizes is None and not _file_has_samples(path):
            raise CommandError(f"scenario file {path!r} has no samples: section; add one or give --samples "
                               "POP=INDIVIDUALS[,...]")
        from popsim.sim.scenarios import Scenario

        scenarios.append(Scenario.from_file(path, sample_sizes))
    if not scenarios:
        raise CommandError(f"--scenarios {names!r} names no scenario; expected e.g. --scenarios split,isolation_with_migration "
                           "or --scenario-file model.yaml")
    return scenarios


# -- list ----------------------------------------------------------------------------------------------
def run_list(args) -> int:
    from popsim.sim.scenarios import list_scenarios

    if args.catalogue:
        from popsim.sim.catalogue import catalogue

        for entry in catalogue():
            maps = ", ".join(f"{m}{'' if cached else ' (needs a download)'}" for m, cached in entry["genetic_maps"])
            print(f"{entry['species']}  {entry['name']}  chromosomes: {','.join(entry['chromosomes'])}")
            if maps:
                print(f"  genetic maps: {maps}")
            for model, populations, description in entry["models"]:
                print(f"  stdpopsim:{entry['species']}/{model}  [{','.join(populations)}]  {description}")
        return 0

    scenarios = list_scenarios()
    width = max(len(s.name) for s in scenarios)
    for scenario in scenarios:
        samples = ", ".join(f"{k}:{v}" for k, v in scenario.samples.items())
        print(f"{scenario.name:<{width}}  [{samples}]  {scenario.description}")
    return 0


# -- show ----------------------------------------------------------------------------------------------
def run_show(args) -> int:
    for path, option in ((args.output, "-o/--output"), (args.demes, "--demes")):
        if path is not None:
            check_output_file(path, option)
    (scenario,) = _load_one(args.scenario, parse_mapping(args.samples, "--samples", int) if args.samples else None)[:1]
    params = scenario.reference_params()
    if args.params:
        params.update(parse_mapping(args.params, "--params"))
    print(f"{scenario.name}: {scenario.description}")
    print(f"samples (diploid individuals): {scenario.samples} -> {scenario.n_haplotypes} haplotypes")
    print("priors:")
    for name, prior in scenario.priors.items():
        print(f"  {name:<12} {prior}")
    print(f"defaults: {scenario.defaults}")
    print(f"parameters shown: {params}")
    demography = scenario.demography(params)
    print(demography.debug())
    if args.output:
        path = scenario.draw(args.output, params, log_time=args.log_time)
        print(f"drawing written to {path}")
    if args.demes:
        import demes

        demes.dump(scenario.to_demes(params), args.demes)
        print(f"demes YAML written to {args.demes}")
    return 0


# -- simulate ------------------------------------------------------------------------------------------
def _check_simulate_arguments(args) -> None:
    """Reject bad values by option name before anything is simulated."""
    if not args.output or not args.output.strip():
        raise CommandError(f"-o/--output must be a non-empty directory path; got {args.output!r}")
    minimum = {"--n": (args.n, 0), "--workers": (args.workers, 1), "--chunk-size": (args.chunk_size, 1),
               "--batch-size": (args.batch_size, 1), "--stop-after-chunks": (args.stop_after_chunks, 0),
               "--n-loci": (args.n_loci, 1), "--n-snps": (args.n_snps, 1),
               "--segregating-sites": (args.segregating_sites, 0)}
    for option, (value, low) in minimum.items():
        if value is not None and value < low:
            raise CommandError(f"{option} must be an integer >= {low}; got {value}")
    for option, value in (("--sequence-length", args.sequence_length), ("--mutation-rate", args.mutation_rate),
                          ("--recombination-rate", args.recombination_rate)):
        if value is not None and not value >= 0:
            raise CommandError(f"{option} must be a number >= 0; got {value}")
    if not 0 <= args.missing_rate < 1:
        raise CommandError(f"--missing-rate must lie in [0, 1); got {args.missing_rate}")


def run_simulate(args) -> int:
    import signal
    import threading

    from popsim.features.images import GenotypeImage
    from popsim.sim.dataset import simulate_dataset
    from popsim.sim.simulate import SimulationSettings, SummaryStatistics, import_function

    _check_simulate_arguments(args)
    check_output_folder(args.output, "-o/--output")
    scenarios = _load_scenarios(args.scenarios, args.samples, args.scenario_file)
    statistics = None
    if args.statistics:
        # "module:function" names a user function; a bare name is a popsim.features.stats preset ("t1", "default").
        statistics = import_function(args.statistics) if ":" in args.statistics else SummaryStatistics(args.statistics)
    transform = None
    if not args.no_images:
        transform = GenotypeImage(**{name: getattr(args, name) for name in IMAGE_OPTIONS})
        rows = scenarios[0].n_haplotypes // (2 if args.unphased else 1)
        image_bytes = rows * args.n_snps * (2 if args.distance_channel else 1) * 4  # float32 when assembled
        if image_bytes > IMAGE_BYTES_LIMIT:
            raise CommandError(f"--n-snps {args.n_snps}: one {rows} x {args.n_snps} image would take "
                               f"{image_bytes / 2**30:.1f} GiB; expected at most {IMAGE_BYTES_LIMIT / 2**20:.0f} MiB "
                               "per image (fewer SNPs, or --no-images with --keep-genotypes)")
    contig = None
    if args.contig:
        from popsim.sim.catalogue import parse_contig

        if args.sequence_length is not None or args.recombination_rate is not None:
            raise CommandError("--contig sets the sequence length and recombination map; drop --sequence-length "
                               "and --recombination-rate")
        contig = parse_contig(args.contig)
        if contig.note:
            print(f"popsim: note: {contig.note}", file=sys.stderr)
    settings = SimulationSettings(transform=transform, statistics=statistics, contig=contig,
                                  **{name: getattr(args, name) for name in SETTINGS_OPTIONS})
    executor, client = None, None
    if args.scheduler:
        # A dask.distributed cluster (possibly on several machines) instead of local processes.
        try:
            import distributed
        except ImportError:
            raise CommandError("--scheduler needs dask.distributed; install it with pip install 'distributed'") from None
        try:
            client = distributed.Client(args.scheduler, timeout=args.scheduler_timeout)
        except (OSError, TimeoutError) as error:
            raise CommandError(f"--scheduler {args.scheduler}: no dask scheduler answered within "
                               f"{args.scheduler_timeout:g} s ({type(error).__name__})") from None
        executor = client.get_executor()

    def terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C, so the workers are stopped on the way out
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    started = time.perf_counter()
    try:
        dataset = simulate_dataset(args.output, scenarios, args.n, args.seed, settings, chunk_size=args.chunk_size,
                                   executor=executor, workers=args.workers, batch_size=args.batch_size,
                                   progress=not args.no_progress, stop_after_chunks=args.stop_after_chunks)
    except KeyboardInterrupt:
        print(f"popsim: interrupted; finished chunks are kept in {args.output} — run the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - started
    print(dataset.info())
    print(f"time           {elapsed:.1f} s")
    return 0


# -- info ----------------------------------------------------------------------------------------------
def run_info(args) -> int:
    from popsim.sim.dataset import Dataset

    dataset = Dataset(args.dataset, allow_incomplete=True)
    print(dataset.info())
    return 0


# -- verify --------------------------------------------------------------------------------------------
def run_verify(args) -> int:
    from popsim.sim.dataset import verify_dataset

    problems, summary = verify_dataset(args.dataset, progress=not args.no_progress)
    for problem in problems:
        print(f"BAD            {problem}")
    status = "complete" if summary["missing"] == 0 else f"INCOMPLETE: {summary['recorded']} of {summary['n_chunks']} chunks"
    print(f"dataset        {args.dataset}")
    print(f"status         {status}")
    print(f"verified       {summary['verified']} of {summary['recorded']} recorded chunks "
          f"(checksums of every array, seeds against the master seed, labels against the plan)")
    if problems:
        print(f"result         {len(problems)} bad chunk(s); run the same simulate command again to re-simulate them")
        return 1
    print("result         ok")
    return 0


def add_parser(subparsers) -> None:
    """Register the built-in subcommands: list, show, simulate, info."""
    parser = subparsers.add_parser(
        "list", help="list the built-in scenarios", description="List the built-in scenarios with their default samples."
    )
    parser.add_argument("--catalogue", action="store_true",
                        help="list the stdpopsim catalogue instead: species, chromosomes, models (usable as "
                        "--scenarios stdpopsim:SPECIES/MODEL) and genetic maps (those not cached need a download)")
    parser.set_defaults(func=run_list)

    parser = subparsers.add_parser(
        "show",
        help="describe a scenario and draw it",
        description="Print a scenario's priors and its msprime demography (at the prior medians unless --params), "
        "and optionally draw it with demesdraw.",
    )
    parser.add_argument("scenario", help="built-in scenario name (see `popsim list`), a YAML scenario file (demes with "
                        "${name} placeholders and a priors: section), or module:function returning a Scenario")
    parser.add_argument("--samples", metavar="POP=N,...", help="diploid individuals per population (YAML files)")
    parser.add_argument("--log-time", action="store_true", help="draw with a logarithmic time axis")
    parser.add_argument("-o", "--output", metavar="PNG", help="draw the model to this image file")
    parser.add_argument("--params", metavar="K=V,...", help="parameter values to show instead of the prior medians")
    parser.add_argument("--demes", metavar="YAML", help="also write the model as a demes YAML file")
    parser.set_defaults(func=run_show)

    parser = subparsers.add_parser(
        "simulate",
        help="simulate a dataset (images, labels, parameters, seeds)",
        description="Simulate N replicates of each scenario into a dataset directory (chunked; re-running the "
        "same command resumes an interrupted run and gives exactly the same result). Units: sizes in "
        "diploid individuals, times in generations, rates per bp per generation. Settings not given "
        "come from the scenarios' defaults (see `popsim show`).",
        epilog="examples:\n"
        "  popsim simulate --scenarios mosquito_isolation,mosquito_im --n 1000 --seed 1 --workers 2 \\\n"
        "      --n-snps 250 --snp-selection first --encoding pm1 --distance-channel --keep-genotypes -o t1_train\n"
        "  popsim simulate --scenarios flagship_split,flagship_im,flagship_sc --n 1000 --seed 2 --workers 2 \\\n"
        "      --sort-rows similarity --keep-genotypes -o flagship",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--scenarios", metavar="A,B,...",
                        help="comma-separated built-in names, YAML scenario files or module:function (a Python "
                        "function returning a Scenario with priors); label k = k-th scenario")
    parser.add_argument("--scenario-file", action="append", metavar="FILE.yaml",
                        help="a demes YAML with ${name} placeholders plus priors: (and optionally samples:, "
                        "defaults:) sections; repeatable; labelled after --scenarios")
    parser.add_argument("--n", required=True, type=int, help="replicates per scenario")
    parser.add_argument("--seed", required=True, type=int, help="master seed (all replicate seeds derive from it)")
    parser.add_argument("-o", "--output", required=True, metavar="DATASET", help="dataset directory")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a dask.distributed cluster, e.g. tcp://10.0.0.1:8786 (--workers then sizes the "
                        "work queue; the output is identical to a local run)")
    parser.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for the --scheduler to answer")
    parser.add_argument("--samples", metavar="POP=N,...", help="diploid individuals per population, for all scenarios")
    parser.add_argument("--sequence-length", type=float, help="bp per locus")
    parser.add_argument("--mutation-rate", type=float, help="per bp per generation")
    parser.add_argument("--recombination-rate", type=float, help="per bp per generation")
    parser.add_argument("--n-loci", type=int, help="independent loci per replicate")
    parser.add_argument("--contig", metavar="SPECIES:CHROM[:LEFT-RIGHT][@MAP]",
                        help="each locus is this stdpopsim contig (its length, mutation rate and recombination map; "
                        "a genetic map not in stdpopsim's cache falls back to the uniform rate), e.g. AnoGam:2L:0-100000")
    parser.add_argument("--segregating-sites", type=int, help="exactly this many segregating sites per locus (ms -s)")
    parser.add_argument("--discrete-genome", action="store_true",
                        help="integer positions (default: infinite sites)")
    parser.add_argument("--mutation-model", choices=("binary", "jc69"), default="binary",
                        help="binary 0/1 alleles, or msprime's default nucleotide model JC69 (needs --discrete-genome; "
                        "a site with 3-4 alleles is kept as ancestral vs derived)")
    parser.add_argument("--keep-genotypes", action="store_true",
                        help="also store raw genotype matrices and positions (for summary statistics)")
    parser.add_argument("--statistics", metavar="PRESET|MODULE:FUNCTION",
                        help="summary statistics computed per replicate in the workers and stored: a popsim.features.stats "
                        "preset (t1, default; per bp) or a function record -> {name: value}")
    parser.add_argument("--chunk-size", type=int, default=256, help="replicates per chunk (the unit of work of a worker)")
    parser.add_argument("--batch-size", type=int, help="ignored (kept for old scripts): the unit of work is one chunk")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--stop-after-chunks", type=int, help="write at most this many new chunks, then stop")
    images = parser.add_argument_group("genotype images")
    images.add_argument("--no-images", action="store_true", help="store no images (needs --keep-genotypes)")
    images.add_argument("--n-snps", type=int, default=256, help="image columns")
    images.add_argument("--snp-selection", choices=["first", "centre", "even"], default="even",
                        help="which SNPs: the first N, a centred window, or evenly spread")
    images.add_argument("--sort-rows", choices=["none", "frequency", "similarity"], default="none",
                        help="row order within each population")
    images.add_argument("--encoding", choices=["01", "pm1"], default="01",
                        help="01: derived=1; pm1: minor=+1, major=-1; missing=0")
    images.add_argument("--unphased", action="store_true", help="rows are individuals with 0/1/2 derived alleles")
    images.add_argument("--distance-channel", action="store_true", help="add a log(1+bp) inter-SNP distance channel")
    images.add_argument("--missing-rate", type=float, default=0.0, help="fraction of genotypes set missing")
    parser.set_defaults(func=run_simulate)

    parser = subparsers.add_parser(
        "info", help="summarise a dataset", description="Print what a dataset contains and whether it is complete."
    )
    parser.add_argument("dataset", help="dataset directory")
    parser.set_defaults(func=run_info)

    parser = subparsers.add_parser(
        "verify", help="check every chunk of a dataset",
        description="Read every chunk of a dataset store and check it against the manifest: checksums of every "
        "array (images, raw genotypes, parameters, seeds, ...), each replicate's seeds against the master seed "
        "and its label against the plan. Prints each bad chunk; exit status 1 if any, 0 otherwise.",
        formatter_class=HelpFormatter)
    parser.add_argument("dataset", help="dataset directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_verify)
