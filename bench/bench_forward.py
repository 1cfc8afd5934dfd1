#!/usr/bin/env python3
"""make bench: the CPU forward of `ckptdoc check` against torch's on the same model, tokens and
threads, in the same run. The model is a 331M-parameter BF16 Llama that transformers writes
(4 shards) into WORKDIR the first time. Both run in fp32; torch's figure is its steady forward
(the median of 5 after one warm-up), ckptdoc's the layout's forward pass its JSON report times
(the median of 3 runs of `check --tp 1`). Skipped, saying so, when torch or transformers is not
installed. Then TP 2 x PP 2 under mpirun against the single process (mpi_ranks).
Usage: bench_forward.py CKPTDOC WORKDIR"""
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
    load_vs_cat(ckptdoc, d)
    mpi_ranks(ckptdoc, d)


def timed(cmd, env=None):
    """Wall seconds, peak RSS (bytes), exit status and standard output of cmd."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t, ru.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), out


def peak_mb(out):
    """The peak memory check --load-only reports (its VmHWM: a child's ru_maxrss would carry this
    Python's own peak over the exec)."""
    import re
    m = re.search(r"; peak ([0-9.]+) MB", out)
    return float(m.group(1)) if m else float("nan")


def load_vs_cat(ckptdoc, d):
    """check --load-only --tp 1 (the whole command) against cat of the same files, both from the
    page cache, medians of 5; and its peak memory against the bytes stored (goals: at least half
    of cat's speed, at most 1.1x the stored bytes)."""
    import glob
    files = sorted(glob.glob(os.path.join(d, "*.safetensors")))
    stored = sum(os.path.getsize(f) for f in files)
    subprocess.run(["cat"] + files, stdout=subprocess.DEVNULL, check=True)
    cats, loads = [], []
    for _ in range(5):
        cats.append(timed(["sh", "-c", 'cat "$@" >/dev/null', "cat"] + files))
        loads.append(timed([ckptdoc, "check", d, "--tp", "1", "--load-only"]))
    c_med, l_med = statistics.median(r[0] for r in cats), statistics.median(r[0] for r in loads)
    rss = statistics.median(peak_mb(r[3]) for r in loads) * 1e6
    print("load, the same model from the page cache (%.0f MB in %d files), medians of 5:" % (stored / 1e6, len(files)))
    print("  ckptdoc check --load-only --tp 1   %.3f s, peak memory %.0f MB (%.2fx the stored bytes, goal <= 1.1)"
          % (l_med, rss / 1e6, rss / stored))
    print("  cat FILES >/dev/null               %.3f s" % c_med)
    print("  speed against cat                  %.2f, goal >= 0.5" % (c_med / l_med))


def mpi_ranks(ckptdoc, d):
    """TP 2 x PP 2 as one process per rank under mpirun against the single process, on the same
    model: each rank's load time and peak memory (from check's JSON report) against the single
    process's load of all four ranks (check --load-only) and its peak memory; the whole check's
    wall time both ways (which includes the unsharded model rank 0 or the one process computes).
    Skipped, saying so, without mpirun."""
    import re
    import shutil
    mpirun = shutil.which("mpirun")
    if not mpirun:
        print("check under mpirun: skipped (no mpirun; make deps installs Open MPI)")
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    lay = ["--tp", "2", "--pp", "2"]
    single, multi, loads = [], [], []
    for _ in range(3):
        loads.append(timed([ckptdoc, "check", d, "--load-only"] + lay, env))
        single.append(timed([ckptdoc, "check", d, "--format", "json"] + lay, env))
        multi.append(timed([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "4", ckptdoc, "check", d,
                            "--format", "json"] + lay, env))
    if any(r[2] != 0 for r in single + multi):
        print("check under mpirun: skipped (exit %s)" % sorted({r[2] for r in single + multi}))
        return
    m = re.search(r"read in ([0-9.]+) s", loads[0][3])
    load_s = statistics.median(float(re.search(r"read in ([0-9.]+) s", r[3]).group(1)) for r in loads) if m else 0
    procs = [json.loads(r[3])["processes"] for r in multi]
    print("check --tp 2 --pp 2 of the same model, one process against one per rank (mpirun -np 4), medians of 3:")
    print("  one process   load of the 4 ranks %.2f s, peak memory %.0f MB (--load-only); whole check %.2f s, "
          "peak %.0f MB" % (load_s, statistics.median(peak_mb(r[3]) for r in loads),
                            statistics.median(r[0] for r in single),
                            statistics.median(json.loads(r[3])["peak_rss_bytes"] for r in single) / 1e6))
    for k in range(len(procs[0])):
        pr = [p[k] for p in procs]
        print("  rank %d (stage %d, TP rank %d)  load %.2f s, peak memory %.0f MB, read %.0f MB"
              % (k, pr[0]["stage"], pr[0]["tp_rank"], statistics.median(x["load"]["seconds"] for x in pr),
                 statistics.median(x["peak_rss_bytes"] for x in pr) / 1e6,
                 statistics.median(x["bytes_read"] for x in pr) / 1e6))
    print("  mpirun -np 4  whole check %.2f s (rank 0 also computes the unsharded model)"
          % statistics.median(r[0] for r in multi))


if __name__ == "__main__":
    main()
