#!/usr/bin/env bash
# Runs every benchmark; each prints its figures as ratios against a reference measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 Benchmarks/bench.py "${1:-all}"
