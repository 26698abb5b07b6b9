#!/usr/bin/env bash
# Relay figures on loopback (release build): added latency p50/p99 at 25 fps
# video + 50 fps audio, with the machine's own thread wake-up latency
# measured alongside, and CPU seconds per Gbit relayed.
# RELAY_BENCH_SECONDS: length of the latency run (default 5).
# RELAY_BENCH_LAYOUT: shared (default, one runtime) or split (ingest and edge
# on runtimes of their own, as two processes).
# Latency tails depend on the CPUs being free: on a small machine busy with
# other work (compiles), wake-ups and preemptions of a few ms show in p99;
# compare the reference line and check `uptime` before reading them.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p relay --bench relay "$@"
