"""The test oracle: read a file with the hand parser and with the htslib backend; both must agree exactly."""

from dataclasses import fields

import numpy as np
import pytest

from popsim.realdata import vcf as vcf_module
from popsim.realdata.vcf import VcfGenotypes

HAVE_HTSLIB = vcf_module.htslib_available()


def assert_same_genotypes(a: VcfGenotypes, b: VcfGenotypes, ignore=("backend",)) -> None:
    """Every field of two ``VcfGenotypes`` equal (arrays: same dtype and values), except ``ignore``."""
    for f in fields(VcfGenotypes):
        if f.name in ignore:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, (f.name, x.dtype, y.dtype)
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y, (f.name, x, y)


def read_both(path, *args, **kwargs) -> VcfGenotypes:
    """``read_vcf`` with the hand parser (returned) and with htslib (compared); errors must occur in both."""
    backend = kwargs.pop("backend", None)
    if backend is not None:
        return vcf_module.read_vcf(path, *args, backend=backend, **kwargs)
    try:
        reference = vcf_module.read_vcf(path, *args, backend="python", **kwargs)
    except (ValueError, FileNotFoundError) as exc:
        if HAVE_HTSLIB:
            with pytest.raises((ValueError, FileNotFoundError)):
                vcf_module.read_vcf(path, *args, backend="htslib", **kwargs)
        raise exc
    assert reference.backend == "python"
    if HAVE_HTSLIB:
        other = vcf_module.read_vcf(path, *args, backend="htslib", **kwargs)
        assert other.backend == "htslib"
        assert_same_genotypes(reference, other)
    return reference
