"""Log every full (generation 2) garbage collection over 20 ms to stderr, with its length.

Put this folder on a server's PYTHONPATH (`PYTHONPATH=src:bench/gcprobe python -m bench run ...`:
the bench passes PYTHONPATH to the servers it starts) and read the `GCPROBE` lines in
bench/results/logs/<run>/*-server0.log. It found the pauses behind issue 11's personal-latency
spikes (docs/benchmarks.md, "Personal latency at 10,000 sockets").
"""

import gc
import sys
import time

_started = [0.0]


def _on_collection(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    elif info.get("generation") == 2:
        took = time.perf_counter() - _started[0]
        if took > 0.02:
            sys.stderr.write(f"GCPROBE gen2 {took * 1000:.0f} ms collected={info.get('collected')} at {time.time():.3f}\n")
            sys.stderr.flush()


gc.callbacks.append(_on_collection)
