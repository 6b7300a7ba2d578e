"""Child process of bench_vcf.py: wall time, CPU time and peak RSS of one read or one genome-wide prediction.

    python _bench_vcf_child.py ROOT MODE PATH POPS BACKEND REGION BUNDLE

MODE ``read``: ``read_vcf(PATH, POPS, REGION, backend=BACKEND)`` (all sites kept); MODE ``predict``:
``predict_genome`` over the whole file (REGION ignored) with the bundle, subsampling to its individuals. Prints
one JSON line.
"""
import json
import resource
import sys
import threading
import time
import warnings

import psutil

sys.path.insert(0, sys.argv[1])

from minidl.threads import limit_threads  # noqa: E402
from popsim.realdata.bundle import ModelBundle  # noqa: E402
from popsim.realdata.vcf import read_vcf  # noqa: E402
from popsim.realdata.windows import predict_genome  # noqa: E402

mode, path, pops, backend, region, bundle_path = sys.argv[2:8]
bundle = ModelBundle.load(bundle_path) if mode == "predict" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# ru_maxrss is a high-water mark that includes the imports; a sampler thread also records the largest RSS
# *during* the run (every 20 ms), to see the working set of the read itself against the RSS at its start.
process = psutil.Process()
start_rss = process.memory_info().rss / 2**20
sampled = [start_rss]
done = threading.Event()


def sample():
    while not done.wait(0.02):
        sampled.append(process.memory_info().rss / 2**20)


sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
t0, c0 = time.perf_counter(), time.process_time()
with warnings.catch_warnings(), limit_threads(1):
    warnings.simplefilter("ignore")
    if mode == "read":
        g = read_vcf(path, pops, region, backend=backend, drop_monomorphic=False)
        out = {"sites": g.num_sites, "ran": g.backend}
    else:
        result = predict_genome(bundle, path, pops, ref_is_ancestral=True, subsample=True, seed=1, backend=backend)
        out = {"windows": len(result), "ran": result.data_summary.split("; ")[-1].split(" backend")[0]}
done.set()
sampler.join()
out.update({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "rss_at_start_mb": start_rss, "max_sampled_rss_mb": max(sampled),
            "rss_after_imports_mb": before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
print(json.dumps(out))
