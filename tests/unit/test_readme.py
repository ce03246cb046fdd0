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
"""The README's two opening commands, and CI running the second."""

import os
import re

import testtools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def opening_commands(readme):
    """The first two fenced blocks before the first section heading."""
    head = readme.split('\n## ', 1)[0]
    blocks = re.findall(r'^```[^\n]*\n(.*?)^```', head, re.M | re.S)
    return [b.strip() for b in blocks]


class TestReadme(testtools.TestCase):

    def test_opens_with_main_job_and_test_command(self):
        commands = opening_commands(_read('README.md'))
        self.assertEqual(
            ['tools/setup.sh && .venv/bin/magnum-cern-selftest '
             '--max-nodes 1000', 'bash tools/test.sh'], commands)

    def test_ci_runs_the_readme_test_command(self):
        test_command = opening_commands(_read('README.md'))[1]
        lines = [line.strip() for line in _read('.ci', 'run').splitlines()
                 if line.strip() and not line.lstrip().startswith('#')]
        self.assertIn(test_command, lines)
        self.assertEqual(test_command, lines[-1])

    def test_named_scripts_exist(self):
        for path in ('tools/setup.sh', 'tools/test.sh', '.ci/run'):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, path)), path)
