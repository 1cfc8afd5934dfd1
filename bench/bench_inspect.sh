#!/usr/bin/env bash
# make bench: inspect speed on the full-scale sparse DeepSeek-V3 layout, --verify throughput and
# the CPU forward against torch.
# The layouts are written once under build/bench (sparse: a few MB on disk, ~690 GB apparent;
# plus VERIFY_GB of real data).
set -euo pipefail
bin=${1:-build/ckptdoc}
mkdir -p build/bench
python3 "$(dirname "$0")/bench_inspect.py" "$bin" build/bench --verify-gb "${VERIFY_GB:-4}"
# the forward against torch: the oracle's Python (make oracle) has torch and transformers
py=${BENCH_PYTHON:-build/oracle-venv/bin/python}
[ -x "$py" ] || py=python3
"$py" "$(dirname "$0")/bench_forward.py" "$bin" build/bench
