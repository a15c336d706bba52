"""``python -m emulator.jobs HOME WORKSPACE JOB LOCK_FD``: the runner process of one job.

``LOCK_FD`` is the job's runner lock, inherited from the process that launched the job; it
stays open (held) until this process exits, and is not passed on to Dask's processes.
"""

import os
import sys

from emulator.jobs.launch import run_runner_process

if __name__ == "__main__":
    home, workspace, job, lock_fd = sys.argv[1:5]
    os.set_inheritable(int(lock_fd), False)
    sys.exit(run_runner_process(home, workspace, job))
