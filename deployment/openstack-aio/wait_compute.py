#!/usr/bin/python3
"""Waits until nova-compute serves RPC: a consumer on its queue
compute.<host>. Nova starts its RPC server only after init_host and after
the compute nodes and their placement providers exist, and a build cast
sent before the queue exists is dropped (the server stays in BUILD).

usage: wait_compute.py RABBIT_PORT HOST TIMEOUT_SECONDS
"""
import sys
import time

import kombu


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    url = 'amqp://guest:guest@127.0.0.1:%d//' % int(argv[1])
    queue = 'compute.' + argv[2]
    deadline = time.monotonic() + float(argv[3])
    while time.monotonic() < deadline:
        try:
            with kombu.Connection(url, connect_timeout=2) as conn:
                ok = conn.channel().queue_declare(queue, passive=True)
                if ok.consumer_count > 0:
                    return 0
        except Exception:  # Queue not declared yet, or broker restarting.
            pass
        time.sleep(0.2)
    sys.exit('no consumer on %s within %s s' % (queue, argv[3]))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
