#!/usr/bin/env python3
"""ncu-summary.py: total GPU time by kernel name from `ncu --csv --metrics
gpu__time_duration.sum` output on stdin (the lead's profiling on the GPU machine).
Prints one line per kernel name: total ms, share, launches, mean us."""
import csv, sys, collections
rows = [l for l in sys.stdin if l.startswith('"')]
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    name = r["Kernel Name"].split("(")[0][:90]
    v = float(r["Metric Value"].replace(",", ""))
    unit = r.get("Metric Unit", "nsecond")
    v *= {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3}.get(unit, 1e-6)
    tot[name] += v; cnt[name] += 1
skip = [a for a in sys.argv[1:]]
allms = sum(v for k, v in tot.items() if not any(s in k for s in skip))
print(f"total {allms:.1f} ms over {sum(cnt.values())} launches (excluding {skip})")
for k, v in sorted(tot.items(), key=lambda kv: -kv[1]):
    if any(s in k for s in skip): continue
    print(f"{v:10.2f} ms {100*v/allms:5.1f}% {cnt[k]:6d} x {1000*v/cnt[k]:9.1f} us  {k}")
