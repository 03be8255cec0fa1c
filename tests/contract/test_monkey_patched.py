"""Under eventlet.monkey_patch(), threading.Thread is a greenthread: code
written with threads shares a Pool just as greenthreads do."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import eventlet
    eventlet.monkey_patch()
    import threading

    import eventlet_pools

    pool = eventlet_pools.Pool(max_size=1, create=object)
    held = pool.get()
    served = []

    def worker(index):
        with pool.item():
            served.append(index)
            eventlet.sleep(0)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    eventlet.sleep(0)
    waiting = pool.waiting()
    pool.put(held)
    for thread in threads:
        thread.join()
    print(waiting, served == list(range(50)), pool.free(), pool.waiting())
    """
)


def test_monkey_patched_threads_share_a_pool_in_fifo_order() -> None:
    ran = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["50", "True", "1", "0"]
