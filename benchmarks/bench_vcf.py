"""Reading real data at scale: full-read and region-read times and peak RSS for the hand parser, the htslib
backend (cyvcf2) and VCF Zarr, and wall time and peak RSS of a genome-wide ``predict_genome`` run per backend.

    nice -n 5 env PYTHONPATH=. python benchmarks/bench_vcf.py [--records 1000000] [--diploids 1000]
                                                              [--chromosomes 2] [--folder /tmp/bench_vcf_1m]

Generates (never committed; reused when present) a genome-like file with :func:`generate_synthetic` — a NumPy
writer, since simulating and writing 1 M sites x 2,000 haplotypes with msprime/tskit takes far longer than
reading them: bgzip VCF + .tbi, BCF + .csi and VCF Zarr with the same records. Every full read and every
prediction runs in its own child process (``_bench_vcf_child.py``) that reports its wall time, CPU time and
peak RSS (``resource.getrusage``: the child's own maximum, imports included) and, sampled every 20 ms by a
thread (psutil), its RSS at the start of the work and the largest RSS during it. The region read (1 % of chr1 at 90 % of its
length, the worst place for a reader that scans from the top) runs in this process, best of ``--repeat``.
``predict_genome`` uses the small untrained bundle of the realdata tests (8 diploids, 20 kb windows,
individuals subsampled from the 1,000): the network does not matter for memory — the reading and windowing do.
About 5.5 min of CPU for the defaults on a 2-core EPYC (generation 2.4 min of it; later runs reuse the files).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate_synthetic(folder: Path, records: int, diploids: int, chromosomes: int = 2, seed: int = 1) -> dict:
    """A fast synthetic writer for files too large to simulate in minutes (>= 1 M records x 1,000 diploids).

    Per site an allele frequency drawn from the neutral spectrum (P(k) ∝ 1/k, k = 1..2n−1 derived copies), the
    haplotypes drawn independently (no LD: the readers do not care), phased ``GT`` only, on ``chromosomes``
    chromosomes of ``records / chromosomes`` sites each, one SNP every 100 bp on average. Written block by block
    (bounded memory) as bgzip VCF + .tbi (pysam), BCF + .csi (pysam copies the records) and VCF Zarr (zarr v3,
    the layout of :func:`popsim.realdata.vcfzarr.write_vcf_zarr`, 10,000 variants per chunk).
    """
    import pysam
    import zarr

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"vcf.gz": folder / "genome.vcf.gz", "bcf": folder / "genome.bcf", "zarr": folder / "genome.vcz",
             "pops": folder / "pops.tsv"}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(seed)
    n_hap = 2 * diploids
    per_chrom = records // chromosomes
    names = [f"chr{k + 1}" for k in range(chromosomes)]
    length = per_chrom * 100 + 1000
    spectrum = 1.0 / np.arange(1, n_hap)
    spectrum /= spectrum.sum()
    samples = [f"ind{i}" for i in range(diploids)]
    header = ("##fileformat=VCFv4.2\n##FILTER=<ID=PASS,Description=\"All filters passed\">\n"
              + "".join(f"##contig=<ID={c},length={length}>\n" for c in names)
              + "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
              + "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]) + "\n")
    chunk = 10_000
    total = per_chrom * chromosomes
    root = zarr.open_group(str(paths["zarr"]), mode="w", zarr_format=3)

    def array(key, shape, dtype, chunks, dims):
        out = root.create_array(key, shape=shape, dtype=dtype, chunks=chunks)
        out.attrs["_ARRAY_DIMENSIONS"] = dims
        return out

    z_gt = array("call_genotype", (total, diploids, 2), np.int8, (chunk, diploids, 2), ["variants", "samples", "ploidy"])
    z_phased = array("call_genotype_phased", (total, diploids), bool, (chunk, diploids), ["variants", "samples"])
    z_pos = array("variant_position", (total,), np.int32, (chunk,), ["variants"])
    z_contig = array("variant_contig", (total,), np.int16, (chunk,), ["variants"])
    z_allele = array("variant_allele", (total, 2), np.dtypes.StringDType(), (chunk, 2), ["variants", "alleles"])
    for key, data, dims in [("sample_id", np.array(samples), ["samples"]), ("contig_id", np.array(names), ["contigs"]),
                            ("contig_length", np.full(chromosomes, length, dtype=np.int64), ["contigs"]),
                            ("filter_id", np.array(["PASS"]), ["filters"])]:
        data = data.astype(np.dtypes.StringDType()) if data.dtype.kind == "U" else data
        array(key, data.shape, data.dtype, data.shape, dims)[...] = data
    z_filter = array("variant_filter", (total, 1), bool, (chunk, 1), ["variants", "filters"])
    root.attrs.update({"vcf_zarr_version": "0.5", "source": "benchmarks/bench_vcf.py generate_synthetic"})
    row = 0
    with pysam.BGZFile(str(paths["vcf.gz"]), "wb") as out:
        out.write(header.encode())
        for c, name in enumerate(names):
            positions = np.sort(rng.choice(np.arange(1, length + 1), size=per_chrom, replace=False))
            for a in range(0, per_chrom, chunk):
                pos = positions[a:a + chunk]
                m = len(pos)
                freq = (rng.choice(n_hap - 1, size=m, p=spectrum) + 1) / n_hap
                hap = (rng.random((m, n_hap), dtype=np.float32) < freq[:, None].astype(np.float32)).astype(np.int8)
                cells = np.empty((m, diploids, 4), dtype=np.uint8)
                cells[:, :, 0] = hap[:, 0::2] + ord("0")
                cells[:, :, 1] = ord("|")
                cells[:, :, 2] = hap[:, 1::2] + ord("0")
                cells[:, :, 3] = ord("\t")
                cells[:, -1, 3] = ord("\n")
                body = cells.reshape(m, -1)
                out.write(b"".join(f"{name}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t".encode() + body[j].tobytes()
                                   for j, p in enumerate(pos)))
                z_gt[row:row + m] = hap.reshape(m, diploids, 2)
                z_phased[row:row + m] = True
                z_pos[row:row + m] = pos
                z_contig[row:row + m] = c
                z_allele[row:row + m] = np.array([["A", "G"]] * m).astype(np.dtypes.StringDType())
                z_filter[row:row + m] = True
                row += m
    pysam.tabix_index(str(paths["vcf.gz"]), preset="vcf", force=True)
    with pysam.VariantFile(str(paths["vcf.gz"])) as src, \
            pysam.VariantFile(str(paths["bcf"]), "wb", header=src.header) as dst:
        for record in src:
            dst.write(record)
    pysam.tabix_index(str(paths["bcf"]), preset="bcf", csi=True, force=True)
    paths["pops"].write_text("".join(f"{s}\tpop\n" for s in samples))
    return paths


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def child(mode: str, path, pops, backend: str, region: str, bundle) -> dict:
    """One measurement in a fresh process (peak RSS is the child's own): see _bench_vcf_child.py."""
    script = Path(__file__).with_name("_bench_vcf_child.py")
    result = subprocess.run([sys.executable, str(script), str(ROOT), mode, str(path), str(pops), backend, region,
                             str(bundle)], capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.splitlines()[-1])


def region_timings(paths: dict, repeat: int, chrom: str) -> tuple[list, str]:
    """Region read (1 % of ``chrom`` at 90 % of its length), best of ``repeat``, in this process."""
    import cyvcf2

    from popsim.realdata.vcf import read_vcf, vcf_contigs

    length = vcf_contigs(paths["vcf.gz"], backend="python")[chrom]
    a = int(0.9 * length)
    region = f"{chrom}:{a}-{a + length // 100}"
    rows = []
    for name, kind, backend, n in [("hand parser (scan)", "vcf.gz", "python", 1), ("htslib + .tbi", "vcf.gz", "htslib", repeat),
                                   ("htslib + .csi", "bcf", "htslib", repeat), ("VCF Zarr", "zarr", "zarr", repeat)]:
        seconds, g = best_of(lambda: read_vcf(paths[kind], paths["pops"], region, drop_monomorphic=False,
                                              backend=backend), n)
        rows.append({"reader": name, "file": Path(paths[kind]).name, "region_s": seconds, "sites": g.num_sites})

    def raw_cyvcf2():  # cyvcf2 alone: the floor for any htslib-based reader
        return [v.genotype.array() for v in cyvcf2.VCF(str(paths["vcf.gz"]))(region)]

    seconds, _ = best_of(raw_cyvcf2, repeat)
    rows.append({"reader": "cyvcf2 loop alone + .tbi", "file": Path(paths["vcf.gz"]).name, "region_s": seconds,
                 "sites": None})
    return rows, region


def bundle_for(folder: Path) -> Path:
    """The tiny classification bundle of the realdata tests (8 diploids, 20 kb loci), saved once."""
    path = folder / "bundle.npz"
    if not path.exists():
        from tests.popsim.realdata.test_bundle import trained

        _, saved = trained()
        path.write_bytes(Path(saved).read_bytes())
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--diploids", type=int, default=1000)
    parser.add_argument("--chromosomes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the (short) region reads; best kept")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench_vcf_1m"))
    parser.add_argument("--parts", default="reads,regions,predict", help="which measurements (comma-separated)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    t0 = time.perf_counter()
    paths = generate_synthetic(args.folder, args.records, args.diploids, args.chromosomes)
    print(f"files ready in {time.perf_counter() - t0:.1f} s: {', '.join(str(p) for p in paths.values())}")
    bundle = bundle_for(args.folder)
    if "reads" in parts:
        full_reads(paths, args, bundle)
    if "regions" in parts:
        rows, region = region_timings(paths, args.repeat, "chr1")
        print(f"\nregion read {region} (best of {args.repeat}; hand parser once):")
        for r in rows:
            print(f"{r['reader']:28} {r['file']:14} {r['region_s']:9.3f} s {r['sites'] or '':>7}")
    if "predict" in parts:
        predictions(paths, args, bundle)
    return 0


def full_reads(paths: dict, args, bundle) -> None:
    per_chrom = args.records // args.chromosomes
    print(f"\nfull read of chr1 ({per_chrom:,} records x {args.diploids} diploids), one child process each:")
    print(f"{'reader':24} {'file':14} {'ran':7} {'wall (s)':>9} {'CPU (s)':>8} {'peak RSS (MB)':>14} "
          f"{'RSS at start -> max during (MB)':>32} {'sites':>9}")
    for name, kind, backend in [("hand parser", "vcf.gz", "python"), ("htslib + .tbi", "vcf.gz", "htslib"),
                                ("htslib + .csi (BCF)", "bcf", "htslib"), ("VCF Zarr", "zarr", "zarr")]:
        r = child("read", paths[kind], paths["pops"], backend, "chr1", bundle)
        if "error" in r:
            print(f"{name:24} error: {r['error']}")
            continue
        print(f"{name:24} {Path(paths[kind]).name:14} {r['ran']:7} {r['seconds']:9.1f} {r['cpu_seconds']:8.1f} "
              f"{r['peak_rss_mb']:14.0f} {r['rss_at_start_mb']:18.0f} -> {r['max_sampled_rss_mb']:9.0f} "
              f"{r['sites']:9,}")


def predictions(paths: dict, args, bundle) -> None:
    print(f"\npredict_genome over the whole file ({args.records:,} records, {args.chromosomes} chromosomes), "
          "subsampled to the bundle's 8 diploids, one child process each:")
    print(f"{'backend asked':14} {'file':14} {'ran':7} {'wall (s)':>9} {'CPU (s)':>8} {'peak RSS (MB)':>14} "
          f"{'RSS at start -> max during (MB)':>32} {'windows':>8}")
    for kind, backend in [("vcf.gz", "auto"), ("vcf.gz", "htslib"), ("bcf", "auto"), ("zarr", "auto")]:
        r = child("predict", paths[kind], paths["pops"], backend, "", bundle)
        if "error" in r:
            print(f"{backend:14} {Path(paths[kind]).name:14} error: {r['error']}")
            continue
        print(f"{backend:14} {Path(paths[kind]).name:14} {r['ran']:7} {r['seconds']:9.1f} {r['cpu_seconds']:8.1f} "
              f"{r['peak_rss_mb']:14.0f} {r['rss_at_start_mb']:18.0f} -> {r['max_sampled_rss_mb']:9.0f} "
              f"{r['windows']:8}")


if __name__ == "__main__":
    raise SystemExit(main())
