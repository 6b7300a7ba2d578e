"""The htslib backend of :func:`popsim.realdata.vcf.read_vcf`: VCF, bgzipped VCF and BCF through cyvcf2.

Optional (``pip install 'popsim[vcf]'``): without cyvcf2, ``read_vcf(backend="auto")`` falls back to the
hand-written parser of :mod:`popsim.realdata.vcf`, which stays the reference — both backends return identical
``VcfGenotypes`` on every file of ``tests/popsim/realdata`` (the tests read each file with both and compare).

What htslib adds: BCF input, and region reads that jump to the region through a ``.tbi`` or ``.csi`` index next
to the file (``FILE.vcf.gz.tbi``, ``FILE.vcf.gz.csi``, ``FILE.bcf.csi``) instead of scanning from the top.
Without an index a region is found by scanning (a :class:`~popsim.realdata.vcf.VcfWarning` says so).

Why cyvcf2 and not pysam (measured on a tskit-written bgzip VCF, 4,815 sites × 200 haplotypes, 2-core EPYC):
cyvcf2 gives each record's genotypes as one NumPy array (``Genotypes.array()``: alleles, -1 missing, -2 vector
end, and a phase column) — full read 0.022 s, a 200-site region 0.002 s; pysam hands out one Python tuple per
sample and call — 0.17 s and 0.016 s, 8× slower. (pysam is still the easiest way to *write* bgzip + tabix,
used by the tests and ``benchmarks/bench_vcf.py``.)

Record selection, skip reasons, ploidy and phasing rules, polarisation and the error checks are the
text parser's (:class:`popsim.realdata.vcf._Reader`); only the reading differs. Records are numbered from 1
in messages ("record 12 (chr2:3456)"), as htslib does not give line numbers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from popsim.realdata.vcf import (_AFTER, _BATCH, _BEFORE, _SNP_PAIRS, VcfFormatError, VcfWarning, _Reader,
                                 split_calls)

__all__ = ["HtslibReader", "find_index", "htslib_contigs"]

_SNP_PAIRS_STR = frozenset((r.decode(), a.decode()) for r, a in _SNP_PAIRS)


def _quiet_htslib() -> None:
    """htslib's warnings on stderr (tags missing from the header, ...) off; its error lines stay."""
    try:
        import ctypes

        import cyvcf2.cyvcf2

        ctypes.CDLL(cyvcf2.cyvcf2.__file__).hts_set_log_level(1)  # HTS_LOG_ERROR
    except (ImportError, OSError, AttributeError):
        pass


_quiet_htslib()


def find_index(path: Path) -> Path | None:
    """The ``.tbi`` or ``.csi`` index next to ``path`` (htslib's names), or None."""
    for suffix in (".tbi", ".csi"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            return candidate
    return None


def _open(path: Path, samples=None):
    import cyvcf2

    try:
        return cyvcf2.VCF(str(path), lazy=True, samples=samples)
    except Exception as exc:  # cyvcf2 raises plain Exception / OSError for an unreadable header
        _check_gzip(path)
        raise VcfFormatError(f"{path}: htslib cannot read the header ({exc}); is this a VCF or BCF file? "
                             "(htslib needs ##fileformat=VCFv4.x as the first line)") from exc


def _check_gzip(path: Path) -> None:
    """After htslib failed: a gzip/bgzip file that does not decompress to its end is named as truncated."""
    import gzip
    import zlib

    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise VcfFormatError(f"{path}: corrupt or truncated gzip/bgzip file ({exc})") from None


def htslib_contigs(path: Path) -> dict:
    """``{contig: length or None}`` from the header ``##contig`` lines (and the index, if any)."""
    vcf = _open(path)
    try:
        names = list(vcf.seqnames)
    except Exception:  # no ##contig lines and no index
        names = []
    lengths = {}
    for line in vcf.raw_header.splitlines():
        if line.startswith("##contig=<"):
            fields = dict(item.split("=", 1) for item in line[10:-1].split(",") if "=" in item)
            if "ID" in fields:
                lengths[fields["ID"]] = int(fields["length"]) if fields.get("length", "").isdigit() else None
    vcf.close()
    return {name: lengths.get(name) for name in dict.fromkeys([*lengths, *names])}


class HtslibReader(_Reader):
    """:class:`~popsim.realdata.vcf._Reader` with records from htslib (cyvcf2) instead of text lines."""

    backend_name = "htslib"

    def error(self, lineno: int, message: str) -> VcfFormatError:
        where = self.where.get(lineno, "")
        return VcfFormatError(f"{self.path}, record {lineno}{f' ({where})' if where else ''}: {message}")

    def __init__(self, path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele=None,
                 multiallelic="skip"):
        super().__init__(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, multiallelic)
        self.ancestral_key = ancestral_allele
        self.where: dict = {}          # record number -> "chrom:pos" for the records not yet flushed
        self.pending_arrays: list = []

    def fail(self, lineno: int, message: str) -> VcfFormatError:
        """Error for this record, after keeping the queued earlier ones (so the first bad record is reported)."""
        where = self.where.get(lineno)
        self.flush_arrays()
        if where:
            self.where[lineno] = where
        return self.error(lineno, message)

    def n_pending(self) -> int:
        return len(self.pending_arrays)

    def flush_arrays(self) -> None:
        pending, self.pending_arrays = self.pending_arrays, []
        if pending:
            numbers = np.array([p[0] for p in pending])
            positions = np.array([p[1] for p in pending], dtype=np.int64)
            flips = np.array([p[2] for p in pending], dtype=bool)
            arrays = np.empty((len(pending), *pending[0][3].shape), dtype=np.int8)  # (m, n, P + 1)
            for j, p in enumerate(pending):  # int32 from cyvcf2 -> int8 while copying (4x less to move)
                arrays[j] = p[3]
            if not self.in_order:
                arrays = arrays[:, self.sub_sel]
            self.add_calls(positions, arrays[:, :, :-1], arrays[:, :, -1] == 1, flips, numbers)
            self.where = {}

    def scan(self, populations, multi: bool = True):
        path = self.path
        vcf = _open(path)
        header = "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *vcf.samples])
        if not vcf.samples:
            raise self.error(0, "header line has no FORMAT column and sample columns; genotypes cannot be read "
                                "from a sites-only VCF")
        self.parse_header(header.encode(), 0, populations)
        for line in vcf.raw_header.splitlines():
            self.parse_meta(line.encode())
        order = np.sort(self.sel)
        self.sub_sel = np.searchsorted(order, self.sel)
        self.in_order = bool(np.all(self.sub_sel[1:] > self.sub_sel[:-1]))  # population order = file order
        if len(order) < self.n_samples:  # htslib then decodes only the selected samples
            vcf.set_samples([vcf.samples[j] for j in order])
        chrom_wanted = self.region[0] if self.region else None
        r_start = self.region[1] if self.region else 1
        r_end = self.region[2] if self.region else None
        records = vcf
        if self.region:
            index = find_index(path)
            known = htslib_contigs(path)
            self.check_region_contig(known)
            if index is not None:
                text = f"{{{chrom_wanted}}}:{r_start}-{'' if r_end is None else r_end}"
                if chrom_wanted not in known:
                    records = iter(())
                else:
                    records = vcf(text)
            else:
                warnings.warn(f"{path}: no .tbi/.csi index next to the file; scanning from the top for region "
                              f"{chrom_wanted}:{r_start}-{'' if r_end is None else r_end} (index it with "
                              "tabix -p vcf FILE.vcf.gz or bcftools index FILE)", VcfWarning, stacklevel=4)
        chrom = last_chrom = None
        last_pos, max_pos = -1, 0
        chromosomes_seen: list[str] = []
        number = 0
        pass_only, ancestral_key = self.pass_only, self.ancestral_key
        width = None
        iterator = iter(records)
        while True:
            try:
                v = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # htslib: malformed record or truncated BGZF block
                self.flush_arrays()
                _check_gzip(path)
                after = f"after {last_chrom}:{last_pos}" if last_chrom is not None else "before the first record"
                raise VcfFormatError(f"{path}: htslib cannot read record {number + 1} ({after}): {exc}; the file is "
                                     "truncated, corrupt or malformed") from None
            number += 1
            this_chrom = v.CHROM
            if this_chrom != last_chrom:
                last_chrom, last_pos = this_chrom, -1
                chromosomes_seen.append(this_chrom)
                if chrom_wanted is None:
                    chrom_wanted = this_chrom
                elif multi and chrom is not None and not self.region:
                    self.flush_arrays()
                    yield (chrom, chrom, r_start, r_end, max_pos, chromosomes_seen, True)
                    self.reset_chromosome()
                    chrom_wanted, chrom, max_pos = this_chrom, None, 0
            if this_chrom != chrom_wanted:
                if chrom is not None:
                    if self.region:
                        break
                    self.where[number] = f"{this_chrom}:{v.POS}"
                    raise self.fail(number, f"second chromosome {this_chrom!r} after {chrom!r}; read one "
                                            "chromosome at a time with region='CHROM' (or iter_chromosomes)")
                continue
            chrom = this_chrom
            pos = v.POS
            if pos < last_pos:
                self.where[number] = f"{chrom}:{pos}"
                raise self.fail(number, f"records not sorted: POS {pos} after {last_pos} on {chrom!r}")
            last_pos = max_pos = pos
            place = self.place(pos, r_start, r_end)
            if place == _BEFORE:
                continue
            if place == _AFTER:
                break
            ref, alt = v.REF, v.ALT
            ancestral = None
            if ancestral_key is not None:
                value = v.INFO.get(ancestral_key)
                ancestral = value.encode() if isinstance(value, str) else b""
            if len(alt) == 1 and (ref, alt[0]) in _SNP_PAIRS_STR and not pass_only and ancestral is None:
                kept = [(0, False)]  # the common case; 0: the record's own alleles
            elif len(alt) > 1 and self.split:
                kept = self.split_alts(ref.encode(), [a.encode() for a in alt], v.FILTER is None, ancestral)
            else:
                reason, flip = self.judge(ref.encode(), ",".join(alt).encode() or b".", v.FILTER is None, ancestral)
                if reason is not None:
                    self.skipped[reason] += 1
                    continue
                kept = [(0, flip)]
            if not kept:
                continue
            try:
                array = v.genotype.array()
            except Exception:  # cyvcf2: "couldn't get genotypes for variant"
                self.where[number] = f"{chrom}:{pos}"
                raise self.fail(number, "FORMAT has no GT field") from None
            if array.shape[1] != width or len(self.pending_arrays) >= _BATCH:
                self.flush_arrays()
                width = array.shape[1]
            self.where[number] = f"{chrom}:{pos}"
            if kept[0][0]:  # a split record: allele indices must name its ALTs
                top = array[self.sub_sel, :-1].max(axis=1)
                if top.max() > len(alt):
                    i = int(np.argmax(top > len(alt)))
                    raise self.fail(number, f"sample {self.samples[i]!r} has allele index {int(top[i])}, but the "
                                            f"record has {len(alt)} ALT alleles")
            for j, flip in kept:
                if j:  # one ALT of a split record: the last column is the phase flag, kept
                    self.pending_arrays.append((number, pos, flip, np.concatenate(
                        [split_calls(array[:, :-1], j), array[:, -1:].astype(np.int8)], axis=1)))
                else:
                    self.pending_arrays.append((number, pos, flip, array))
            if self.piece_full():
                self.flush_arrays()
                yield (chrom, chrom, r_start, r_end, max_pos, chromosomes_seen, False)
        self.flush_arrays()
        vcf.close()
        yield (chrom, chrom_wanted, r_start, r_end, max_pos, chromosomes_seen, True)
