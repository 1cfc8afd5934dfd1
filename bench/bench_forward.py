#!/usr/bin/env python3
"""make bench: the CPU forward of `ckptdoc check` against torch's on the same model, tokens and
threads, in the same run. The model is a 331M-parameter BF16 Llama that transformers writes
(4 shards) into WORKDIR the first time. Both run in fp32; torch's figure is its steady forward
(the median of 5 after one warm-up), ckptdoc's the layout's forward pass its JSON report times
(the median of 3 runs of `check --tp 1`). Skipped, saying so, when torch or transformers is not
installed. Usage: bench_forward.py CKPTDOC WORKDIR"""
import json
import os
import statistics
import subprocess
import sys
import time


def write_model(d):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=1024, intermediate_size=2560, num_hidden_layers=22, num_attention_heads=16,
                      num_key_value_heads=8, vocab_size=32000, max_position_embeddings=2048,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    m.save_pretrained(d, max_shard_size="200MB")


def main():
    ckptdoc, work = sys.argv[1], sys.argv[2]
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        print("forward vs torch: skipped (%s; pip install torch transformers)" % e)
        return
    d = os.path.join(work, "llama-331m-bf16")
    if not os.path.exists(os.path.join(d, "config.json")):
        write_model(d)
    threads = os.cpu_count()
    runs = []
    for _ in range(3):
        out = subprocess.run([ckptdoc, "check", d, "--tp", "1", "--format", "json"], capture_output=True,
                             text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS=str(threads)))
        rep = json.loads(out.stdout)
        runs.append(rep)
    c_med = statistics.median(r["forward"]["layout"]["seconds"] for r in runs)
    tokens = runs[0]["tokens"]
    from transformers import LlamaForCausalLM
    torch.set_num_threads(threads)
    m = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    ids = torch.tensor([tokens])
    ts = []
    with torch.no_grad():
        m(ids)
        for _ in range(5):
            t = time.perf_counter()
            m(ids)
            ts.append(time.perf_counter() - t)
    t_med = statistics.median(ts)
    print("forward, 331M-parameter Llama (BF16 stored, fp32 compute), %d tokens, %d threads:" % (len(tokens), threads))
    print("  ckptdoc check --tp 1     median %.3f s  (products: %s)" % (c_med, runs[0]["forward"]["cpu_products"]))
    print("  torch %s           median %.3f s" % (torch.__version__.split("+")[0], t_med))
    print("  ratio ckptdoc/torch      %.2f, goal <= 1" % (c_med / t_med))


if __name__ == "__main__":
    main()
