#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Plots DMA throughput against transfer size, both directions, beside memcpy, from a
# qaic-bench JSON file:   bench-plot.sh BENCH_JSON OUT_PNG
set -euo pipefail
json=$1
png=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/bench-report.py" "$json" --data "$tmp" >/dev/null
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,11"
set output "$png"
set title "qaic DMA throughput vs transfer size (one BO, one slice, execute + wait)"
set xlabel "transfer size (bytes)"
set ylabel "GB/s (10^9 bytes per second)"
set logscale x 2
set xtics ("4 KiB" 4096, "64 KiB" 65536, "1 MiB" 1048576, "4 MiB" 4194304, "16 MiB" 16777216)
set xrange [3000:24000000] # room for the first and last tics
set key top left
set grid
plot "$tmp/dma.dat" using 1:2 with linespoints lw 2 title "host memcpy (baseline)", \
     "" using 1:3 with linespoints lw 2 title "DMA to device", \
     "" using 1:4 with linespoints lw 2 title "DMA from device"
GP
