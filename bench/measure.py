"""Runs a command as a child process and reports its wall time and peak resident memory (the
kernel's ru_maxrss of the waited-for child, in KiB) as one JSON line; the child's standard output
goes to OUT_FILE. Usage: python3 bench/measure.py OUT_FILE -- CMD ARGS…"""
import json
import resource
import subprocess
import sys
import time

out_file = sys.argv[1]
assert sys.argv[2] == "--"
cmd = sys.argv[3:]
with open(out_file, "wb") as out:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wallS": wall, "maxRssKiB": usage.ru_maxrss, "exitCode": proc.returncode, "cpuS": usage.ru_utime + usage.ru_stime, "stderr": proc.stderr.decode("utf8", "replace")[-2000:]}))
