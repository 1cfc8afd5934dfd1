#!/usr/bin/env bash
# bench/gpu.sh [GB] - on a machine with a CUDA GPU (torch and safetensors installed): builds,
# runs every test (the CUDA kernels and the device load against the C reference included), then
# measures in one run, on the same files from the page cache, ckptdoc's load to the device
# (`check --load-only`, TP 1: read, pinned staging, host-to-device, conversion to fp32, cuts)
# against a plain pinned copy of the same bytes and safetensors.torch.load_file(device="cuda").
# Goals: >= 0.8 of the pinned copy, >= 2x safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
GB=${1:-4}
make -j"$(nproc)"
make test-run   # every suite, plain build (the CUDA cases run here)
DIR=build/bench/gpu-llama
[ -f "$DIR/config.json" ] || python3 bench/gpu_peers.py make "$DIR" "$GB"
cat "$DIR"/*.safetensors > /dev/null   # into the page cache, for every reader alike
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
echo "== ckptdoc check --load-only (best of 3)"
for i in 1 2 3; do build/ckptdoc check "$DIR" --load-only --device cuda; done | tee build/bench/gpu-ckptdoc.txt
echo "== peers"
python3 bench/gpu_peers.py copy "$DIR" | tee build/bench/gpu-copy.txt
python3 bench/gpu_peers.py safetensors "$DIR" | tee build/bench/gpu-st.txt
python3 - <<'PY'
import re
best = max(float(m) for m in re.findall(r"([0-9.]+) GB/s", open("build/bench/gpu-ckptdoc.txt").read()))
cp = float(re.findall(r"([0-9.]+) GB/s", open("build/bench/gpu-copy.txt").read())[0])
st = float(re.findall(r"([0-9.]+) GB/s", open("build/bench/gpu-st.txt").read())[0])
print("ckptdoc %.2f GB/s = %.2f of the pinned copy (goal >= 0.8), %.2fx safetensors (goal >= 2)" % (best, best / cp, best / st))
PY
