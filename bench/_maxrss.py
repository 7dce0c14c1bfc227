"""Run a command and record its peak RSS as the kernel counts it (ru_maxrss of the largest
waited-for descendant), which 0.1 s sampling can miss: python bench/_maxrss.py OUT.json CMD..."""
import json
import resource
import subprocess
import sys

rc = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as fh:
    json.dump({"returncode": rc, "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}, fh)
sys.exit(rc)
