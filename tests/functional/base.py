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
"""Shared helpers of the functional tests (the local rehearsal).

The end-to-end tests share one rehearsal, brought up once (under a file
lock, so parallel test workers do not race) and left running for the next
run; ``magnum-cern-selftest rehearsal down --state-dir DIR`` stops it. Its
directory is ``$MAGNUM_CERN_FUNCTIONAL_DIR`` or
``/tmp/magnum-cern-functional-<uid>/rehearsal``.
"""

import fcntl
import importlib.util
import os
import time

import testtools

from magnum_cern_driver.selftest import rehearsal

ENV_DIR = 'MAGNUM_CERN_FUNCTIONAL_DIR'


def functional_dir():
    return os.environ.get(ENV_DIR) or '/tmp/magnum-cern-functional-%d' % (
        os.getuid())


def shared_rehearsal():
    """The shared rehearsal, up (idempotent, serialised by a lock)."""
    base = functional_dir()
    os.makedirs(base, mode=0o700, exist_ok=True)
    with open(os.path.join(base, 'up.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return rehearsal.ensure_up(os.path.join(base, 'rehearsal'),
                                       out=None)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def driver_missing():
    """A reason to skip the end-to-end tests, or None."""
    if importlib.util.find_spec('magnum_cern_driver.driver') is None:
        return 'magnum_cern_driver.driver is not there yet'
    return None


def wait_for(check, timeout, interval=2.0, what='condition'):
    """Call ``check`` until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ds waiting for %s'
                                 % (timeout, what))
        time.sleep(interval)


class FunctionalTestCase(testtools.TestCase):
    """Longer default timeout than unit tests; no secrets in details."""

    def setUp(self):
        super().setUp()
        # Functional tests are slow by nature: no fixtures.Timeout here.
