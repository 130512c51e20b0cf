"""Properties of the drift statistics (contracts.drift) that must hold for any histogram or sample."""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contracts.drift import SMOOTHING, NumericBaseline, ks, numeric_baseline, psi

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT_THRESHOLDS = (0.1, 0.25)  # monitoring.prediction_psi_threshold, feature_psi_threshold
MIN_SAMPLE = 500  # monitoring.min_sample_size

counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12)
paired = st.integers(min_value=1, max_value=12).flatmap(
    lambda bins: st.tuples(*[st.lists(st.integers(0, 10_000), min_size=bins, max_size=bins)] * 2)
)


@SETTINGS
@given(pair=paired)
def test_psi_is_finite_non_negative_and_symmetric_even_with_empty_bins(pair: tuple[list[int], list[int]]) -> None:
    expected, actual = pair
    value = psi(expected, actual)
    assert math.isfinite(value) and value >= 0.0
    assert value == psi(actual, expected) or math.isclose(value, psi(actual, expected), rel_tol=1e-12)


@SETTINGS
@given(pair=paired, seed=st.integers(0, 2**32))
def test_psi_does_not_depend_on_the_order_of_the_bins(pair: tuple[list[int], list[int]], seed: int) -> None:
    expected, actual = pair
    order = list(range(len(expected)))
    random.Random(seed).shuffle(order)
    shuffled = psi([expected[i] for i in order], [actual[i] for i in order])
    assert math.isclose(psi(expected, actual), shuffled, rel_tol=1e-9, abs_tol=1e-15)


@SETTINGS
@given(histogram=counts, factor=st.integers(1, 50))
def test_the_same_shares_give_zero_or_next_to_nothing(histogram: list[int], factor: int) -> None:
    """Identical histograms: exactly 0. The same shares at another sample size: only the
    smoothing's half counts differ, far below any threshold once every bin holds a share."""
    assert psi(histogram, histogram) == 0.0
    total = sum(histogram)
    assume(total >= MIN_SAMPLE and min(histogram) >= total / 100)
    assert psi(histogram, [c * factor for c in histogram]) < 0.01


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    shares=st.lists(st.floats(0.02, 1.0), min_size=2, max_size=12),
    window=st.integers(MIN_SAMPLE, 5_000),
)
def test_two_samples_of_one_distribution_never_alarm(seed: int, shares: list[float], window: int) -> None:
    """Sampling noise alone (PSI ~ (bins - 1) * (1/n + 1/N)) stays far below the lowest default
    threshold at the minimum sample size."""
    rng = random.Random(seed)

    def sample(size: int) -> list[int]:
        drawn = Counter(rng.choices(range(len(shares)), shares, k=size))
        return [drawn[i] for i in range(len(shares))]

    assert psi(sample(4_000), sample(window)) < min(DEFAULT_THRESHOLDS)


@SETTINGS
@given(seed=st.integers(0, 2**32), shift=st.floats(1.0, 3.0), window=st.integers(MIN_SAMPLE, 3_000))
def test_a_shifted_numeric_feature_crosses_the_significant_threshold(seed: int, shift: float, window: int) -> None:
    """A window whose mean moved by one standard deviation or more: PSI over the training
    deciles exceeds 0.25 and KS is large; the unshifted window stays below 0.1."""
    rng = random.Random(seed)
    training = sorted(rng.gauss(0.0, 1.0) for _ in range(4_000))
    baseline = NumericBaseline.of(numeric_baseline(training))
    same_psi, same_ks = baseline.compare(sorted(rng.gauss(0.0, 1.0) for _ in range(window)))
    moved_psi, moved_ks = baseline.compare(sorted(rng.gauss(shift, 1.0) for _ in range(window)))
    assert same_psi < min(DEFAULT_THRESHOLDS) and same_ks < 0.1
    assert moved_psi > max(DEFAULT_THRESHOLDS) and moved_ks > 0.3


@SETTINGS
@given(pair=paired)
def test_ks_is_a_distance_between_cumulative_shares(pair: tuple[list[int], list[int]]) -> None:
    expected, actual = pair
    assume(sum(expected) and sum(actual))
    value = ks(expected, actual)
    assert 0.0 <= value <= 1.0
    assert math.isclose(value, ks(actual, expected), abs_tol=1e-15)
    assert ks(expected, expected) == 0.0


def test_smoothing_is_half_a_count_per_bin() -> None:
    """An empty window bin against a baseline share of one half: the documented arithmetic."""
    expected_share, actual_share = (1 + SMOOTHING) / (2 + 2 * SMOOTHING), (0 + SMOOTHING) / (10 + 2 * SMOOTHING)
    other_expected, other_actual = 1 - expected_share, 1 - actual_share
    by_hand = (actual_share - expected_share) * math.log(actual_share / expected_share) + (
        other_actual - other_expected
    ) * math.log(other_actual / other_expected)
    assert psi([1, 1], [0, 10]) == by_hand
