"""Confidence intervals used by the validation tests.

Every tolerance in ``tests/validation`` comes from one of these intervals, computed from the
replications of the run under test, never from a constant tuned until the test passes:

* :func:`mean_ci` — Student t interval of a mean over independent replications;
* :func:`paired_diff_ci` — the same for paired differences (common random numbers across sweep points);
* :func:`proportion_ci` — Wilson score interval of a binomial proportion;
* :func:`poisson_ci` — exact (Garwood) interval of a Poisson mean from a count.

``LEVEL`` is the two-sided confidence level of every check. It is 99%: a correct model fails a given
check by chance about once in a hundred seeds, and every test is deterministic given its seed, so a
failure is reproducible rather than flaky.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.99


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    level: float
    n: int

    @property
    def half_width(self) -> float:
        """Largest distance from the estimate to an end of the interval."""
        return max(self.estimate - self.low, self.high - self.estimate)

    def contains(self, value: float, slack: float = 0.0) -> bool:
        """True if ``value`` lies in the interval widened by ``slack`` on each side.

        ``slack`` is for a *derived* extra uncertainty (e.g. the spread of a hash ring) that the
        replications cannot show; it is never a hand-picked margin.
        """
        return self.low - slack <= value <= self.high + slack

    def __str__(self) -> str:
        return f"{self.estimate:.6g} [{self.low:.6g}, {self.high:.6g}] ({self.level:.0%}, n={self.n})"


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student t interval of the mean of independent replications ``values`` (needs n >= 2)."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n < 2:
        raise ValueError("a t interval needs at least two replications")
    mean = math.fsum(xs) / n
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half, level, n)


def paired_diff_ci(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Student t interval of the mean of ``a[i] - b[i]`` (same replication, same random numbers)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    return mean_ci([x - y for x, y in zip(a, b, strict=True)], level)


def proportion_ci(successes: float, trials: float, level: float = LEVEL) -> Interval:
    """Wilson score interval of a binomial proportion ``successes / trials``."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / trials
    z = float(stats.norm.ppf(0.5 + level / 2))
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level, int(trials))


def poisson_ci(count: float, exposure: float = 1.0, level: float = LEVEL) -> Interval:
    """Exact (Garwood) interval of a Poisson rate from ``count`` events over ``exposure`` units."""
    if exposure <= 0:
        raise ValueError("exposure must be positive")
    alpha = 1 - level
    k = round(count)
    low = 0.0 if k == 0 else float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return Interval(k / exposure, low / exposure, high / exposure, level, k)


def ratio_upper_bound(num: Sequence[float], den: Sequence[float], level: float = LEVEL) -> float:
    """One-sided upper confidence bound of the mean of the per-replication ratios ``num/den``."""
    ratios = [x / y for x, y in zip(num, den, strict=True)]
    one_sided = mean_ci(ratios, 1 - 2 * (1 - level))
    return one_sided.high
