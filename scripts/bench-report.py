#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Reads qaic-bench's JSON and prints the driver's figures as ratios against the baselines
measured in the same run, with the targets of docs/performance.md.
    bench-report.py BENCH_JSON [--data DIR]   (--data: also write gnuplot data files)"""
import json
import sys


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    # Aggregates (mean, median) are preferred when repetitions were asked for.
    by_name = {}
    for r in runs:
        name = r["run_name"] if "run_name" in r else r["name"]
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        by_name[name] = r
    return by_name, data.get("context", {}).get("qaic_host", "embedded")


def strip(name):
    return name.replace("/real_time", "")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    runs, host = load(sys.argv[1])
    b = {strip(k): v for k, v in runs.items()}

    def bps(name):
        return b[name]["bytes_per_second"] if name in b else None

    def ips(name):
        return b[name]["items_per_second"] if name in b else None

    def ns(name):
        if name not in b:
            return None
        t = b[name]["real_time"]
        unit = b[name].get("time_unit", "ns")
        return t * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]

    rows = []

    def ratio(label, value, base, target, higher_is_better=True):
        if value is None or base is None:
            rows.append((label, "n/a", "", target, "missing"))
            return
        r = value / base
        ok = r >= target if higher_is_better else r <= target
        sign = ">=" if higher_is_better else "<="
        rows.append((label, f"{r:.2f}x", "", f"{sign} {target}x", "met" if ok else "MISSED"))

    for size in (4096, 65536, 1048576, 4194304, 16777216):
        for d in ("ToDevice", "FromDevice"):
            v, m = bps(f"BM_Dma{d}/{size}"), bps(f"BM_Memcpy/{size}")
            if v and m:
                rows.append((f"Dma{d}/{size} vs Memcpy", f"{v / m:.2f}x",
                             f"{v / 1e9:.1f} vs {m / 1e9:.1f} GB/s", "", ""))
    # Issue 6: 4 MiB; issue 3: every element of 1 MiB and more.
    for size in (1048576, 4194304, 16777216):
        for d in ("ToDevice", "FromDevice"):
            ratio(f"Dma{d}/{size} vs Memcpy/{size}", bps(f"BM_Dma{d}/{size}"),
                  bps(f"BM_Memcpy/{size}"), 0.8)
    if host == "qaicd":
        # Issue 11: a call crosses a process boundary, so its baseline is a socket round trip.
        ratio("ExecWait/4096 vs SocketPingPong (qaicd)", ns("BM_ExecWait/4096"),
              ns("BM_SocketPingPong"), 1.5, higher_is_better=False)
    else:
        ratio("ExecWait/4096 vs ThreadWake", ns("BM_ExecWait/4096"), ns("BM_ThreadWake"), 2.0,
              higher_is_better=False)
    # A MANAGE round trip through the firmware's thread; no issue sets it a target.
    base_name = "SocketPingPong" if host == "qaicd" else "ThreadWake"
    v, base = ns("BM_ManageStatus"), ns(f"BM_{base_name}")
    if v and base:
        rows.append((f"ManageStatus vs {base_name}", f"{v / base:.2f}x",
                     f"{v / 1e3:.1f} vs {base / 1e3:.1f} us", "", ""))
    ratio("DmaMultiDbc/2/4194304 vs DmaToDevice/4194304", bps("BM_DmaMultiDbc/2/4194304"),
          bps("BM_DmaToDevice/4194304"), 1.3)
    # What two copying threads get from this host's memory, beside what two DBCs get.
    for size in (1048576, 4194304, 16777216):
        two, one = bps(f"BM_MemcpyThreads/2/{size}"), bps(f"BM_MemcpyThreads/1/{size}")
        dma = bps(f"BM_DmaMultiDbc/2/{size}")
        if two and one and dma:
            rows.append((f"MemcpyThreads/2/{size} vs MemcpyThreads/1", f"{two / one:.2f}x",
                         f"{two / 1e9:.1f} vs {one / 1e9:.1f} GB/s", "", ""))
            rows.append((f"DmaMultiDbc/2/{size} vs MemcpyThreads/2", f"{dma / two:.2f}x",
                         f"{dma / 1e9:.1f} vs {two / 1e9:.1f} GB/s", "", ""))
    best = max([ips(k) for k in b if k.startswith("BM_ExecPipelined/")] or [0])
    rows.append(("ExecPipelined (best) BOs/s", f"{best:,.0f}", "", ">= 250,000",
                 "met" if best >= 250000 else "MISSED"))

    w = max(len(r[0]) for r in rows)
    print(f"host: {host}")
    print(f"{'figure':<{w}}  {'ratio':>9}  {'detail':<24}  {'target':<12}  status")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>9}  {r[2]:<24}  {r[3]:<12}  {r[4]}")

    if "--data" in sys.argv:
        out = sys.argv[sys.argv.index("--data") + 1]
        with open(f"{out}/dma.dat", "w") as f:
            f.write("# bytes memcpy_GBps to_device_GBps from_device_GBps\n")
            for size in (4096, 65536, 1048576, 4194304, 16777216):
                vals = [bps(f"BM_Memcpy/{size}"), bps(f"BM_DmaToDevice/{size}"),
                        bps(f"BM_DmaFromDevice/{size}")]
                if all(vals):
                    f.write(f"{size} " + " ".join(f"{v / 1e9:.3f}" for v in vals) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
