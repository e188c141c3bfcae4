"""The operator as users run it, on the local nodes: the e2e suite (tests/e2e) run once with its
figures kept, written to docs/benchmarks/node.md: build times, helm install to a Ready pod, rollout
from `stashsync put -a` to the new pod, takeover with two replicas, and the 10,000-object run's time
and memory in the pod at the chart's default limit.

Needs root on Linux, as `make e2e` does. The node binaries are built first and timed (a warm cache
makes that a no-op); the image build is timed by the suite itself (cached: sources unchanged, no build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.local_stack import ROOT, stamp
from bench.report import write_report


def main() -> None:
    started = time.monotonic()
    subprocess.run([str(ROOT / "hack" / "build-controlplane.sh"), "--node"], check=True, stdout=subprocess.DEVNULL)
    binaries = time.monotonic() - started
    figures_file = Path(tempfile.mkdtemp(prefix="bench-node-")) / "figures.json"
    subprocess.run([sys.executable, "-m", "pytest", "-q", str(ROOT / "tests" / "e2e")], check=True, cwd=ROOT,
                   env={**os.environ, "STASHSYNC_E2E_FIGURES": str(figures_file)})
    figures = json.loads(figures_file.read_text())
    lines = ["# The operator on real nodes (make e2e)", "", stamp(), "",
             "Two local nodes (kubelet + containerd + runc, hostNetwork pods on 127.0.0.1 and 127.0.0.2), "
             "the chart installed with Helm, the image built here (tests/harness/cluster.py).", "",
             "| figure | value |", "|---|---|",
             f"| node binaries (kubelet, controller manager, scheduler, kubectl) at hand | {binaries:.0f} s |"]
    lines += [f"| {name} | {value} |" for name, value in figures.items()]
    write_report("node", lines)


if __name__ == "__main__":
    main()
