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
"""The rehearsal itself: up from nothing, idempotence, down leaves nothing."""

import os
import stat
import tempfile
import time

from magnum_cern_driver.selftest import rehearsal
from magnum_cern_driver.selftest.rehearsal import procs
from tests.functional import base

# The target is 90 s on a 2-core machine; CI machines vary, so the
# test allows some slack and reports the figure.
UP_LIMIT = float(os.environ.get('MAGNUM_CERN_REHEARSAL_UP_LIMIT', 180))


class TestRehearsalLifecycle(base.FunctionalTestCase):

    def test_up_idempotent_down_leaves_nothing(self):
        state_dir = tempfile.mkdtemp(prefix='rehearsal-test-')
        reh = rehearsal.get(state_dir, out=None)
        self.addCleanup(reh.down, purge=True)

        t0 = time.monotonic()
        reh.up()
        took = time.monotonic() - t0
        self.addDetail('up_seconds', _text('%.1f' % took))
        self.assertLess(took, UP_LIMIT)
        self.assertTrue(reh.is_up(), reh.status())

        # Secrets are owner-only.
        for path in (reh.clouds_yaml_path,
                     os.path.join(state_dir, 'state.json'),
                     reh.layout.conf('heat'), reh.layout.conf('magnum')):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            self.assertEqual(0o600, mode, path)
        cloud = reh.cloud_config()
        self.assertEqual('rehearsal-member', cloud['auth']['username'])
        self.assertTrue(cloud['auth']['auth_url'].startswith(
            'http://127.0.0.1:'))

        # Idempotent: a second up starts nothing and is quick.
        pids = reh.pids()
        t0 = time.monotonic()
        reh.up()
        self.assertLess(time.monotonic() - t0, 30)
        self.assertEqual(pids, reh.pids())

        family = {}
        for pid in pids.values():
            for p in [pid] + procs.descendants(pid):
                family[p] = procs.start_time(p)
        ports = reh.all_ports()
        self.assertTrue(ports)
        self.assertEqual(sorted(ports), procs.listening_ports(ports))

        leftover = reh.down()
        self.assertEqual([], leftover)
        still = [p for p, started in family.items()
                 if procs.alive(p, started)]
        self.assertEqual([], still, 'processes left behind')
        self.assertEqual([], procs.listening_ports(ports))
        self.assertEqual({}, reh.pids())
        self.assertFalse(reh.is_up())


def _text(value):
    from testtools import content
    return content.text_content(value)
