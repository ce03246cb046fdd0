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

import os
import subprocess
import sys
import tempfile

import testtools

from magnum_cern_driver import conf

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GENERATOR_CONF = os.path.join(TOP, 'etc', 'oslo-config-generator',
                              'magnum-cern-driver.conf')
SAMPLE = os.path.join(TOP, 'etc', 'magnum-cern-driver.conf.sample')


class TestOptions(testtools.TestCase):

    def test_sample_in_sync_with_options(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'sample')
            subprocess.run(
                [sys.executable, '-m', 'oslo_config.generator',
                 '--config-file', GENERATOR_CONF, '--output-file', out],
                check=True, cwd=TOP)
            with open(out) as f:
                generated = f.read()
        with open(SAMPLE) as f:
            committed = f.read()
        self.assertEqual(
            generated, committed,
            'etc/magnum-cern-driver.conf.sample is stale: run '
            '"oslo-config-generator --config-file %s"' % GENERATOR_CONF)

    def test_every_option_has_help(self):
        for group, opts in conf.list_opts():
            for opt in opts:
                self.assertTrue(opt.help and len(opt.help) > 20, opt.name)

    def test_generator_namespace_is_our_entry_point(self):
        from importlib import metadata
        names = {ep.name: ep.value for ep in
                 metadata.entry_points(group='oslo.config.opts')}
        self.assertEqual('magnum_cern_driver.conf:list_opts',
                         names['magnum_cern_driver'])

    def test_defaults(self):
        group = conf.CONF.cern_driver
        self.assertEqual(50, group.worker_shard_size)
        self.assertEqual('warn', group.unknown_labels)
        self.assertEqual([], group.environment_files)
