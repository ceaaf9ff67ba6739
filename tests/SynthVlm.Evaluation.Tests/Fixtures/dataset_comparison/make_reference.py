"""Reference values for DatasetComparisonTests.cs: Wilson score intervals and the seeded sample.

There is no official code for SynthVLM's Table 2 comparison; these are independent Python
implementations from the definitions, to check the C# against:
  * Wilson score interval (Wilson 1927; e.g. Agresti & Coull 1998, eq. 2) for k successes in n,
        center = (p + z^2/(2n)) / (1 + z^2/n),
        half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2)),
    clipped to [0, 1]; z = the 0.975 quantile of the standard normal, computed here by bisection
    on math.erf (scipy is not available) and checked against 1.959963984540054.
  * The sample: ids sorted by UTF-16 code units, Fisher-Yates from the last position down with
    j = splitmix64(seed) mod (i + 1), first `size` ids.
No environment variable or download is needed: /usr/bin/python3 make_reference.py writes
expected.json beside this script.
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


def z_975():
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < 0.975:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson(k, n, z):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def sample(ids, size, seed):
    items = sorted(set(ids), key=lambda s: s.encode("utf-16-be"))
    state = seed
    for i in range(len(items) - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items[:max(0, size)]


def main():
    z = z_975()
    assert abs(z - 1.959963984540054) < 1e-12, z
    cases = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (5, 10), (1, 2), (50, 100), (62, 100), (7, 200), (199, 200), (1234, 5000)]
    ids = [f"{i:012d}" for i in range(0, 60, 3)] + ["coco-17", "coco-2", "\u00e9t\u00e9", "\U0001f600x", "\uff21"]
    samples = [(ids, 10, 0), (ids, 10, 42), (ids, 100, 7), (ids, 0, 1), (["only"], 5, 3), (ids, 25, 18446744073709551615)]
    expected = {
        "z": z,
        "wilson": [{"k": k, "n": n, "low": wilson(k, n, 1.959963984540054)[0], "high": wilson(k, n, 1.959963984540054)[1]} for k, n in cases],
        "samples": [{"ids": s_ids, "size": size, "seed": str(seed), "sample": sample(s_ids, size, seed)} for s_ids, size, seed in samples],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
