"""Server memory under large uploads: 4 parallel near-100-MP PNGs through ``/v1/check``.

Starts ``captureguard serve`` (shipped models) in a subprocess, uploads four 99 MP PNGs (a few
hundred KB each: flat colour with a pattern, the decompression-bomb shape) at once, and samples
the server's resident memory (``/proc/PID/status``) before, during and after. An upload refused
with 503 (the pixel budget) is retried after its ``Retry-After``, so all four are checked.

    .venv/bin/python bench/memory.py [--rounds 2]

Prints a table: RSS before, peak and after each round, the answers, and the wall time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 10_000, 9_900  # 99 MP: just under the 100 MP default cap


def big_png() -> bytes:
    """A 99 MP RGB PNG that compresses to a few hundred KB."""
    tile = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    tile[:, :, 1] = 120
    tile[::64, :, 0] = 255  # a grid, so the encoder has something to do
    tile[:, ::64, 2] = 255
    out = io.BytesIO()
    Image.fromarray(tile).save(out, "PNG", compress_level=9)
    return out.getvalue()


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text)[1]) / 1024  # type: ignore[index]


def post(url: str, data: bytes) -> tuple[int, int]:
    """POST until answered with something other than 503; (final status, 503s seen)."""
    busy = 0
    while True:
        req = urllib.request.Request(url, data=data, headers={"content-type": "image/png"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=300) as answer:
                json.loads(answer.read())
                return answer.status, busy
        except urllib.error.HTTPError as err:
            if err.code != 503:
                return err.code, busy
            busy += 1
            time.sleep(float(err.headers.get("retry-after", "1")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = big_png()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "captureguard", "serve", "--port", "0", "--data", tmp, "--threads", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        url = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := re.search(r"serving on (\S+/)", line):
                url = m[1]
                break
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        rows = []
        try:
            for r in range(1, args.rounds + 1):
                before = rss_mb(proc.pid)
                peak, done = before, threading.Event()

                def sample(done: threading.Event = done) -> None:
                    nonlocal peak
                    while not done.is_set():
                        peak = max(peak, rss_mb(proc.pid))
                        time.sleep(0.05)

                sampler = threading.Thread(target=sample)
                sampler.start()
                t0 = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    answers = list(pool.map(lambda _: post(url + "v1/check", data), range(4)))
                wall = time.perf_counter() - t0
                time.sleep(1.0)
                done.set()
                sampler.join()
                after = rss_mb(proc.pid)
                statuses = ",".join(str(s) for s, _ in answers)
                rows.append((r, before, peak, after, statuses, sum(b for _, b in answers), wall))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"4 parallel uploads of a {WIDTH}x{HEIGHT} PNG ({len(data) / 1024:.0f} KB, {WIDTH * HEIGHT / 1e6:.0f} MP)")
    print("| round | RSS before (MB) | RSS peak (MB) | RSS after (MB) | answers | 503 retries | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for r, before, peak, after, statuses, busy, wall in rows:
        print(f"| {r} | {before:.0f} | {peak:.0f} | {after:.0f} | {statuses} | {busy} | {wall:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
