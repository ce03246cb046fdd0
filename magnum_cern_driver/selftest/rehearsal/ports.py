#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
"""Free loopback ports for the rehearsal's services.

Ports come from a range below the kernel's ephemeral range, so that an
outgoing connection made later by any process cannot take a port that a
rehearsal service is about to listen on.
"""

import random
import socket

HOST = '127.0.0.1'
DEFAULT_LOW = 20000
EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'


def ephemeral_low(path=EPHEMERAL_RANGE_FILE, default=32768):
    """Return the first port of the kernel's ephemeral range."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def candidates(rng, low, high, exclude=()):
    """Yield distinct ports in ``[low, high)`` in random order.

    ``rng`` is a :class:`random.Random`; ports in ``exclude`` are skipped.
    """
    if high <= low:
        raise ValueError('empty port range %d-%d' % (low, high))
    excluded = set(exclude)
    ports = [p for p in range(low, high) if p not in excluded]
    rng.shuffle(ports)
    yield from ports


def is_free(port, host=HOST):
    """True if ``port`` can be bound on ``host`` right now (TCP)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like the services themselves: connections in TIME_WAIT left by a
    # previous run do not make the port busy; a listener does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def pick(names, exclude=(), rng=None, low=DEFAULT_LOW, high=None,
         probe=is_free):
    """Return ``{name: port}`` with a distinct free port for each name."""
    rng = rng or random.Random()
    high = high or ephemeral_low()
    chosen = {}
    taken = set(exclude)
    it = candidates(rng, low, high, exclude=taken)
    for name in names:
        for port in it:
            if probe(port):
                chosen[name] = port
                break
        else:
            raise RuntimeError('no free port left in %d-%d' % (low, high))
    return chosen
