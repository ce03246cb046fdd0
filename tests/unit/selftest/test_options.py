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
"""RunOptions: built from the parsed command line, defaults in step."""

import dataclasses

import testtools

from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import options as options_mod


def _parse(*argv):
    parser = cli.build_parser()
    return parser.parse_args(cli.with_default_command(list(argv), parser))


class TestRunOptions(testtools.TestCase):
    def test_from_the_command_line(self):
        opts = options_mod.RunOptions.from_namespace(_parse(
            '--os-cloud', 'prod', '--max-nodes', '10', '--label', 'a=1',
            '--label', 'b=x=y', '--skip-load'))
        self.assertEqual('run', opts.command)
        self.assertEqual('prod', opts.os_cloud)
        self.assertEqual(10, opts.max_nodes)
        self.assertEqual({'a': '1', 'b': 'x=y'}, opts.labels)
        self.assertTrue(opts.skip_load)

    def test_cloud_options_before_or_after_the_subcommand(self):
        for argv in (('--journal-dir', '/j', 'cleanup', '--stale'),
                     ('cleanup', '--stale', '--journal-dir', '/j')):
            opts = options_mod.RunOptions.from_namespace(_parse(*argv))
            self.assertEqual('/j', opts.journal_dir)
            self.assertIsNone(opts.os_cloud)
            self.assertFalse(opts.verbose)

    def test_defaults_are_those_of_run(self):
        # Tests and other callers build RunOptions directly: its defaults
        # must be what the command line gives.
        ns = vars(_parse('--max-nodes', '2'))
        defaults = options_mod.RunOptions()
        for field in dataclasses.fields(options_mod.RunOptions):
            if field.name in ns and field.name not in ('command',
                                                       'max_nodes'):
                self.assertEqual(ns[field.name],
                                 getattr(defaults, field.name), field.name)
        self.assertEqual({}, defaults.labels)

    def test_recorded_options(self):
        opts = options_mod.RunOptions(max_nodes=4, labels={'a': 'b'})
        rec = opts.recorded()
        self.assertEqual(set(options_mod.RECORDED), set(rec))
        self.assertEqual(4, rec['max_nodes'])
        self.assertEqual({'a': 'b'}, rec['labels'])
