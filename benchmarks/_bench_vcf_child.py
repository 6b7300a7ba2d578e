"""Child process of bench_vcf.py: peak RSS of predict_genome over one input (argv: root, path, pops, diploids,
backend, bundle)."""
import json
import resource
import sys
import time
import warnings

sys.path.insert(0, sys.argv[1])

from minidl.threads import limit_threads  # noqa: E402
from popsim.realdata.bundle import ModelBundle  # noqa: E402
from popsim.realdata.windows import predict_genome  # noqa: E402

path, pops, backend, bundle_path = sys.argv[2], sys.argv[3], sys.argv[5], sys.argv[6]
bundle = ModelBundle.load(bundle_path)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
with warnings.catch_warnings(), limit_threads(1):
    warnings.simplefilter("ignore")
    result = predict_genome(bundle, path, pops, ref_is_ancestral=True, subsample=True, seed=1, backend=backend)
print(json.dumps({"windows": len(result), "seconds": time.perf_counter() - t0, "rss_after_imports_mb": before,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
