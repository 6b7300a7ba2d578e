"""Prior distributions for the parameters of a demographic scenario.

A scenario's priors are an *ordered* ``dict`` ``{parameter name: Prior}``. Parameters are drawn in that
order, so a bound may refer to a parameter drawn earlier: this is how conditional priors are written.

    >>> priors = {
    ...     "T_split": Uniform(1_000, 10_000),            # generations
    ...     "T_contact": Uniform(0, "0.5 * T_split"),     # secondary contact more recent than the split
    ...     "N_A": LogUniform(1_000, 100_000),            # diploid individuals
    ...     "m": Fixed(1e-4),                             # fraction of a population replaced per generation
    ... }
    >>> params = sample_params(priors, np.random.default_rng(1))

A bound is a number or a short arithmetic expression (``+ - * /``, parentheses, numbers, names of
earlier parameters). Expressions are kept as text, so every prior serialises to JSON
(``prior.to_dict()`` / ``prior_from_dict(d)``) and is recorded in dataset metadata.

Units are those of msprime: sizes in diploid individuals, times in generations, rates per generation.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np

__all__ = [
    "Prior",
    "Uniform",
    "LogUniform",
    "IntUniform",
    "Fixed",
    "Choice",
    "sample_params",
    "prior_from_dict",
    "parse_prior",
    "priors_to_dict",
    "priors_from_dict",
    "reference_params",
]

# A bound: a number, or an expression naming parameters drawn earlier (e.g. "T_split", "0.5 * T_split").
Bound = Union[float, int, str]

# Only these operators may appear in a bound expression: enough for "T1 - 100" or "0.5 * T_split",
# nothing that could run arbitrary code.
_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


class _UndefinedBound(ValueError):
    """A well-formed bound expression whose value is undefined for these parameters (division by zero, inf)."""


def _evaluate_expression(text: str, params: Mapping[str, float]) -> float:
    """Evaluate a bound expression such as ``"0.5 * T_split"`` with the parameters drawn so far."""

    def visit(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in params:
                raise ValueError(
                    f"prior bound {text!r} names parameter {node.id!r}, which is not drawn before it; "
                    f"expected one of {sorted(params)}"
                )
            return float(params[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](visit(node.left), visit(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](visit(node.operand))
        raise ValueError(
            f"prior bound {text!r} is not a simple arithmetic expression; "
            "expected numbers, earlier parameter names, + - * / and parentheses"
        )

    tree = _parse_bound(text)
    try:
        value = visit(tree)
    except ZeroDivisionError:
        raise _UndefinedBound(f"prior bound {text!r} divides by zero for the parameters {dict(params)}") from None
    except RecursionError:
        raise ValueError(f"prior bound {text[:40]!r}... is nested too deeply; expected a short expression") from None
    if not math.isfinite(value):
        raise _UndefinedBound(f"prior bound {text!r} is not finite ({value}) for the parameters {dict(params)}")
    return value


MAX_BOUND_LENGTH = 200  # characters: bounds are short formulas such as "0.05 * T_split"


def _parse_bound(text: str) -> ast.AST:
    """The syntax tree of a bound expression; one clear ValueError for anything that is not one."""
    if len(text) > MAX_BOUND_LENGTH:
        raise ValueError(f"prior bound {text[:40]!r}... has {len(text)} characters; expected a short expression "
                         f"(at most {MAX_BOUND_LENGTH})")
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"prior bound {text!r} is not a valid expression; expected e.g. '0.5 * T_split'") from None


def _resolve(bound: Bound, params: Mapping[str, float]) -> float:
    """Turn a bound (number or expression) into a number, given the parameters drawn so far."""
    if isinstance(bound, str):
        return _evaluate_expression(bound, params)
    return float(bound)


def _names_in(bound: Bound) -> set[str]:
    """Parameter names an expression bound depends on (empty for a number)."""
    if not isinstance(bound, str):
        return set()
    tree = _parse_bound(bound)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    # Evaluate once so that a forbidden construct fails when the prior is made; a constant expression
    # ("1/0") must also be a finite number, while one with names is checked again when it is drawn.
    try:
        _evaluate_expression(bound, {name: 1.0 for name in names})
    except _UndefinedBound:
        if not names:  # with names, 1.0 is only a stand-in: real draws are checked when drawn
            raise
    return names


def _check_bound_type(kind: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{kind} {name} must be a number or an expression string; got {value!r}")
    if isinstance(value, (int, float)) and not math.isfinite(value):
        raise ValueError(f"{kind} {name} must be finite; got {value!r}")


@dataclass(frozen=True)
class Prior:
    """Base class: a distribution that draws one parameter value with a ``numpy.random.Generator``."""

    def depends_on(self) -> set[str]:
        """Names of the parameters this prior's bounds refer to."""
        return set()

    def sample(self, rng: np.random.Generator, params: Mapping[str, float]) -> float:
        """Draw one value; ``params`` holds the parameters drawn before this one."""
        raise NotImplementedError

    def reference(self, params: Mapping[str, float]) -> float:
        """A typical value (the median) used to draw and export a scenario without sampling."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-serialisable description, e.g. ``{"type": "Uniform", "low": 0, "high": "T_split"}``."""
        out = {"type": type(self).__name__}
        out.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()})
        return out


@dataclass(frozen=True)
class _Bounded(Prior):
    low: Bound
    high: Bound

    def __post_init__(self):
        _check_bound_type(type(self).__name__, "low", self.low)
        _check_bound_type(type(self).__name__, "high", self.high)
        _names_in(self.low), _names_in(self.high)  # fail early on a malformed expression
        if not isinstance(self.low, str) and not isinstance(self.high, str) and self.low > self.high:
            raise ValueError(f"{type(self).__name__} low={self.low!r} is above high={self.high!r}; expected low <= high")

    def depends_on(self) -> set[str]:
        return _names_in(self.low) | _names_in(self.high)

    def _bounds(self, params: Mapping[str, float]) -> tuple[float, float]:
        low, high = _resolve(self.low, params), _resolve(self.high, params)
        if low > high:
            raise ValueError(
                f"{type(self).__name__} bounds low={self.low!r} ({low:g}) and high={self.high!r} ({high:g}) "
                "are in the wrong order for these parameters; expected low <= high"
            )
        return low, high


@dataclass(frozen=True)
class Uniform(_Bounded):
    """Continuous uniform on [low, high]."""

    def sample(self, rng, params):
        low, high = self._bounds(params)
        return float(rng.uniform(low, high))

    def reference(self, params):
        low, high = self._bounds(params)
        return 0.5 * (low + high)


@dataclass(frozen=True)
class LogUniform(_Bounded):
    """Uniform on the log scale between low > 0 and high: every order of magnitude equally likely."""

    def __post_init__(self):
        super().__post_init__()
        for name in ("low", "high"):
            value = getattr(self, name)
            if not isinstance(value, str) and value <= 0:
                raise ValueError(f"LogUniform {name}={value!r} must be positive; expected a value > 0")

    def _log_bounds(self, params):
        low, high = self._bounds(params)
        if low <= 0:
            raise ValueError(f"LogUniform low={self.low!r} evaluates to {low:g}; expected a value > 0")
        return math.log(low), math.log(high)

    def sample(self, rng, params):
        log_low, log_high = self._log_bounds(params)
        return float(math.exp(rng.uniform(log_low, log_high)))

    def reference(self, params):
        log_low, log_high = self._log_bounds(params)
        return float(math.exp(0.5 * (log_low + log_high)))


@dataclass(frozen=True)
class IntUniform(_Bounded):
    """Integer uniform on {low, low+1, ..., high} (both ends included, like R's ``sample(low:high)``)."""

    def sample(self, rng, params):
        low, high = self._bounds(params)
        low, high = math.ceil(low), math.floor(high)
        if low > high:
            raise ValueError(f"IntUniform bounds {self.low!r}..{self.high!r} contain no integer; expected low <= high")
        return float(rng.integers(low, high, endpoint=True))

    def reference(self, params):
        low, high = self._bounds(params)
        return float(math.floor(0.5 * (math.ceil(low) + math.floor(high))))


@dataclass(frozen=True)
class Fixed(Prior):
    """A constant: the parameter always takes ``value`` (no random number is consumed)."""

    value: float

    def __post_init__(self):
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"Fixed value must be a finite number; got {self.value!r}")

    def sample(self, rng, params):
        return float(self.value)

    def reference(self, params):
        return float(self.value)


@dataclass(frozen=True)
class Choice(Prior):
    """One of a few ``values``, with optional ``probabilities`` (equal by default)."""

    values: Sequence[float]
    probabilities: Sequence[float] | None = None

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if len(self.values) == 0:
            raise ValueError("Choice values must not be empty; expected at least one value")
        if self.probabilities is not None:
            probabilities = tuple(float(p) for p in self.probabilities)
            object.__setattr__(self, "probabilities", probabilities)
            if len(probabilities) != len(self.values):
                raise ValueError(
                    f"Choice probabilities has {len(probabilities)} entries for {len(self.values)} values; "
                    "expected one probability per value"
                )
            if min(probabilities) < 0 or not math.isclose(sum(probabilities), 1.0, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(f"Choice probabilities={probabilities} must be >= 0 and sum to 1")

    def sample(self, rng, params):
        index = rng.choice(len(self.values), p=self.probabilities)
        return float(self.values[index])

    def reference(self, params):
        return float(self.values[0])


_PRIOR_TYPES = {cls.__name__: cls for cls in (Uniform, LogUniform, IntUniform, Fixed, Choice)}


def prior_from_dict(description: Mapping[str, Any]) -> Prior:
    """Inverse of ``Prior.to_dict()``."""
    description = dict(description)
    kind = description.pop("type", None)
    if kind not in _PRIOR_TYPES:
        raise ValueError(f"prior type {kind!r} is unknown; expected one of {sorted(_PRIOR_TYPES)}")
    return _PRIOR_TYPES[kind](**description)


def parse_prior(description: Any) -> Prior:
    """A prior from a scenario file: a dict as ``Prior.to_dict()`` gives (``{type: Uniform, low: 1, high: 2}``),
    a text such as ``"LogUniform(1000, 1e5)"`` or ``"Uniform(0, '0.5 * T_split')"``, or a bare number (Fixed)."""
    if isinstance(description, Prior):
        return description
    if isinstance(description, Mapping):
        return prior_from_dict(description)
    if isinstance(description, (int, float)) and not isinstance(description, bool):
        return Fixed(description)
    if not isinstance(description, str):
        raise ValueError(f"prior {description!r} must be a mapping with 'type', a text like 'Uniform(1, 10)' or a number")
    expected = f"expected e.g. 'Uniform(100, 1000)'; one of {sorted(_PRIOR_TYPES)}"
    try:
        tree = ast.parse(description.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"prior {description!r} is not valid; {expected}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id in _PRIOR_TYPES):
        raise ValueError(f"prior {description!r} is not a call of a prior type; {expected}")
    try:
        args = [ast.literal_eval(a) for a in tree.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in tree.keywords}
    except ValueError:
        raise ValueError(f"prior {description!r}: arguments must be numbers or quoted expressions; {expected}") from None
    try:
        return _PRIOR_TYPES[tree.func.id](*args, **kwargs)
    except TypeError as error:
        raise ValueError(f"prior {description!r}: {error}") from None


def priors_to_dict(priors: Mapping[str, Prior]) -> dict:
    """``{name: prior.to_dict()}``, order preserved (JSON keeps key order)."""
    return {name: prior.to_dict() for name, prior in priors.items()}


def priors_from_dict(description: Mapping[str, Mapping]) -> dict[str, Prior]:
    """Inverse of ``priors_to_dict``."""
    return {name: prior_from_dict(d) for name, d in description.items()}


def check_priors(priors: Mapping[str, Prior]) -> None:
    """Raise if a prior is not a ``Prior`` or refers to a parameter that is not drawn before it."""
    seen: set[str] = set()
    for name, prior in priors.items():
        if not isinstance(prior, Prior):
            raise TypeError(f"prior for parameter {name!r} must be a popsim.sim.priors.Prior; got {prior!r}")
        missing = prior.depends_on() - seen
        if missing:
            raise ValueError(
                f"prior for parameter {name!r} refers to {sorted(missing)}, which must be listed before it; "
                f"expected names among {sorted(seen)}"
            )
        seen.add(name)


def sample_params(priors: Mapping[str, Prior], rng: np.random.Generator) -> dict[str, float]:
    """Draw every parameter once, in the order of ``priors``.

    Parameters
    ----------
    priors : ordered mapping ``{name: Prior}``; conditional bounds may name earlier parameters.
    rng : ``numpy.random.Generator``; the same generator state gives the same parameters.

    Returns
    -------
    ``{name: float}`` in the same order.
    """
    check_priors(priors)
    params: dict[str, float] = {}
    for name, prior in priors.items():
        params[name] = prior.sample(rng, params)
    return params


def reference_params(priors: Mapping[str, Prior]) -> dict[str, float]:
    """Each parameter at its prior median (conditional ones given the earlier medians).

    Used to export or draw a scenario "as typical" without any randomness.
    """
    check_priors(priors)
    params: dict[str, float] = {}
    for name, prior in priors.items():
        params[name] = prior.reference(params)
    return params
