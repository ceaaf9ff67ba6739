"""Expected values for the judge-based non-hallucination rate tests (ClaimsRateTests).

Independent reference for the rate and its 95 % Wilson score interval, written from the published
definition (E. B. Wilson, 1927): for k successes of n, p = k/n and
    centre = (p + z^2/(2n)) / (1 + z^2/n)
    half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))
clamped to [0, 1]; z = Phi^-1(0.975) taken from Python's statistics.NormalDist (not from the C#
constant). The cases are the (hallucination-free, judged) counts the C# tests produce plus edges
(0 of n, n of n, 1 of 1, large n). Standard library only; run from the repository root:

    python3 tests/SynthVlm.Hallucination.Tests/Fixtures/claims/make_reference.py

It rewrites expected.json next to this file.
"""
import json
import math
import os
from statistics import NormalDist

Z = NormalDist().inv_cdf(0.975)

CASES = [(0, 1), (1, 1), (0, 5), (5, 5), (3, 4), (4, 6), (6, 8), (1, 3), (48, 100), (779, 1000)]


def wilson(k, n, z=Z):
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def main():
    out = {"z": Z, "wilson": []}
    for k, n in CASES:
        low, high = wilson(k, n)
        out["wilson"].append({"k": k, "n": n, "rate": k / n, "low": low, "high": high})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
