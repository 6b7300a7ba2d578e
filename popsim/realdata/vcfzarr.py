"""VCF Zarr input (the layout of bio2zarr and sgkit) for :func:`popsim.realdata.vcf.read_vcf`, and a writer.

A VCF Zarr store is a zarr directory with, per variant, ``variant_contig`` (index into ``contig_id``),
``variant_position`` (VCF POS), ``variant_allele`` (REF then ALTs, ``""`` padding), ``variant_filter``
(bool per ``filter_id``), INFO fields as ``variant_<KEY>``; per call ``call_genotype`` (variants, samples,
ploidy; -1 missing, -2 padding beyond a call's ploidy), ``call_genotype_phased``; and ``sample_id``,
``contig_id``, ``contig_length``. Convert a VCF with bio2zarr (``pip install bio2zarr``), one line::

    vcf2zarr convert calls.vcf.gz calls.vcz        # needs a bgzipped, indexed VCF (or BCF)

and simulations with :func:`write_vcf_zarr` (this module, zarr v3 only) or bio2zarr's ``tskit2zarr``.

Reading: ``read_vcf(store, pops, region)`` reads ``variant_contig`` (one byte per variant) to find the
chromosome, then ``variant_position`` of that chromosome only, and then genotypes, alleles and filters only
for the variants of the region, a zarr chunk of variants at a time — a region near the end of a chromosome
costs what the region holds. Records are selected and checked exactly as by the text parser (same skip
reasons, ploidy and phasing rules; tested equal on the same content), with record numbers (from 1, over the
whole store) in messages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from popsim.realdata.vcf import VcfFormatError, _Reader, split_calls

__all__ = ["ZarrReader", "write_vcf_zarr", "zarr_contigs"]

_BASES = np.array(list("ACGTacgt"))


def _simple_snps(alleles: np.ndarray) -> np.ndarray:
    """(variants,) bool: REF and the only ALT one base A/C/G/T each (any case), different — or tskit's 0/1
    labels; ``alleles``: (variants, width) str, REF first, ``""`` padding."""
    ref, alt = alleles[:, 0], alleles[:, 1] if alleles.shape[1] > 1 else np.full(len(alleles), "")
    simple = np.isin(ref, _BASES) & np.isin(alt, _BASES) & (np.char.upper(ref) != np.char.upper(alt))
    simple |= (ref == "0") & (alt == "1")
    if alleles.shape[1] > 2:
        simple &= np.all(alleles[:, 2:] == "", axis=1)
    return simple
_REQUIRED = ("call_genotype", "variant_position", "variant_allele", "variant_contig", "contig_id", "sample_id")


def _open_group(path: Path):
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:
        raise VcfFormatError(f"{path}: cannot open as a zarr group ({exc})") from None
    missing = [name for name in _REQUIRED if name not in group]
    if missing:
        raise VcfFormatError(f"{path} is a zarr store but not VCF Zarr: no {', '.join(missing)} (expected the "
                             "bio2zarr/sgkit layout, e.g. from vcf2zarr convert FILE.vcf.gz FILE.vcz)")
    return group


def zarr_contigs(path: Path) -> dict:
    """``{contig: length or None}`` of a VCF Zarr store."""
    group = _open_group(Path(path))
    names = [str(c) for c in group["contig_id"][:]]
    lengths = group["contig_length"][:] if "contig_length" in group else [None] * len(names)
    return {n: (None if v is None or v < 0 else int(v)) for n, v in zip(names, lengths)}


class ZarrReader(_Reader):
    """:class:`~popsim.realdata.vcf._Reader` with records from a VCF Zarr store."""

    backend_name = "zarr"

    def error(self, lineno: int, message: str) -> VcfFormatError:
        return VcfFormatError(f"{self.path}, record {lineno}: {message}")

    def fail(self, lineno: int, message: str) -> VcfFormatError:
        return self.error(lineno, message)

    def scan(self, populations, multi: bool = True):
        group = _open_group(self.path)
        samples = [str(s) for s in group["sample_id"][:]]
        header = "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples])
        self.parse_header(header.encode(), 0, populations)
        self.contig_lengths = {k: v for k, v in zarr_contigs(self.path).items() if v is not None}
        contig_names = [str(c) for c in group["contig_id"][:]]
        self.check_region_contig(contig_names)
        variant_contig = group["variant_contig"][:]
        # contigs in the order of their first variant (file order), with their [lo, hi) variant range
        starts = np.flatnonzero(np.r_[True, variant_contig[1:] != variant_contig[:-1]]) if len(variant_contig) else []
        runs = [(int(variant_contig[a]), int(a), int(b))
                for a, b in zip(starts, list(starts[1:]) + [len(variant_contig)])]
        chromosomes_seen = [contig_names[c] for c, _, _ in runs]
        if len(set(chromosomes_seen)) < len(chromosomes_seen):
            raise VcfFormatError(f"{self.path}: variants of one contig are not contiguous (the store is not sorted)")
        r_start = self.region[1] if self.region else 1
        r_end = self.region[2] if self.region else None
        if self.region:
            runs = [run for run in runs if contig_names[run[0]] == self.region[0]]
        elif len(runs) > 1 and not multi:
            raise self.error(runs[1][1] + 1, f"second chromosome {contig_names[runs[1][0]]!r} after "
                                             f"{contig_names[runs[0][0]]!r}; read one chromosome at a time with "
                                             "region='CHROM' (or iter_chromosomes)")
        if not runs:
            yield (None, self.region[0] if self.region else None, r_start, r_end, 0, chromosomes_seen, True)
            return
        for k, (contig, lo, hi) in enumerate(runs):
            if k:
                self.reset_chromosome()
            chrom = contig_names[contig]
            positions = group["variant_position"][lo:hi].astype(np.int64)
            bad = np.flatnonzero(np.diff(positions) < 0)
            if bad.size:
                j = int(bad[0]) + 1
                raise self.error(lo + j + 1, f"records not sorted: POS {positions[j]} after {positions[j - 1]} "
                                             f"on {chrom!r}")
            self.skipped["telomere"] += int(np.count_nonzero(positions == 0))
            first = int(np.searchsorted(positions, max(r_start, 1)))
            last = int(np.searchsorted(positions, r_end, side="right")) if r_end is not None else len(positions)
            last_pos = int(positions[-1]) if len(positions) else 0
            for _ in self.read_range(group, lo + first, lo + last, positions[first:last]):
                yield (chrom, chrom, r_start, r_end, last_pos, chromosomes_seen, False)
            yield (chrom, chrom, r_start, r_end, last_pos, chromosomes_seen, True)

    def read_range(self, group, lo: int, hi: int, positions: np.ndarray):
        """Variants ``[lo, hi)`` of the store (positions given), a chunk of variants at a time; a generator that
        yields (nothing) whenever a streamed read has a piece to hand over (:meth:`piece_full`).

        REF/ALT are classified per chunk with NumPy (single-base REF and ALT, no third allele, distinct
        bases); only the other records (and every record with ``pass_only``/``ancestral_allele``/split) go
        through the per-record rules shared with the text parser (:meth:`judge`, :meth:`split_alts`)."""
        self.n_records += hi - lo
        gt_array = group["call_genotype"]
        step = max(int(gt_array.chunks[0]), 1)
        phased_array = group["call_genotype_phased"] if "call_genotype_phased" in group else None
        filters = None
        if self.pass_only and "variant_filter" in group:
            filter_ids = [str(f) for f in group["filter_id"][:]]
            not_pass = np.array([f != "PASS" for f in filter_ids])
            filters = group["variant_filter"]
        ancestral = None
        if self.ancestral_re is not None:
            key = f"variant_{self.ancestral_key}"
            ancestral = group[key] if key in group else None
        sel_sorted = np.sort(self.sel)
        sub_sel = np.searchsorted(sel_sorted, self.sel)
        all_samples = len(sel_sorted) == self.n_samples
        for a in range(lo - lo % step, hi, step):
            a0, b0 = max(a, lo), min(a + step, hi)
            if a0 >= b0:
                continue
            alleles = np.asarray(group["variant_allele"][a0:b0]).astype(object).astype(str)  # StringDType: via object
            simple = _simple_snps(alleles)
            if self.ancestral_re is not None or filters is not None:
                simple[:] = False
            aa = None
            if self.ancestral_re is not None:
                aa = ancestral[a0:b0] if ancestral is not None else np.full(b0 - a0, "")
            fl = filters[a0:b0] if filters is not None else None
            rows, alt_of_row, flips = [], [], []
            for j in np.flatnonzero(~simple):
                row = alleles[j]
                ref = row[0].encode()
                alts = [x.encode() for x in row[1:] if x != ""]
                filter_ok = fl is None or not bool(np.any(fl[j] & not_pass))
                anc = None if aa is None else str(aa[j]).encode()
                if len(alts) > 1 and self.split:
                    kept = self.split_alts(ref, alts, filter_ok, anc)
                else:
                    reason, flip = self.judge(ref, b",".join(alts) or b".", filter_ok, anc)
                    if reason is not None:
                        self.skipped[reason] += 1
                    kept = [] if reason is not None else [(0, flip)]
                for alt_index, flip in kept:
                    rows.append(j)
                    alt_of_row.append(alt_index)
                    flips.append(flip)
            if rows:  # merge the simple rows (alt 0, no flip) with the judged ones, in record order
                rows = np.r_[np.flatnonzero(simple), rows]
                alt_of_row = np.r_[np.zeros(int(simple.sum()), dtype=np.int64), alt_of_row]
                flips = np.r_[np.zeros(int(simple.sum()), dtype=bool), flips]
                order = np.argsort(rows, kind="stable")
                rows, alt_of_row, flips = rows[order], alt_of_row[order], flips[order]
            else:
                rows = np.flatnonzero(simple)
                alt_of_row = np.zeros(len(rows), dtype=np.int64)
                flips = np.zeros(len(rows), dtype=bool)
            if not len(rows):
                continue
            gt = gt_array[a0:b0] if all_samples else gt_array.oindex[a0:b0, sel_sorted]
            every = len(rows) == b0 - a0  # every variant of the chunk kept (rows are then 0..m-1, in order)
            in_order = bool(np.all(sub_sel[1:] > sub_sel[:-1]))
            gt = np.asarray(gt) if every else np.asarray(gt)[rows]
            gt = gt if in_order else gt[:, sub_sel]
            split = alt_of_row > 0
            if split.any():
                gt[split] = split_calls(gt[split], alt_of_row[split][:, None, None])
            if phased_array is not None:
                ph = phased_array[a0:b0] if all_samples else phased_array.oindex[a0:b0, sel_sorted]
                ph = np.asarray(ph) if every else np.asarray(ph)[rows]
                ph = ph if in_order else ph[:, sub_sel]
            else:
                ph = np.zeros(gt.shape[:2], dtype=bool)
            numbers = rows + a0 + 1
            self.add_calls(positions[a0 - lo:b0 - lo][rows], gt, ph, flips, numbers)
            if self.piece_full():
                yield

    def __init__(self, path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele=None,
                 multiallelic="skip"):
        super().__init__(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, multiallelic)
        self.ancestral_key = ancestral_allele


# --------------------------------------------------------------------------------------------- writer


def write_vcf_zarr(chromosomes, path, *, individual_names=None, contig_lengths=None, chunk_variants: int = 10_000):
    """Write tskit tree sequences as a VCF Zarr store (bio2zarr/sgkit layout, zarr v3), one contig each.

    ``chromosomes``: a ``tskit.TreeSequence`` (contig ``"1"``) or ``{contig: TreeSequence}``; all must have
    the same individuals (diploid or haploid, as ``ts.write_vcf`` writes them). Sample names are
    ``individual_names`` or ``tsk_0, tsk_1, ...`` as tskit's VCF. Positions are ``ts.sites_position``
    (discrete genome, sites at 0 dropped, as VCF reserves POS 0); REF/ALT are tskit's alleles (ancestral
    first), so the store reads back (``read_vcf``) exactly as the VCF tskit writes. Returns the path.
    """
    import zarr

    if not isinstance(chromosomes, dict):
        chromosomes = {"1": chromosomes}
    path = Path(path)
    names = list(chromosomes)
    contig_lengths = contig_lengths or {}
    first = next(iter(chromosomes.values()))
    individuals = [ind.nodes for ind in first.individuals()]
    if not individuals:
        individuals = [[u] for u in first.samples()]
    ploidy = max(len(n) for n in individuals)
    samples = list(individual_names) if individual_names is not None else [f"tsk_{i}" for i in range(len(individuals))]
    gts, positions, alleles, contigs = [], [], [], []
    for k, (name, ts) in enumerate(chromosomes.items()):
        keep = ts.sites_position > 0
        G = ts.genotype_matrix()[keep]
        call = np.full((G.shape[0], len(individuals), ploidy), -2, dtype=np.int8)
        index = {u: j for j, u in enumerate(ts.samples())}
        for i, nodes in enumerate(individuals):
            for p, u in enumerate(nodes):
                call[:, i, p] = G[:, index[u]]
        gts.append(call)
        positions.append(ts.sites_position[keep].astype(np.int32))
        site_alleles = []
        for var in ts.variants():
            if var.site.position > 0:
                site_alleles.append([a if a is not None else "" for a in var.alleles])
        alleles.append(site_alleles)
        contigs.append(np.full(G.shape[0], k, dtype=np.int16))
    width = max((len(a) for block in alleles for a in block), default=2)
    allele_array = np.array([a + [""] * (width - len(a)) for block in alleles for a in block], dtype=object)
    allele_array = allele_array.reshape(-1, width).astype(str)
    call = np.concatenate(gts)
    n = call.shape[0]
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    chunks = (max(1, min(chunk_variants, n)),)

    def put(key, data, dims, chunk_shape=None):
        data = np.asarray(data)
        if data.dtype.kind == "U":  # variable-length strings, as bio2zarr writes them (zarr v3 "string")
            data = data.astype(np.dtypes.StringDType())
        array = root.create_array(key, shape=data.shape, dtype=data.dtype,
                                  chunks=chunk_shape or (data.shape if data.ndim else ()) or (1,))
        if data.size:
            array[...] = data
        array.attrs["_ARRAY_DIMENSIONS"] = dims

    put("call_genotype", call, ["variants", "samples", "ploidy"], chunks + call.shape[1:])
    put("call_genotype_mask", call < 0, ["variants", "samples", "ploidy"], chunks + call.shape[1:])
    put("call_genotype_phased", np.ones(call.shape[:2], dtype=bool), ["variants", "samples"],
        chunks + call.shape[1:2])
    put("variant_position", np.concatenate(positions), ["variants"], chunks)
    put("variant_contig", np.concatenate(contigs), ["variants"], chunks)
    put("variant_allele", allele_array, ["variants", "alleles"], chunks + (width,))
    put("variant_filter", np.ones((n, 1), dtype=bool), ["variants", "filters"], chunks + (1,))
    put("filter_id", np.array(["PASS"]), ["filters"])
    put("sample_id", np.array(samples, dtype=str), ["samples"])
    put("contig_id", np.array(names, dtype=str), ["contigs"])
    put("contig_length", np.array([int(contig_lengths.get(c, ts.sequence_length)) for c, ts in chromosomes.items()],
                                  dtype=np.int64), ["contigs"])
    root.attrs.update({"vcf_zarr_version": "0.5", "source": "popsim.realdata.vcfzarr.write_vcf_zarr"})
    return path
