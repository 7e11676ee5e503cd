#!/usr/bin/env python3
"""Compares `sgdnoise plan --json` estimates, saved before a run, with the times the run recorded.

    sgdnoise plan PIPELINE TARGETS… --json > plan.json   # before running
    sgdnoise run PIPELINE TARGETS… -j 2
    scripts/estimate-check.py plan.json [--cache cache] [--by P]

For every instance the plan priced (`estimate_s`) and the cache's provenance database now holds
a successful execution of (same key), prints actual/predicted: the median and the 10–90% range,
overall and per value of the `--by` parameter, and the summed core-seconds both ways. Instances
the plan did not price are counted apart, with the plan's reason.
"""
import argparse
import collections
import json
import sqlite3
import statistics
import sys


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def line(label, pairs):
    ratios = [a / p for p, a in pairs]
    pred, act = sum(p for p, _ in pairs), sum(a for _, a in pairs)
    return (
        f"{label:<14} {len(pairs):>5} runs  actual/predicted median {statistics.median(ratios):6.2f}"
        f"  10–90% [{quantile(ratios, 0.1):.2f}, {quantile(ratios, 0.9):.2f}]"
        f"  core-s predicted {pred:9.0f}  actual {act:9.0f}  ({act / pred:.2f}×)"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--by", default="P", help="parameter to break the comparison down by")
    args = ap.parse_args()
    plan = json.load(open(args.plan))
    db = sqlite3.connect(f"file:{args.cache}/provenance.sqlite?mode=ro", uri=True)
    actual = dict(db.execute("SELECT key, duration_s FROM executions WHERE status = 'ok' AND duration_s IS NOT NULL"))
    pairs, groups, unpriced, not_run = [], collections.defaultdict(list), collections.Counter(), 0
    for item in plan:
        if item.get("status") != "run":
            continue
        if item.get("estimate_s") is None:
            unpriced[item.get("estimate_missing", "no estimate")] += 1
            continue
        if item["key"] not in actual:
            not_run += 1
            continue
        pair = (item["estimate_s"], actual[item["key"]])
        pairs.append(pair)
        groups[item["params"].get(args.by)].append(pair)
    if not pairs:
        sys.exit("no priced instance of the plan has run yet")
    print(line("all", pairs))
    for value in sorted(groups, key=lambda v: (v is None, v)):
        print(line(f"{args.by} = {value}", groups[value]))
    if not_run:
        print(f"{not_run} priced instances have not run (yet)")
    for why, n in unpriced.items():
        print(f"{n} not priced by the plan: {why}")


if __name__ == "__main__":
    main()
