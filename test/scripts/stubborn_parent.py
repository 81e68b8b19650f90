"""Test helper: ignores SIGINT and spawns a child that ignores it too, then waits forever.

Writes "<own pid> <child pid>" to the file named by argv[1], so a test can prove that teardown
killed both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

IGNORE_SIGINT_AND_WAIT = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
)

signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_AND_WAIT])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}\n")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])  # readers never see half a line
time.sleep(600)
