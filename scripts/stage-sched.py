#!/usr/bin/env python3
"""stage-sched.py LOG MARKER: waits for the bench's server pid in LOG; from the
line holding MARKER until LOG grows past it, reads every server thread's
/proc schedstat (ns on a CPU, ns waiting on a run queue) at both ends and
prints, per thread name (tokio's threads together), seconds on CPU and
seconds runnable but waiting for a CPU, over the stage's wall seconds.

    rollcall bench --repeat 10 --loaded > LOG &
    scripts/stage-sched.py LOG "timing the reports again"
"""
import collections, os, re, sys, time
log, marker = sys.argv[1], sys.argv[2]
pid = None
while pid is None:
    m = re.search(r"server pid (\d+)", open(log).read())
    pid = int(m.group(1)) if m else None
    time.sleep(0.05)
def snap():
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            run, wait, _ = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        out[tid] = (comm, int(run), int(wait))
    return out
start = t0 = None
while True:
    lines = open(log).read().splitlines()
    at = next((i for i, l in enumerate(lines) if marker in l), None)
    if at is not None and start is None:
        start, t0 = snap(), time.time()
    if at is not None and len(lines) > at + 1:
        break
    time.sleep(0.05)
end, t1 = snap(), time.time()
agg = collections.defaultdict(lambda: [0, 0, 0])
for tid, (comm, run, wait) in end.items():
    c0, r0, w0 = start.get(tid, (comm, 0, 0))
    key = "tokio-rt-worker" if comm.startswith("tokio") else comm
    a = agg[key]; a[0] += run - r0; a[1] += wait - w0; a[2] += 1
print(f"stage wall {t1 - t0:.1f} s")
for k, (run, wait, n) in sorted(agg.items(), key=lambda x: -x[1][0]):
    print(f"{k:22} threads {n:3}  on CPU {run/1e9:7.2f} s  waiting for a CPU {wait/1e9:7.2f} s")
