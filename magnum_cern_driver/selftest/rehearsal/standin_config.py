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
"""Behaviour of the stand-in resources: boot delays and failures (pure).

The file (JSON, in the state directory) is read by heat-engine on every
resource create, so it can change while the rehearsal runs::

    {
      "default": {"boot_delay": 0, "failure_rate": 0},
      "types": {
        "OS::Nova::Server": {
          "boot_delay": {"dist": "uniform", "min": 20, "max": 40},
          "failure_rate": 0.01,
          "fail_names": ["-failme-"]
        }
      },
      "fail_names": []
    }

``boot_delay`` is seconds: a number (fixed) or a distribution: ``fixed``
(``value``), ``uniform`` (``min``, ``max``), ``normal`` (``mean``,
``stddev``), ``lognormal`` (``mu``, ``sigma``), ``exponential``
(``mean``); samples are clipped to ``[0, max]`` when ``max`` is given and
never negative. ``failure_rate`` is the probability that a create ends in
ERROR. ``fail_names`` (top level: every type; in a type entry: that type)
are regular expressions: a resource whose name, physical name or ``name``
property matches one always fails. Heat retries a failed create
(``action_retry_limit``, 5 by default) before the stack fails.

``quotas`` (optional) sets limits the stand-in Nova and Neutron APIs
report, by their API names (``instances``, ``cores``, ``ram``, ``port``,
...; -1 is unlimited); the others stay at a limit nothing reaches. The
stand-in cloud API reads the file on every request too, so the
self-test's quota preflight can be rehearsed against a small project.
"""

import fcntl
import ipaddress
import json
import os
import random
import re
import uuid

DISTRIBUTIONS = {
    'fixed': ('value',),
    'uniform': ('min', 'max'),
    'normal': ('mean', 'stddev'),
    'lognormal': ('mu', 'sigma'),
    'exponential': ('mean',),
}

ENV_CONFIG = 'MAGNUM_CERN_REHEARSAL_STANDINS'
FIXED_BASE = ipaddress.IPv4Address('10.0.0.10')
FLOATING_BASE = ipaddress.IPv4Address('172.24.0.10')

_cache = {}


def read(path):
    """The parsed file, cached on (mtime, size); None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    with open(path) as f:
        config = json.load(f)
    _cache[path] = (key, config)
    return config


def _check_delay(delay, where):
    if isinstance(delay, (int, float)) and not isinstance(delay, bool):
        if delay < 0:
            raise ValueError('%s: boot_delay must be >= 0' % where)
        return
    if not isinstance(delay, dict) or delay.get('dist') not in DISTRIBUTIONS:
        raise ValueError('%s: boot_delay must be a number or a dict with '
                         'dist in %s' % (where, sorted(DISTRIBUTIONS)))
    for key in DISTRIBUTIONS[delay['dist']]:
        if not isinstance(delay.get(key), (int, float)):
            raise ValueError('%s: boot_delay %s needs a number for %r'
                             % (where, delay['dist'], key))


def validate(config):
    if not isinstance(config, dict):
        raise ValueError('stand-in config must be a JSON object')
    entries = [('default', config.get('default') or {})]
    entries += [(name, entry) for name, entry in
                (config.get('types') or {}).items()]
    for where, entry in entries:
        if 'boot_delay' in entry:
            _check_delay(entry['boot_delay'], where)
        rate = entry.get('failure_rate', 0)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError('%s: failure_rate must be in [0, 1]' % where)
    for pattern in config.get('fail_names') or ():
        re.compile(pattern)
    quotas = config.get('quotas') or {}
    if not isinstance(quotas, dict):
        raise ValueError('quotas must be an object of name: limit')
    for name, limit in quotas.items():
        if (not isinstance(limit, int) or isinstance(limit, bool)
                or limit < -1):
            raise ValueError('quota %s must be an integer >= -1' % name)
    for where, entry in entries:
        for pattern in entry.get('fail_names') or ():
            re.compile(pattern)
    return config


def quota_limits(path=None):
    """``{name: limit}`` set in the file (default: ``$ENV_CONFIG``'s)."""
    path = path or os.environ.get(ENV_CONFIG)
    config = read(path) if path else None
    return dict((config or {}).get('quotas') or {})


def entry_for(config, resource_type):
    merged = dict((config or {}).get('default') or {})
    merged.update(((config or {}).get('types') or {}).get(resource_type)
                  or {})
    return merged


def sample_delay(delay, rng=random):
    """Seconds to wait, drawn from ``delay`` (a number or a dict)."""
    if delay is None:
        return 0.0
    if isinstance(delay, (int, float)):
        return max(0.0, float(delay))
    dist = delay['dist']
    if dist == 'fixed':
        value = delay['value']
    elif dist == 'uniform':
        value = rng.uniform(delay['min'], delay['max'])
    elif dist == 'normal':
        value = rng.gauss(delay['mean'], delay['stddev'])
    elif dist == 'lognormal':
        value = rng.lognormvariate(delay['mu'], delay['sigma'])
    elif dist == 'exponential':
        value = rng.expovariate(1.0 / delay['mean']) if delay['mean'] else 0
    else:
        raise ValueError('unknown distribution %r' % dist)
    if 'max' in delay and dist != 'uniform':
        value = min(value, delay['max'])
    return max(0.0, float(value))


def decide(config, resource_type, names=(), rng=random):
    """Return ``(delay_seconds, failure_reason_or_None)`` for one create."""
    entry = entry_for(config, resource_type)
    delay = sample_delay(entry.get('boot_delay'), rng)
    patterns = list((config or {}).get('fail_names') or ())
    patterns += list(entry.get('fail_names') or ())
    for pattern in patterns:
        for name in names:
            if name and re.search(pattern, name):
                return delay, ('rehearsal stand-in: injected failure '
                               '(name %s matches %r)' % (name, pattern))
    rate = entry.get('failure_rate') or 0
    if rate and rng.random() < rate:
        return delay, ('rehearsal stand-in: injected failure '
                       '(failure_rate %g for %s)' % (rate, resource_type))
    return delay, None


# Identities and addresses -------------------------------------------------
# A stand-in's resource id is a UUID whose last 12 hex digits carry an
# index from a counter shared by all heat-engine processes (a locked file
# next to the config); its addresses derive from that index, so they are
# unique, stable and need no extra database row.

def allocate(pool_name, path=None):
    """Next integer of a named counter shared by all engine processes."""
    path = path or os.environ.get(ENV_CONFIG)
    directory = os.path.dirname(path) if path else '/tmp'
    counter = os.path.join(directory, 'ipam-%s' % pool_name)
    fd = os.open(counter, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 32).strip()
        value = int(raw) if raw else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, b'%d' % (value + 1))
        return value
    finally:
        os.close(fd)


def new_id(index):
    """A UUID whose last 12 hex digits carry the allocation index."""
    return '%s-%012x' % (str(uuid.uuid4())[:23], index)


def index_of(resource_id):
    try:
        return int(resource_id[-12:], 16)
    except (TypeError, ValueError):
        return 0


def fixed_ip(resource_id):
    return str(FIXED_BASE + index_of(resource_id))


def floating_ip(resource_id):
    return str(FLOATING_BASE + index_of(resource_id))


def mac(resource_id):
    n = index_of(resource_id)
    return 'fa:16:3e:%02x:%02x:%02x' % ((n >> 16) & 255, (n >> 8) & 255,
                                        n & 255)
