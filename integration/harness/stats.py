"""Small statistics for distribution tests (no scipy): Pearson's chi-square statistic
and its critical values at p = 0.001.
"""

from __future__ import annotations

from collections.abc import Mapping

# Upper 0.1% points of the chi-square distribution, by degrees of freedom (standard tables,
# e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4). For 2 dof it is exactly 2*ln(1000) = 13.8155.
CHI2_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515,
                      6: 22.458, 7: 24.322, 8: 26.124, 9: 27.877, 10: 29.588}


def chi_square(observed: Mapping[str, int], weights: Mapping[str, float]) -> float:
    """Pearson's statistic of ``observed`` counts against shares proportional to ``weights``."""
    total = sum(observed.get(k, 0) for k in weights)
    weight_sum = sum(weights.values())
    stat = 0.0
    for key, weight in weights.items():
        expected = total * weight / weight_sum
        stat += (observed.get(key, 0) - expected) ** 2 / expected
    return stat


def fits_weights(observed: Mapping[str, int], weights: Mapping[str, float]) -> tuple[bool, float, float]:
    """(passes at p = 0.001, statistic, critical value) for ``len(weights) - 1`` degrees of freedom."""
    critical = CHI2_CRITICAL_P001[len(weights) - 1]
    stat = chi_square(observed, weights)
    return stat <= critical, stat, critical
