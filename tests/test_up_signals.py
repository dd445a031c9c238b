"""`up` stops on SIGTERM whenever it comes. Its stop flag was a ``threading.Event`` set from
the signal handler, which runs in the main thread: a signal arriving while ``Event.wait``
held the Event's lock blocked ``up`` forever (seen in CI: `up` alive minutes after SIGTERM,
stuck in ``Event.set``). Here a stream of signals hits the flag while the main thread waits on
it in a loop, in a process of its own: it must end, and say so."""

import subprocess
import sys

from tests.helpers import ROOT

FLOOD = """
import os, signal, sys, threading, time
from offload_console.supervisor import Stopping

stop = Stopping()
signal.signal(signal.SIGUSR1, lambda signum, frame: stop.set())
pid, going = os.getpid(), [True]

def flood():
    while going[0]:
        os.kill(pid, signal.SIGUSR1)
        time.sleep(0.0002)

threading.Thread(target=flood, daemon=True).start()
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    stop.wait(0)
    stop.wait(0.001)
going[0] = False
print("ended", stop.is_set())
"""


def test_a_stop_flag_set_by_a_flood_of_signals_never_blocks_its_waiter():
    done = subprocess.run(
        [sys.executable, "-c", FLOOD], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ended True"
