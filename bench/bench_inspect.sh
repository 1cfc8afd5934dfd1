#!/usr/bin/env bash
# make bench: inspect speed on the full-scale sparse DeepSeek-V3 layout and --verify throughput.
# The layouts are written once under build/bench (sparse: a few MB on disk, ~690 GB apparent;
# plus VERIFY_GB of real data).
set -euo pipefail
bin=${1:-build/ckptdoc}
mkdir -p build/bench
python3 "$(dirname "$0")/bench_inspect.py" "$bin" build/bench --verify-gb "${VERIFY_GB:-4}"
