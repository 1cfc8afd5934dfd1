#!/usr/bin/env python3
"""make bench: times `ckptdoc inspect` on the full-scale sparse DeepSeek-V3 layout against a
Python script that only reads the 163 headers with json.loads, in the same run; and
`ckptdoc inspect --verify` on a few GB of real (non-sparse) data against `cat FILES >/dev/null`.
Prints each figure and the ratios. Usage: bench_inspect.py CKPTDOC WORKDIR [--verify-gb N]"""
import glob
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_timed(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t, ru.ru_maxrss, os.waitstatus_to_exitcode(status)


def python_headers(files):
    n = 0
    for p in files:
        with open(p, "rb") as f:
            l = struct.unpack("<Q", f.read(8))[0]
            n += len(json.loads(f.read(l)))
    return n


def tui_first_screen(ckptdoc, dsv3):
    """`ckptdoc tui` from start to its first screen, in a 120x40 tmux pane (the program reports
    the time itself with --first-screen, then exits)."""
    if subprocess.call(["sh", "-c", "command -v tmux"], stdout=subprocess.DEVNULL) != 0:
        print("  ckptdoc tui first screen   skipped: tmux is not installed")
        return
    out = os.path.join(os.path.dirname(os.path.abspath(dsv3)), "tui-first-screen.txt")
    ms = []
    sock = "ckptdoc-bench-%d" % os.getpid()
    for _ in range(7):
        if os.path.exists(out):
            os.unlink(out)
        subprocess.check_call(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "40",
                               "%s tui --first-screen --tp 8 --pp 2 %s 2> %s"
                               % (os.path.abspath(ckptdoc), dsv3, out)])
        for _ in range(100):
            if os.path.exists(out) and os.path.getsize(out):
                break
            time.sleep(0.05)
        with open(out) as f:
            text = f.read()
        if "first screen after" in text:
            ms.append(float(text.split("first screen after")[1].split("ms")[0]))
    subprocess.call(["tmux", "-L", sock, "kill-server"], stderr=subprocess.DEVNULL)
    if ms:
        print("  ckptdoc tui --tp 8 --pp 2, start to first screen  median %.1f ms  (goal < 200 ms)"
              % statistics.median(ms))


def awq_72b(ckptdoc, work):
    """lint --tp 8 of the full-scale Qwen2.5-72B AWQ layout against the Python header reader."""
    awq = os.path.join(work, "awq72b-sparse")
    if not os.path.exists(os.path.join(awq, "config.json")):
        subprocess.check_call([sys.executable, os.path.join(ROOT, "fixtures", "make_sparse_awq72b.py"), awq])
    files = sorted(glob.glob(os.path.join(awq, "*.safetensors")))
    python_headers(files)
    py, lint, empty, ver = [], [], [], []
    for _ in range(21):
        t = time.perf_counter()
        python_headers(files)
        py.append(time.perf_counter() - t)
        lint.append(run_timed([ckptdoc, "lint", "--tp", "8", awq]))
        # the floor a command cannot go under: a process that does nothing, and ckptdoc doing nothing
        empty.append(run_timed(["/bin/true"])[0])
        ver.append(run_timed([ckptdoc, "--version"])[0])
    # the same reader as a command of its own, as a user runs it: the interpreter's start counted,
    # as ckptdoc's process start is
    reader = [sys.executable, "-c", "import sys, json, struct\n"
              "for p in sys.argv[1:]:\n"
              "    with open(p, 'rb') as f:\n"
              "        json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))\n"] + files
    proc = [run_timed(reader)[0] for _ in range(11)]
    p_med, l_med = statistics.median(py), statistics.median(r[0] for r in lint)
    print("lint, full-scale Qwen2.5-72B AWQ layout (%d files, 2,083 tensors, 80 layers):" % len(files))
    print("  ckptdoc lint --tp 8      median %.1f ms  peak RSS %.1f MB  exit %d" % (
        l_med * 1e3, max(r[1] for r in lint) / 1024, lint[0][2]))
    print("  python json.loads x%d     median %.1f ms (in a running interpreter)" % (len(files), p_med * 1e3))
    print("  ratio ckptdoc/python     %.2f (median), goal < 0.33" % (l_med / p_med))
    print("  the reader as a command  median %.1f ms (interpreter start included); ratio %.2f" % (
        statistics.median(proc) * 1e3, l_med / statistics.median(proc)))
    e_med, v_med = statistics.median(empty), statistics.median(ver)
    print("  /bin/true as a command   median %.2f ms: %.2f of the in-interpreter reader; ckptdoc --version "
          "%.2f ms (%.2f)" % (e_med * 1e3, e_med / p_med, v_med * 1e3, v_med / p_med))


HUB_SERVER = r"""
import http.server, os, re, sys
root, GZIP = sys.argv[1], sys.argv[2] == "gzip"
sent = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/sent":  # bytes served so far, for the bench
            body = str(sent[0]).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        m = re.match(r"^/bench/dsv3/resolve/main/(.+)$", self.path)
        path = os.path.join(root, m.group(1)) if m else None
        if not path or not os.path.isfile(path):
            self.wfile.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        size = os.path.getsize(path)
        rg = re.match(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        a, b = (int(rg.group(1)), min(int(rg.group(2)), size - 1)) if rg else (0, size - 1)
        with open(path, "rb") as f:
            f.seek(a)
            body = f.read(b - a + 1)
        gz = GZIP and not rg and path.endswith(".json") and "gzip" in self.headers.get("Accept-Encoding", "")
        if gz:  # as nginx or a CDN compresses text when the client accepts it
            import gzip
            body = gzip.compress(body, 6)
        head = "HTTP/1.1 %s\r\nContent-Length: %d\r\n" % ("206 Partial Content" if rg else "200 OK", len(body))
        if gz:
            head += "Content-Encoding: gzip\r\n"
        if rg:
            head += "Content-Range: bytes %d-%d/%d\r\n" % (a, b, size)
        self.wfile.write(head.encode() + b"\r\n" + body)  # one write, as servers answer
        sent[0] += len(body)


http.server.ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops parallel connects
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def hub_dsv3(ckptdoc, dsv3, work):
    """lint ORG/NAME --tp 8 --pp 2 of the full-scale DeepSeek-V3 layout served by a local server
    (its own process) with the Hub's URL layout and range support, JSON sent as it is and then
    compressed: wall time and bytes served, against lint of the folder (goal: < 15 MB fetched,
    < 3x the local lint on loopback)."""
    print("lint from a Hub-layout server on loopback, full-scale DeepSeek-V3 (163 shards), --tp 8 --pp 2:")
    hubd = os.path.join(os.path.dirname(os.path.abspath(ckptdoc)), "bench_hubd")
    for mode in ("plain", "gzip") + (("c",) if os.access(hubd, os.X_OK) else ()):
        hub_dsv3_run(ckptdoc, dsv3, work, mode, hubd)


def hub_dsv3_run(ckptdoc, dsv3, work, mode, hubd):
    """One server: Python's http.server sending the JSON as it is or compressed (it counts the
    bytes it sends), or the tests' C server (build/bench_hubd: the JSON as it is, no count), which
    is not the bottleneck the single-threaded Python one is."""
    import urllib.request
    if mode == "c":
        srv = subprocess.Popen([hubd, dsv3], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    else:
        srv = subprocess.Popen([sys.executable, "-c", HUB_SERVER, dsv3, mode], stdout=subprocess.PIPE, text=True)
    port = int(srv.stdout.readline())
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:%d" % port, HF_TOKEN="")

    def served():
        if mode == "c":
            return 0
        return int(urllib.request.urlopen("http://127.0.0.1:%d/sent" % port).read())
    walls, sent, rcs = [], [], set()
    for k in range(5):
        env["CKPTDOC_CACHE"] = os.path.join(work, "hub-cache-%d" % k)
        shutil.rmtree(env["CKPTDOC_CACHE"], ignore_errors=True)
        before = served()
        t = time.perf_counter()
        rc = subprocess.run([ckptdoc, "lint", "--tp", "8", "--pp", "2", "bench/dsv3"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        rcs.add(rc)
        walls.append(time.perf_counter() - t)
        sent.append(served() - before)
    t = time.perf_counter()
    subprocess.run([ckptdoc, "lint", "--tp", "8", "--pp", "2", "bench/dsv3"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    cached = time.perf_counter() - t
    local = [run_timed([ckptdoc, "lint", "--tp", "8", "--pp", "2", dsv3])[0] for _ in range(5)]
    if mode == "c":
        srv.stdin.close()
        requests = int(srv.stdout.readline() or 0)
    else:
        srv.terminate()
    srv.wait()
    w, loc = statistics.median(walls), statistics.median(local)
    if mode == "c":
        print("  C server, JSON as it is: lint bench/dsv3  median %.0f ms  exit %s  (%d requests answered in %d runs)"
              % (w * 1e3, "/".join(map(str, sorted(rcs))), requests, len(walls) + 1))
    else:
        print("  JSON %-5s lint bench/dsv3  median %.0f ms  exit %s  served %.2f MB (goal < 15 MB; the index is %.1f MB "
              "uncompressed)" % (mode, w * 1e3, "/".join(map(str, sorted(rcs))), statistics.median(sent) / 1e6,
                                 os.path.getsize(os.path.join(dsv3, "model.safetensors.index.json")) / 1e6))
    print("  the same folder, local   median %.0f ms; ratio %.2f (goal < 3); again from the cache %.0f ms"
          % (loc * 1e3, w / loc, cached * 1e3))


def main():
    ckptdoc, work = sys.argv[1], sys.argv[2]
    gb = float(sys.argv[sys.argv.index("--verify-gb") + 1]) if "--verify-gb" in sys.argv else 4.0
    dsv3 = os.path.join(work, "dsv3-sparse")
    if not os.path.exists(os.path.join(dsv3, "config.json")):
        subprocess.check_call([sys.executable, os.path.join(ROOT, "fixtures", "make_sparse_dsv3.py"), dsv3])
    files = sorted(glob.glob(os.path.join(dsv3, "*.safetensors")))
    python_headers(files)  # warm the page cache
    # from the index alone: config.json and the index, every shard absent (exit 1: they are missing)
    only = os.path.join(work, "dsv3-index-only")
    if not os.path.exists(os.path.join(only, "model.safetensors.index.json")):
        os.makedirs(only, exist_ok=True)
        for name in ("config.json", "model.safetensors.index.json"):
            shutil.copy(os.path.join(dsv3, name), only)
    # rounds of the Python reader and each ckptdoc command one after the other, so that every
    # ratio compares runs made under the same load of the machine
    py, runs, lint, lio = [], [], [], []
    for _ in range(21):
        t = time.perf_counter()
        python_headers(files)
        py.append(time.perf_counter() - t)
        runs.append(run_timed([ckptdoc, "inspect", dsv3]))
        lint.append(run_timed([ckptdoc, "lint", "--tp", "8", "--pp", "2", dsv3]))
        lio.append(run_timed([ckptdoc, "lint", "--tp", "8", "--pp", "2", only]))
    rc = runs[0][2]
    c_min = min(r[0] for r in runs)
    c_med = statistics.median(r[0] for r in runs)
    rss = max(r[1] for r in runs) / 1024
    p_min, p_med = min(py), statistics.median(py)
    print("inspect, full-scale DeepSeek-V3 sparse layout (%d files, 91,991 tensors):" % len(files))
    print("  ckptdoc inspect          min %.1f ms  median %.1f ms  peak RSS %.1f MB  exit %d"
          % (c_min * 1e3, c_med * 1e3, rss, rc))
    print("  python json.loads x163   min %.1f ms  median %.1f ms" % (p_min * 1e3, p_med * 1e3))
    print("  ratio ckptdoc/python     %.2f (median), goal <= 0.33; peak RSS goal < 150 MB"
          % (c_med / p_med))
    l_med = statistics.median(r[0] for r in lint)
    print("  ckptdoc lint --tp 8 --pp 2 (16 ranks)  median %.1f ms  peak RSS %.1f MB  exit %d  ratio %.2f"
          % (l_med * 1e3, max(r[1] for r in lint) / 1024, lint[0][2], l_med / p_med))
    lio_med = statistics.median(r[0] for r in lio)
    print("  ckptdoc lint --tp 8 --pp 2, index alone     median %.1f ms  peak RSS %.1f MB  exit %d  ratio %.2f"
          % (lio_med * 1e3, max(r[1] for r in lio) / 1024, lio[0][2], lio_med / p_med))
    awq_72b(ckptdoc, work)
    hub_dsv3(ckptdoc, dsv3, work)
    tui_first_screen(ckptdoc, dsv3)
    # --verify throughput on real data, from the page cache
    vdir = os.path.join(work, "verify-%dgb-256mb" % int(gb))
    if not os.path.exists(os.path.join(vdir, "done")):
        os.makedirs(vdir, exist_ok=True)
        per = 256 << 20  # checkpoints come in many shards: enough files for every thread
        n = max(1, int(gb * 1e9 // per))
        for k in range(n):
            with open(os.path.join(vdir, "model-%05d-of-%05d.safetensors" % (k + 1, n)), "wb") as f:
                cnt = per // 2
                hdr = json.dumps({"__metadata__": {"format": "pt"},
                                  "w": {"dtype": "BF16", "shape": [cnt], "data_offsets": [0, per]}}).encode()
                hdr += b" " * (-len(hdr) % 8)
                f.write(struct.pack("<Q", len(hdr)) + hdr)
                chunk = os.urandom(64 << 20)
                for _ in range(per // len(chunk)):
                    f.write(chunk)
        open(os.path.join(vdir, "done"), "w").close()
    vfiles = sorted(glob.glob(os.path.join(vdir, "*.safetensors")))
    total = sum(os.path.getsize(p) for p in vfiles)
    subprocess.run(["cat"] + vfiles, stdout=subprocess.DEVNULL)  # into the page cache
    cat_t = min(run_timed(["cat"] + vfiles)[0] for _ in range(3))
    # cat may hand the copy to the kernel (copy_file_range/splice into /dev/null) and not read
    # at all; dd reads every byte into user space, like ckptdoc does
    dd_t = min(sum(run_timed(["dd", "if=" + p, "of=/dev/null", "bs=8M", "status=none"])[0]
                   for p in vfiles) for _ in range(3))
    ver = [run_timed([ckptdoc, "inspect", "--verify", vdir]) for _ in range(3)]
    v_t = min(r[0] for r in ver)
    print("verify, %.2f GB of BF16 data in %d files, from the page cache:" % (total / 1e9, len(vfiles)))
    print("  cat FILES >/dev/null     %.2f s  %.2f GB/s" % (cat_t, total / cat_t / 1e9))
    print("  dd bs=8M, one file after another  %.2f s  %.2f GB/s" % (dd_t, total / dd_t / 1e9))
    print("  ckptdoc inspect --verify %.2f s  %.2f GB/s  (sha256 + statistics)" % (v_t, total / v_t / 1e9))
    print("  throughput ratio         %.2f of cat, %.2f of dd; goal >= 0.70 of cat" % (cat_t / v_t, dd_t / v_t))
    if "--device-cuda" in sys.argv:
        vc = min(run_timed([ckptdoc, "inspect", "--verify", "--device", "cuda", vdir])[0] for _ in range(3))
        print("  ckptdoc --verify --device cuda  %.2f s  %.2f GB/s  ratio %.2f of cat" % (vc, total / vc / 1e9, cat_t / vc))


if __name__ == "__main__":
    main()
