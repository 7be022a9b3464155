"""The ``allocart`` command line with the test-only cohort stand-in, each pool taking a set time.

``python -m tests.trial.slow_pools_cli run ...`` behaves as ``allocart run ...``, except that every
pool of virtual patients comes from :func:`tests.trial.fake_cohort.fake_simulate_cohort` after
``ALLOCART_TEST_POOL_SECONDS`` seconds (default 0) of sleep: interruption tests can then catch a
run between pools without the cost (and the timing noise) of the mechanistic model. With
``ALLOCART_TEST_STUBBORN=1`` the pool processes also ignore SIGTERM, as a process stuck in a
system call would, so that only SIGKILL ends them. With ``ALLOCART_TEST_FAIL_DOSE=4.5e8`` the pools
of that dose level fail (``DesignError``) after three times their time.

The substitution is made at import, outside the ``__main__`` guard, on purpose: each pool process
('spawn') imports this module again as its main module, and so simulates with the stand-in too.
"""

from __future__ import annotations

import os
import signal
import time

import allocart.population.cohort as _cohort
import allocart.trial.processes as _processes
from allocart.errors import DesignError
from tests.trial.fake_cohort import fake_simulate_cohort


def slow_simulate_cohort(*args, **kwargs):
    if os.environ.get("ALLOCART_TEST_STUBBORN") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fails = str(args[1]) == os.environ.get("ALLOCART_TEST_FAIL_DOSE")
    seconds = float(os.environ.get("ALLOCART_TEST_POOL_SECONDS", "0")) * (3 if fails else 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    if fails:
        raise DesignError(f"test: the pool of dose {args[1]} fails")
    return fake_simulate_cohort(*args, **kwargs)


_cohort.simulate_cohort = slow_simulate_cohort
if "ALLOCART_TEST_TERMINATE_GRACE_S" in os.environ:
    _processes.TERMINATE_GRACE_S = float(os.environ["ALLOCART_TEST_TERMINATE_GRACE_S"])

if __name__ == "__main__":
    from allocart.cli.app import main

    raise SystemExit(main())
