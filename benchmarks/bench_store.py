"""Peak memory of the dataset store's three uses as the number of replicates grows (issue 12).

    python benchmarks/bench_store.py --n 1000 10000 [--workers 2] [--folder /tmp/bench_store]
    python benchmarks/bench_store.py --n 100000 --stages stats "train epoch"   # on stores simulated before

For each total ``n`` (split over the three flagship scenarios, flagship-sized 48 × 256 images, raw genotypes
and the default statistics kept), three stages run each in a fresh process, and their peak resident set size
(``getrusage`` max RSS) is reported:

* ``simulate`` — ``popsim simulate`` with ``--workers`` processes: the main process and the largest worker;
* ``stats`` — ``popsim stats`` on the store (statistics recomputed from the raw genotypes, chunk by chunk);
* ``train epoch`` — one ``fit`` epoch of a small CNN streaming from the store (``Dataset.source``).

Memory that stays flat as ``n`` grows is the point: the stores are read a few chunks at a time. ``--stages``
runs only some stages (``stats`` and ``train epoch`` need the store of an earlier ``simulate`` stage in
``--folder``); the table ends with the ratio of the last ``n`` to the first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

STAGES = {
    "simulate": """
import resource, sys
from popsim.cli.main import main
status = main(["simulate", "--scenarios", "flagship_split,flagship_im,flagship_sc", "--n", str({n} // 3),
               "--seed", "1", "--workers", "{workers}", "--keep-genotypes", "--statistics", "default",
               "--no-progress", "-o", "{folder}"])
""",
    "stats": """
import resource
from popsim.cli.main import main
status = main(["stats", "{folder}", "-o", "{folder}.stats.npz"])
""",
    "train epoch": """
import resource
import minidl as md
from popsim.sim.dataset import Dataset
ds = Dataset("{folder}")
train, val, test = ds.split((0.8, 0.1, 0.1))
model = md.Sequential([md.Input(ds.image_shape), md.Conv2D(16, (1, 5), activation="relu"),
                       md.MaxPooling2D((1, 4)), md.Flatten(), md.Dense(3, activation="softmax")], seed=0)
model.compile(md.Adam(1e-3), "sparse_categorical_crossentropy")
model.fit(ds.source(train, 64, seed=0), epochs=1, verbose=0)
status = 0
""",
}
REPORT = """
print("RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run(stage: str, n: int, workers: int, folder: Path) -> dict:
    code = STAGES[stage].format(n=n, workers=workers, folder=folder) + REPORT
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    self_kb, children_kb = map(int, out.strip().splitlines()[-1].split()[1:])
    return {"stage": stage, "n": n, "seconds": time.perf_counter() - start, "main_MB": self_kb / 1024,
            "largest_child_MB": children_kb / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="total replicates")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/bench_store", help="where the stores are written")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES), help="stages to run")
    args = parser.parse_args(argv)
    rows = []
    for n in args.n:
        folder = Path(args.folder) / f"flagship_{n}"
        for stage in args.stages:
            row = run(stage, n, args.workers, folder)
            rows.append(row)
            print(json.dumps(row), flush=True)
        # What simulate wrote (the statistics that `popsim stats` adds under derived/ are not counted).
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "derived" not in p.relative_to(folder).parts)
        print(json.dumps({"n": n, "store_bytes_per_replicate": size / n}), flush=True)
    print("\n| stage | " + " | ".join(f"n = {n}" for n in args.n) + " | last / first (main) |")
    print("|---|" + "---|" * (len(args.n) + 1))
    for stage in args.stages:
        cells = [r for r in rows if r["stage"] == stage]
        print(f"| {stage} (main / largest child, MB) | "
              + " | ".join(f"{r['main_MB']:.0f} / {r['largest_child_MB']:.0f}" for r in cells)
              + f" | {cells[-1]['main_MB'] / cells[0]['main_MB']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
