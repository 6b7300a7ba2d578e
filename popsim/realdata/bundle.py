"""Model bundles: one ``.npz`` file holding a trained network and everything needed to apply it to a VCF.

A network trained on simulations is only usable on real data together with *how* its inputs were made. A
:class:`ModelBundle` keeps, next to the ``minidl`` model (written with ``Sequential.save(path, metadata=...)``,
so the file is still a plain minidl model file):

=========================  ==================================================================================
metadata key               content
=========================  ==================================================================================
``kind``                   ``"classification"`` (outputs = scenario probabilities) or ``"regression"``
``input``                  ``"image"`` (a ``GenotypeImage``) or ``"statistics"`` (summary statistics)
``transform``              the exact ``GenotypeImage`` parameters of the training images (image input)
``statistics``             statistic keys, column names, per-bp flag and the fitted input ``StandardScaler``
                           (statistics input) — observed statistics are scaled with the *training* scaler
``class_names``            scenario name of each output (classification)
``target_names``           parameter name of each output and the fitted target ``StandardScaler``
``target_scaler``          (regression; predictions are inverse-transformed to the parameter's units)
``calibration``            an optional fitted ``minidl.calibration.TemperatureScaling``
``scenarios``              the training scenarios' metadata (name, description, samples, priors, demes graph)
``haplotype_populations``  population of each haplotype of the simulated sample, in order
``phased``                 whether the network needs phased haplotypes (False: individual 0/1/2 counts or
                           phase-free statistics)
``locus``                  bp per simulated locus, loci per replicate, and the window length they make
``training_sites``         segregating sites per simulated replicate (min, quantiles, max, share of images
                           that were zero-padded), to flag real windows unlike any simulation
``simulation``             the simulation settings (rates per bp per generation, ...)
``versions``               popsim, minidl, numpy, msprime, tskit (now) and the dataset's versions
=========================  ==================================================================================

This module holds the bundle itself: its data, :meth:`ModelBundle.save` / :meth:`ModelBundle.load`, the
checks of real data against the training sample (:meth:`ModelBundle.check_vcf`, one :class:`MismatchError`
listing every difference) and prediction on ready inputs (:meth:`ModelBundle.predict_images`,
:meth:`ModelBundle.predict_statistics`). Applying it to a VCF window by window is
:mod:`popsim.realdata.windows` (:meth:`ModelBundle.predict_vcf` calls it).

Tests: ``tests/popsim/realdata/test_bundle.py`` and ``tests/popsim/realdata/test_predict.py``.
"""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Sequence

import numpy as np

from popsim.features.genotypes import population_order
from popsim.features.images import GenotypeImage

__all__ = ["ModelBundle", "MismatchError", "BundleWarning", "BUNDLE_FORMAT"]

BUNDLE_FORMAT = "popsim-model-bundle"
BUNDLE_FORMAT_VERSION = 1
KINDS = ("classification", "regression")

# Statistics that need phased haplotypes, and those that need polarised (ancestral/derived) alleles.
_PHASE_STATISTICS = ("n_haplotypes", "haplotype_diversity")
_POLARISED_STATISTICS = ("theta_h", "fay_wu_h", "sfs")


class MismatchError(ValueError):
    """The data given differ from what the network was trained on; the message lists every difference."""


class BundleWarning(UserWarning):
    """The prediction is computed, but part of the data differs from the simulations (see the message)."""


def _versions() -> dict:
    import msprime
    import tskit

    import minidl

    from popsim import __version__

    return {"popsim": __version__, "minidl": minidl.__version__, "numpy": np.__version__,
            "msprime": msprime.__version__, "tskit": tskit.__version__, "python": platform.python_version()}


def _statistic_needs(names: Sequence[str], prefixes: Sequence[str]) -> list:
    """Statistic column names that start with one of ``prefixes`` (``sfs_folded_*`` is polarisation-free)."""
    return [n for n in names if any(n == p or n.startswith(p + "_") for p in prefixes)
            and not n.startswith("sfs_folded")]


# ------------------------------------------------------------------------------------------ the bundle


class ModelBundle:
    """A trained minidl network plus the transform, names, scalers and scenario metadata to apply it.

    Build one with :meth:`from_dataset` (the usual way) or the constructor; :meth:`save` writes one ``.npz``;
    :meth:`load` reads it back; :meth:`predict_images`, :meth:`predict_statistics` and :meth:`predict_vcf`
    predict.

    Parameters
    ----------
    model : a built ``minidl.Sequential`` (softmax output for classification).
    kind : ``"classification"`` or ``"regression"``.
    haplotype_populations : population name of each simulated haplotype, in order (2 per diploid).
    transform : ``GenotypeImage`` of the training images (image input), or None for statistics input.
    statistics : statistic keys or preset name (statistics input), as given to ``popsim.features.stats``.
    statistic_names : the columns those keys produce (computed if None).
    input_scaler : the ``StandardScaler`` fitted on the *training* statistics (statistics input).
    per_bp : statistics per bp (True, divided by the window length) or per locus.
    class_names : output names for classification (scenario names).
    target_names, target_scaler : output names and fitted target scaler for regression.
    calibration : fitted ``TemperatureScaling`` applied to the probabilities (classification).
    sequence_length, n_loci : bp per simulated locus, loci per replicate.
    scenarios : scenario metadata dicts (``Scenario.to_dict()``); simulation : settings dict;
    training_sites : segregating sites per training replicate (array) or a summary dict.
    extra : anything else JSON-serialisable to keep (e.g. validation accuracy, ECE).
    """

    def __init__(self, model, kind: str, haplotype_populations: Sequence[str], *, transform=None,
                 statistics=None, statistic_names=None, input_scaler=None, per_bp: bool = True,
                 class_names=None, target_names=None, target_scaler=None, calibration=None,
                 sequence_length: float | None = None, n_loci: int = 1, scenarios=None, simulation=None,
                 training_sites=None, versions=None, extra=None):
        if kind not in KINDS:
            raise ValueError(f"ModelBundle kind={kind!r} is unknown; expected one of {KINDS}")
        if not getattr(model, "built", False):
            raise ValueError("ModelBundle model must be a built minidl Sequential (give it an Input layer)")
        self.model = model
        self.kind = kind
        self.haplotype_populations = [str(p) for p in haplotype_populations]
        if len(self.haplotype_populations) % 2:
            raise ValueError(f"haplotype_populations has {len(self.haplotype_populations)} haplotypes; "
                             "expected 2 per diploid individual")
        if (transform is None) == (statistics is None):
            raise ValueError("ModelBundle needs exactly one input description: transform=GenotypeImage(...) "
                             "for image input or statistics=[...] (with input_scaler) for statistics input")
        self.transform = transform
        self.per_bp = bool(per_bp)
        self.statistics = None
        self.statistic_names = None
        self.input_scaler = input_scaler
        if statistics is not None:
            self.statistics = statistics if isinstance(statistics, str) else [str(s) for s in statistics]
            self.statistic_names = list(statistic_names) if statistic_names is not None else \
                self._compute_statistic_names()
            if input_scaler is None or getattr(input_scaler, "mean_", None) is None:
                raise ValueError("statistics input needs input_scaler: the StandardScaler fitted on the training "
                                 "statistics (observed statistics must be scaled exactly like training data)")
            if len(input_scaler.mean_) != len(self.statistic_names):
                raise ValueError(f"input_scaler was fitted on {len(input_scaler.mean_)} columns; the statistics "
                                 f"{self.statistic_names} are {len(self.statistic_names)}")
        n_outputs = int(model.output_shape[-1])
        if kind == "classification":
            if class_names is None or len(class_names) != n_outputs:
                raise ValueError(f"classification bundle needs class_names, one per model output ({n_outputs}); "
                                 f"got {class_names!r}")
            if target_names is not None or target_scaler is not None:
                raise ValueError("target_names / target_scaler are for regression bundles; got them with "
                                 "kind='classification'")
            self.names = [str(c) for c in class_names]
        else:
            if target_names is None or len(target_names) != n_outputs:
                raise ValueError(f"regression bundle needs target_names, one per model output ({n_outputs}); "
                                 f"got {target_names!r}")
            if calibration is not None:
                raise ValueError("calibration (temperature scaling) is for classification bundles")
            if target_scaler is not None and getattr(target_scaler, "mean_", None) is None:
                raise ValueError("target_scaler is not fitted; fit it on the training targets first")
            if target_scaler is not None and len(target_scaler.mean_) != n_outputs:
                raise ValueError(f"target_scaler was fitted on {len(target_scaler.mean_)} columns; the model has "
                                 f"{n_outputs} outputs")
            self.names = [str(t) for t in target_names]
        self.target_scaler = target_scaler
        self.calibration = calibration
        expected = self.input_shape()
        if tuple(model.input_shape[1:]) != expected:
            raise ValueError(f"the model expects inputs of shape {tuple(model.input_shape[1:])}, but the "
                             f"{'transform' if transform is not None else 'statistics'} give {expected}")
        self.sequence_length = None if sequence_length is None else float(sequence_length)
        self.n_loci = int(n_loci)
        self.scenarios = list(scenarios or [])
        self.simulation = dict(simulation or {})
        if training_sites is not None and not isinstance(training_sites, dict):
            training_sites = self._sites_summary(np.asarray(training_sites), transform)
        self.training_sites = training_sites
        self.versions = dict(versions or {})
        self.extra = dict(extra or {})

    # -- construction from a dataset -----------------------------------------------------------------
    @classmethod
    def from_dataset(cls, model, dataset, kind: str = "classification", *, class_names=None,
                     target_names=None, target_scaler=None, calibration=None, statistics=None,
                     input_scaler=None, per_bp: bool = True, extra=None, transform=None,
                     training_sites=None) -> "ModelBundle":
        """Bundle ``model`` with what ``dataset`` (a ``popsim.sim.dataset.Dataset``) records about its inputs.

        Image input (default): the dataset's ``GenotypeImage`` transform, or ``transform`` when the training
        images were made otherwise from the dataset's raw genotypes (e.g. unphased, or masked with
        :func:`popsim.realdata.mask.mask_replicate`; then pass the SNPs per training replicate as
        ``training_sites`` too, else the dataset's are recorded). Statistics input: pass
        ``statistics`` (keys or preset, as for ``popsim.features.stats``) and the ``input_scaler`` fitted on the
        training statistics. Classification: ``class_names`` default to the dataset's scenario names.
        Regression: ``target_names`` (parameter names) and the fitted ``target_scaler``.
        """
        settings = dataset.settings
        if statistics is None and transform is None:
            if dataset.transform is None:
                raise ValueError(f"dataset {str(dataset.path)!r} stores no images; for a statistics model pass "
                                 "statistics=[...] and input_scaler=...")
            transform = dataset.transform
        if kind == "classification" and class_names is None:
            class_names = list(dataset.scenario_names)
        if kind == "regression":
            unknown = [t for t in (target_names or []) if t not in dataset.parameter_names]
            if unknown:
                raise ValueError(f"target_names {unknown} are not parameters of the dataset; expected some of "
                                 f"{dataset.parameter_names}")
        meta = dataset.metadata
        versions = _versions()
        versions["dataset"] = meta.get("versions", {})
        extra = dict(extra or {})
        extra.setdefault("dataset", {"path": str(dataset.path), "created": meta.get("created"),
                                     "seed": dataset.seed, "n": meta["config"].get("n")})
        return cls(model, kind, dataset.haplotype_populations, transform=transform, statistics=statistics,
                   input_scaler=input_scaler, per_bp=per_bp, class_names=class_names, target_names=target_names,
                   target_scaler=target_scaler, calibration=calibration,
                   sequence_length=settings["sequence_length"], n_loci=settings["n_loci"],
                   scenarios=meta.get("scenarios"), simulation={k: v for k, v in settings.items() if k != "transform"},
                   training_sites=(training_sites if training_sites is not None else
                                   dataset.sites_per_locus.sum(axis=1) if len(dataset) else None),
                   versions=versions, extra=extra)

    # -- description ---------------------------------------------------------------------------------
    @property
    def input_kind(self) -> str:
        return "image" if self.transform is not None else "statistics"

    @property
    def population_names(self) -> list:
        """Populations of the simulated sample, in the order of the haplotypes."""
        return population_order(self.haplotype_populations)

    @property
    def sample_sizes(self) -> dict:
        """Diploid individuals per population the network was trained on, ``{name: individuals}``."""
        return {p: self.haplotype_populations.count(p) // 2 for p in self.population_names}

    @property
    def phased(self) -> bool:
        """True if the network's input needs phased haplotypes."""
        if self.transform is not None:
            return not self.transform.unphased
        return bool(_statistic_needs(self.statistic_names, _PHASE_STATISTICS))

    @property
    def polarised(self) -> bool:
        """True if the input needs ancestral/derived alleles (0/1 encoding, or unfolded-SFS-type statistics)."""
        if self.transform is not None:
            return self.transform.encoding == "01"
        return bool(_statistic_needs(self.statistic_names, _POLARISED_STATISTICS))

    @property
    def window_bp(self) -> float | None:
        """The simulated region length in bp: locus length × loci per replicate (the default window)."""
        return None if self.sequence_length is None else self.sequence_length * self.n_loci

    def input_shape(self) -> tuple:
        if self.transform is not None:
            return tuple(self.transform.output_shape(len(self.haplotype_populations)))
        return (len(self.statistic_names),)

    def _compute_statistic_names(self) -> list:
        from popsim.features.stats import compute_statistics

        n = len(self.haplotype_populations)
        toy = np.zeros((2, n), dtype=np.int8)
        toy[0, 0] = toy[1, n - 1] = 1
        return list(compute_statistics(toy, 1.0 if self.per_bp else None, np.array(self.haplotype_populations),
                                       self.statistics))

    @staticmethod
    def _sites_summary(sites: np.ndarray, transform=None) -> dict:
        """Segregating sites per training replicate: count, min, 1 %, median, 99 %, max, and the share of
        replicates with fewer sites than the image width (zero-padded images)."""
        sites = sites.astype(np.float64)
        summary = {"n": int(len(sites)), "min": float(sites.min()), "q01": float(np.percentile(sites, 1)),
                   "median": float(np.median(sites)), "q99": float(np.percentile(sites, 99)),
                   "max": float(sites.max())}
        if transform is not None:
            summary["below_image_width"] = float(np.mean(sites < transform.n_snps))
        return summary

    def describe(self) -> str:
        """One line: what the network predicts, from which input, trained on which sample."""
        if self.transform is not None:
            t = self.transform
            inputs = (f"{'x'.join(map(str, self.input_shape()))} genotype images ({t.n_snps} SNPs "
                      f"'{t.snp_selection}', sort '{t.sort_rows}', encoding '{t.encoding}'"
                      f"{', unphased' if t.unphased else ''}{', distance channel' if t.distance_channel else ''})")
        else:
            inputs = f"{len(self.statistic_names)} statistics ({'per bp' if self.per_bp else 'per locus'})"
        outputs = (f"classification into {', '.join(self.names)}" if self.kind == "classification"
                   else f"regression of {', '.join(self.names)}")
        calib = ""
        if self.calibration is not None and self.calibration.temperature_ is not None:
            calib = f", temperature T={self.calibration.temperature_:.3g}"
        samples = ", ".join(f"{p}:{n}" for p, n in self.sample_sizes.items())
        locus = f"; windows of {self.window_bp:g} bp" if self.window_bp else ""
        return f"model: {outputs} from {inputs}{calib}; trained on [{samples}] diploids{locus}"

    # -- persistence ---------------------------------------------------------------------------------
    def to_metadata(self) -> dict:
        """The JSON metadata stored in the model file."""
        statistics = None
        if self.statistics is not None:
            statistics = {"keys": self.statistics, "names": self.statistic_names, "per_bp": self.per_bp,
                          "scaler": self.input_scaler.get_config()}
        return {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kind": self.kind,
            "input": self.input_kind,
            "transform": None if self.transform is None else self.transform.to_dict(),
            "statistics": statistics,
            "class_names": self.names if self.kind == "classification" else None,
            "target_names": self.names if self.kind == "regression" else None,
            "target_scaler": None if self.target_scaler is None else self.target_scaler.get_config(),
            "calibration": None if self.calibration is None else self.calibration.get_config(),
            "scenarios": self.scenarios,
            "haplotype_populations": self.haplotype_populations,
            "sample_sizes": self.sample_sizes,
            "phased": self.phased,
            "locus": {"sequence_length": self.sequence_length, "n_loci": self.n_loci, "window_bp": self.window_bp},
            "training_sites": self.training_sites,
            "simulation": self.simulation,
            "versions": self.versions or _versions(),
            "extra": self.extra,
        }

    def save(self, path) -> Path:
        """Write model and metadata to one ``.npz`` (a minidl model file; ``minidl.load_model`` reads it too)."""
        path = Path(path)
        meta = json.loads(json.dumps(self.to_metadata(), default=_json_default))
        self.model.save(path, metadata=meta)
        return path

    @classmethod
    def load(cls, path) -> "ModelBundle":
        """Read a bundle written by :meth:`save`."""
        from minidl.calibration import TemperatureScaling
        from minidl.model import load_metadata, load_model
        from minidl.preprocessing import StandardScaler

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model bundle {str(path)!r} does not exist")
        meta = load_metadata(path)
        if meta.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"{path} is a minidl model without popsim bundle metadata; expected a file written "
                             "by popsim.realdata.bundle.ModelBundle.save (it records the transform and class names)")
        if meta.get("format_version") != BUNDLE_FORMAT_VERSION:
            raise ValueError(f"{path} is a model bundle of format version {meta.get('format_version')}; this "
                             f"popsim reads version {BUNDLE_FORMAT_VERSION}")
        model = load_model(path)
        stats = meta.get("statistics")
        return cls(
            model, meta["kind"], meta["haplotype_populations"],
            transform=None if meta["transform"] is None else GenotypeImage.from_dict(meta["transform"]),
            statistics=None if stats is None else stats["keys"],
            statistic_names=None if stats is None else stats["names"],
            input_scaler=None if stats is None else StandardScaler.from_config(stats["scaler"]),
            per_bp=True if stats is None else stats["per_bp"],
            class_names=meta.get("class_names"), target_names=meta.get("target_names"),
            target_scaler=None if meta.get("target_scaler") is None else StandardScaler.from_config(meta["target_scaler"]),
            calibration=None if meta.get("calibration") is None else TemperatureScaling.from_config(meta["calibration"]),
            sequence_length=meta["locus"]["sequence_length"], n_loci=meta["locus"]["n_loci"],
            scenarios=meta.get("scenarios"), simulation=meta.get("simulation"),
            training_sites=meta.get("training_sites"), versions=meta.get("versions"), extra=meta.get("extra"),
        )

    # -- prediction on prepared inputs ---------------------------------------------------------------
    def _finish(self, raw: np.ndarray, calibrated: bool) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.kind == "classification":
            if calibrated and self.calibration is not None and self.calibration.temperature_ is not None:
                x = raw if self.calibration.input == "probs" else np.log(np.clip(raw, 1e-12, 1.0))
                return self.calibration.transform(x)
            return raw
        return raw if self.target_scaler is None else self.target_scaler.inverse_transform(raw)

    def predict_images(self, images, calibrated: bool = True, batch_size: int = 64) -> np.ndarray:
        """Outputs for float32 images ``(N, rows, n_snps, channels)`` made with this bundle's transform.

        Classification: (N, classes) probabilities, temperature-scaled if the bundle has a calibration and
        ``calibrated``. Regression: (N, targets) in the parameters' units (target scaler inverted).
        """
        if self.transform is None:
            raise ValueError("this bundle's network takes statistics, not images; use predict_statistics")
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape():
            raise ValueError(f"images must have shape (N, {', '.join(map(str, self.input_shape()))}) as the "
                             f"bundle's transform makes them; got {images.shape}")
        return self._finish(self.model.predict(images, batch_size=batch_size), calibrated)

    def predict_statistics(self, values, calibrated: bool = True) -> np.ndarray:
        """Outputs for raw (unscaled) statistics ``(N, statistics)`` in the order of ``statistic_names``;
        they are scaled with the training scaler stored in the bundle."""
        if self.statistics is None:
            raise ValueError("this bundle's network takes genotype images, not statistics; use predict_images")
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.shape[1] != len(self.statistic_names):
            raise ValueError(f"statistics must have {len(self.statistic_names)} columns "
                             f"({', '.join(self.statistic_names)}); got shape {values.shape}")
        return self._finish(self.model.predict(self.input_scaler.transform(values)), calibrated)

    # -- real data -----------------------------------------------------------------------------------
    def check_vcf(self, vcf, *, subsample: bool = False, ref_is_ancestral: bool = False) -> list:
        """Compare a ``VcfGenotypes`` with the training sample; raise one ``MismatchError`` listing every
        difference. Returns the list of warnings (strings) for differences that leave the prediction defined.
        """
        problems, notes = [], []
        trained = self.sample_sizes
        given = {p: n for p, n in vcf.population_sizes.items() if n > 0}
        order_model, order_vcf = list(trained), list(given)
        missing = [p for p in order_model if p not in given]
        extra = [p for p in order_vcf if p not in trained]
        if missing or extra:
            problems.append(f"populations differ: the model was trained on {order_model}, the population file "
                            f"gives {order_vcf} (name the populations in the population file exactly as in "
                            "the simulations)")
        elif order_model != order_vcf:
            problems.append(f"population order differs: the model's images have population blocks in the order "
                            f"{order_model}, the population file lists {order_vcf}; list the samples of "
                            f"{order_model[0]!r} first in the population file (rows are not reordered for you)")
        if not missing and not extra:
            for p in order_model:
                if given[p] < trained[p] or (given[p] > trained[p] and not subsample):
                    hint = (" (pass subsample=True / --subsample to draw that many at random, seeded)"
                            if given[p] > trained[p] else "")
                    problems.append(f"population {p!r} has {given[p]} individuals in the VCF, the model was trained "
                                    f"on {trained[p]} diploid individuals{hint}")
        ploidies = sorted(set(int(x) for x in np.unique(vcf.ploidies)))
        if ploidies != [2]:
            problems.append(f"individuals have ploidy {ploidies} in the VCF; the simulations are diploid (2)")
        if self.phased and not vcf.phased:
            what = ("haplotype rows (GenotypeImage unphased=False)" if self.transform is not None else
                    f"haplotype statistics {_statistic_needs(self.statistic_names, _PHASE_STATISTICS)}")
            problems.append(f"the VCF has unphased genotypes ('/') but the model was trained on phased {what}; "
                            "phase the data, or train a model on unphased input (GenotypeImage(unphased=True))")
        if self.polarised and not vcf.polarised and not ref_is_ancestral:
            what = (f"derived-allele encoding '{self.transform.encoding}'" if self.transform is not None else
                    f"polarised statistics {_statistic_needs(self.statistic_names, _POLARISED_STATISTICS)}")
            problems.append(f"the model uses the {what} (0 = ancestral, 1 = derived) but the VCF alleles are "
                            "REF/ALT; read it with ancestral_allele='AA' (--ancestral-allele AA), or state that "
                            "REF is ancestral with ref_is_ancestral=True (--ref-is-ancestral), e.g. for a VCF "
                            "written by tskit")
        if problems:
            listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1)) if len(problems) > 1 else problems[0]
            raise MismatchError(f"{vcf.source or 'VCF'} does not match the model bundle: {listed}")
        if int(np.count_nonzero(vcf.calls < 0)):
            share = np.count_nonzero(vcf.calls < 0) / vcf.calls.size
            rate = self.transform.missing_rate if self.transform is not None else 0.0
            if share > 2 * rate:
                notes.append(f"{100 * share:.1f} % of genotypes are missing but the simulations had "
                             f"{100 * rate:.1f} % (missing calls are encoded as 0)")
        return notes

    def predict_vcf(self, vcf, populations=None, region=None, **options):
        """Predict every window of a VCF: :func:`popsim.realdata.windows.predict_vcf` with this bundle (the
        options and the returned :class:`~popsim.realdata.windows.WindowPredictions` are described there)."""
        from popsim.realdata.windows import predict_vcf

        return predict_vcf(self, vcf, populations, region, **options)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
