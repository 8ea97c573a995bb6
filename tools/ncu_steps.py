#!/usr/bin/env python3
"""Per-step kernel times from an Nsight Compute CSV (`ncu --csv --metrics gpu__time_duration.sum`).

A step starts at each embedding kernel (the first kernel of a decoder forward). Prints every
step's kernel count and summed duration, then the kernels of one step (default: the first
complete one) aggregated by name and grid, largest first.

  python3 tools/ncu_steps.py NCU_CSV [--step K]
"""
import argparse
import collections
import csv
import io


def read_rows(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))
    for row in csv.DictReader(io.StringIO("\n".join(lines[header:]))):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        scale = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}.get(row["Metric Unit"], 1e-3)
        yield row["Kernel Name"], row["Grid Size"], float(row["Metric Value"].replace(",", "")) * scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--step", type=int, default=0, help="which complete step to break down (0 = first)")
    args = parser.parse_args()
    kernels = list(read_rows(args.csv))
    starts = [i for i, (name, _, _) in enumerate(kernels) if "embedding_kernel" in name]
    if len(starts) < 2:
        raise SystemExit("fewer than two steps in the window: profile more kernels (--launch-count)")
    for begin, end in zip(starts, starts[1:]):
        print(f"step at kernel {begin}: {end - begin} kernels, {sum(t for _, _, t in kernels[begin:end]):.1f} us")
    begin, end = starts[args.step], starts[args.step + 1]
    totals = collections.defaultdict(lambda: [0, 0.0])
    for name, grid, time in kernels[begin:end]:
        entry = totals[(name[:70], grid)]
        entry[0] += 1
        entry[1] += time
    for (name, grid), (count, time) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(f"{count:5d} x {time / count:9.2f} us = {time:10.1f} us  {name} grid {grid}")


if __name__ == "__main__":
    main()
