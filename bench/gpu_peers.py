#!/usr/bin/env python3
"""The peers of `ckptdoc check --load-only` on a GPU, on the same files from the page cache:
a plain pinned host-to-device copy of the same number of bytes (the ceiling: one cudaMemcpyAsync
from page-locked memory), and safetensors.torch.load_file(..., device="cuda") of every shard.
Also writes the benchmark checkpoint when asked. Needs torch and safetensors (GPU machine only).
Usage: gpu_peers.py make DIR GB | copy DIR | safetensors DIR"""
import glob
import json
import os
import sys
import time


def make(d, gb):
    import torch
    from safetensors.torch import save_file
    os.makedirs(d, exist_ok=True)
    H, I, V, heads, kv = 4096, 11008, 32000, 32, 8
    per_layer = (H * H * 2 + H * H * kv // heads * 2 + 3 * H * I) * 2
    layers = max(1, int(gb * 1e9 // per_layer))
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
           "intermediate_size": I, "num_hidden_layers": layers, "num_attention_heads": heads,
           "num_key_value_heads": kv, "vocab_size": V, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "max_position_embeddings": 4096, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s: (torch.rand(*s, generator=g) * 0.02 - 0.01).to(torch.bfloat16)
    wmap, shard = {}, 0
    for l in range(layers):
        p = "model.layers.%d." % l
        t = {p + "self_attn.q_proj.weight": rnd(H, H), p + "self_attn.k_proj.weight": rnd(H * kv // heads, H),
             p + "self_attn.v_proj.weight": rnd(H * kv // heads, H), p + "self_attn.o_proj.weight": rnd(H, H),
             p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H),
             p + "mlp.down_proj.weight": rnd(H, I), p + "input_layernorm.weight": torch.ones(H, dtype=torch.bfloat16),
             p + "post_attention_layernorm.weight": torch.ones(H, dtype=torch.bfloat16)}
        if l == 0:
            t["model.embed_tokens.weight"] = rnd(V, H)
        if l == layers - 1:
            t["model.norm.weight"] = torch.ones(H, dtype=torch.bfloat16)
            t["lm_head.weight"] = rnd(V, H)
        name = "model-%05d-of-%05d.safetensors" % (shard + 1, layers)
        save_file(t, os.path.join(d, name), metadata={"format": "pt"})
        wmap.update({k: name for k in t})
        shard += 1
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wmap}, f)


def files(d):
    return sorted(glob.glob(os.path.join(d, "*.safetensors")))


def copy(d):
    import torch
    n = sum(os.path.getsize(p) for p in files(d))
    host = torch.empty(n, dtype=torch.uint8).pin_memory()
    dev = torch.empty(n, dtype=torch.uint8, device="cuda")
    dev.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        dev.copy_(host, non_blocking=True)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    print("pinned copy %.1f MB in %.3f s: %.2f GB/s" % (n / 1e6, best, n / best / 1e9))


def st(d):
    import torch
    from safetensors.torch import load_file
    n = sum(os.path.getsize(p) for p in files(d))
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        keep = [load_file(p, device="cuda") for p in files(d)]
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
        del keep
        torch.cuda.empty_cache()
    print("safetensors.torch.load_file(device=cuda) %.1f MB in %.3f s: %.2f GB/s" % (n / 1e6, best, n / best / 1e9))


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "make":
        make(d, float(sys.argv[3]))
    elif cmd == "copy":
        copy(d)
    else:
        st(d)
