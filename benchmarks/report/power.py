"""What would decide an inconclusive claim: how many seeds (or runs) per arm its own test needs to decide it with
80% power, estimated by resampling the observed per-seed values with replacement at each candidate size.

This takes the observed effect as the true one (the usual caveat of a post-hoc power estimate): it says whether
more seeds are a plausible answer, not that they would surely decide. "no practical n" means that even
``MAX_N`` seeds per arm would decide the claim in fewer than 80% of resamples, i.e. the observed effect is near
zero and a longer horizon (or another design), not more seeds, is the answer. With fewer than 2 values in an arm
there is no spread to resample (every resample would repeat the one value and "decide" at the smallest size), so
the estimate is ``TOO_FEW`` and the report says that more seeds must run before it can be made. Each estimate uses
its own seeded stream, so the report stays byte-identical. Up to ``EXACT_UP_TO`` pairs (``EXACT_SPLITS_UP_TO``
seeds per arm unpaired) each resample is decided by the exact test, enumerated for all resamples at once; above, by
its normal approximation with the tie correction.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from benchmarks.report import exact
from benchmarks.report.verdicts import ALPHA

GRID = (4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200)
MAX_N = GRID[-1]
RESAMPLES = 400
POWER = 0.8
EXACT_UP_TO = 12  # signed-rank: 2^12 sign patterns per resample
EXACT_SPLITS_UP_TO = 7  # Mann-Whitney: C(14, 7) = 3,432 splits per resample

TOO_FEW = -1  # an arm has fewer than 2 values: no post-hoc estimate
Decides = Callable[[np.random.Generator, int], np.ndarray]  # (rng, n) -> (RESAMPLES,) bool: the test decides


def needed(decides: Decides, current: int, rng: np.random.Generator) -> int | None:
    """The smallest grid size above ``current`` at which ``decides`` succeeds in >= POWER of the resamples."""
    for n in GRID:
        if n > current and float(np.mean(decides(rng, n))) >= POWER:
            return n
    return None


def _draw(values: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return values[rng.integers(0, values.size, (RESAMPLES, n))]


def _tie_sums(ranks: np.ndarray) -> np.ndarray:
    """Per row, the sum of t^3 - t over groups of t tied ranks (the normal approximations' tie correction)."""
    return np.array([np.sum(c ** 3 - c) for c in (np.unique(r, return_counts=True)[1] for r in ranks)])


def _signed_rank_p(d: np.ndarray) -> np.ndarray:
    """One-sided p (differences tend to be positive) per row of d (RESAMPLES, n): exact up to EXACT_UP_TO pairs
    (every sign pattern enumerated against each row's mid-ranks), else the normal approximation with ties."""
    n = d.shape[1]
    if not np.all(d != 0):  # zero differences are dropped row by row: the exact test, one row at a time
        return np.array([exact.signed_rank(row, np.zeros_like(row), "greater") for row in d])
    ranks = sps.rankdata(np.abs(d), axis=1)
    w_plus = np.where(d > 0, ranks, 0.0).sum(axis=1)
    if n <= EXACT_UP_TO:
        signs = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1  # (2^n, n): every sign pattern
        null = ranks @ signs.T  # (RESAMPLES, 2^n)
        return np.mean(null >= w_plus[:, None] - 1e-9, axis=1)
    ties = _tie_sums(ranks)
    sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - ties / 48)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sps.norm.sf((w_plus - n * (n + 1) / 4) / sd)


def _rank_sum_p(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One-sided Mann-Whitney p (x tends to be larger than y) per row of x, y (RESAMPLES, n): exact up to
    EXACT_SPLITS_UP_TO per arm (every split of the pooled ranks enumerated), else the normal approximation."""
    n = x.shape[1]
    ranks = sps.rankdata(np.concatenate([x, y], axis=1), axis=1)
    observed = ranks[:, :n].sum(axis=1)
    if n <= EXACT_SPLITS_UP_TO:
        masks = np.zeros((math.comb(2 * n, n), 2 * n))
        for k, chosen in enumerate(itertools.combinations(range(2 * n), n)):
            masks[k, list(chosen)] = 1.0
        return np.mean(ranks @ masks.T >= observed[:, None] - 1e-9, axis=1)
    u = observed - n * (n + 1) / 2
    big_n = 2 * n
    ties = _tie_sums(ranks)
    sd = np.sqrt(n * n / 12 * ((big_n + 1) - ties / (big_n * (big_n - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        return sps.norm.sf((u - n * n / 2) / sd)


def order_seeds(better: Sequence[float], worse: Sequence[float], lower_is_better: bool, paired: bool,
                rng: np.random.Generator) -> int | None:
    """Seeds per arm for the ordering test (paired: per-seed differences resampled together) to decide in the
    observed direction with 80% power."""
    b, w = np.asarray(better, dtype=float), np.asarray(worse, dtype=float)
    if min(b.size, w.size) < 2:
        return TOO_FEW
    sign = -1.0 if lower_is_better else 1.0  # positive = the claimed direction
    if paired:
        d = sign * (b - w)
        if not np.any(d) or np.median(d) == 0:
            return None
        direction = 1.0 if np.median(d) > 0 else -1.0
        return needed(lambda g, n: _signed_rank_p(direction * _draw(d, g, n)) <= ALPHA, b.size, rng)
    shift = np.median(sign * b[:, None] - sign * w[None, :])
    if shift == 0:
        return None
    high, low = (sign * b, sign * w) if shift > 0 else (sign * w, sign * b)
    return needed(lambda g, n: _rank_sum_p(_draw(high, g, n), _draw(low, g, n)) <= ALPHA, min(b.size, w.size), rng)


def converge_runs(times: Sequence[float], reached: Sequence[bool], limit: float,
                  rng: np.random.Generator) -> int | None:
    """Runs for the sign test of "the median run converges by ``limit``" to decide in the observed direction."""
    hit = np.array([r and t <= limit for t, r in zip(times, reached)], dtype=float)
    if hit.size < 2:
        return TOO_FEW
    if hit.mean() == 0.5:
        return None
    toward = hit if hit.mean() > 0.5 else 1.0 - hit

    def decides(g: np.random.Generator, n: int) -> np.ndarray:
        k = _draw(toward, g, n).sum(axis=1).astype(int)
        return sps.binom.sf(k - 1, n, 0.5) <= ALPHA
    return needed(decides, hit.size, rng)


def value_seeds(values: Sequence[float], low: float, high: float, estimate: str,
                rng: np.random.Generator) -> int | None:
    """Seeds for the equivalence test of a median or mean (``estimate``) to decide (inside the margin when the
    observed estimate is inside, outside it otherwise)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return TOO_FEW
    centre = float(np.median(x) if estimate == "median" else x.mean())
    inside = low <= centre <= high

    def decides(g: np.random.Generator, n: int) -> np.ndarray:
        s = _draw(x, g, n)
        if estimate == "median":
            tail = lambda k: sps.binom.sf(k - 1, n, 0.5)  # noqa: E731
            p_in = np.maximum(tail((s > low).sum(axis=1)), tail((s < high).sum(axis=1)))
            p_out = np.minimum(tail((s < low).sum(axis=1)), tail((s > high).sum(axis=1)))
        else:
            mean, se = s.mean(axis=1), s.std(axis=1, ddof=1) / math.sqrt(n)
            with np.errstate(divide="ignore", invalid="ignore"):
                p_in = np.maximum(sps.t.sf((mean - low) / se, n - 1), sps.t.cdf((mean - high) / se, n - 1))
                p_out = np.minimum(sps.t.cdf((mean - low) / se, n - 1), sps.t.sf((mean - high) / se, n - 1))
        return (p_in if inside else p_out) <= ALPHA
    return needed(decides, x.size, rng)


def text(n: int | None, unit: str = "seeds per arm") -> str:
    if n == TOO_FEW:
        return f"not estimable yet: fewer than 2 {unit.split()[0]} give no spread to resample; run more first"
    return f"~{n} {unit} for 80% power" if n else f"no practical n (even {MAX_N} {unit} < 80% power)"
