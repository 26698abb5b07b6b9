#!/usr/bin/env bash
# Relay figures on loopback (release build): added latency p50/p99 at 25 fps
# video + 50 fps audio, and CPU seconds per Gbit relayed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p relay --bench relay "$@"
