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
import subprocess

import fixtures
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
        # The first test run CI starts is the README's command.
        runs = [line for line in lines if 'tools/test.sh' in line]
        self.assertEqual(test_command, runs[0])

    def _ci_with_stub(self, fail):
        """Run .ci/run with tools/test.sh stubbed; (exit code, calls)."""
        tmp = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(tmp, '.ci'))
        os.makedirs(os.path.join(tmp, 'tools'))
        with open(os.path.join(tmp, '.ci', 'run'), 'w') as f:
            f.write(_read('.ci', 'run'))
        with open(os.path.join(tmp, 'tools', 'test.sh'), 'w') as f:
            f.write('echo "tools/test.sh $*" >> calls\n'
                    'case " $* " in *" %s "*) exit 1;; esac\n' % fail)
        rc = subprocess.call(['bash', os.path.join(tmp, '.ci', 'run')],
                             cwd=tmp, stdout=subprocess.DEVNULL)
        with open(os.path.join(tmp, 'calls')) as f:
            return rc, f.read().splitlines()

    def test_ci_runs_both_and_fails_if_either_fails(self):
        both = ['tools/test.sh ', 'tools/test.sh functional-extended']
        self.assertEqual((0, both), self._ci_with_stub('none'))
        # the README's command failing fails CI; the extended still run
        self.assertEqual((1, both), self._ci_with_stub(''))
        self.assertEqual((1, both),
                         self._ci_with_stub('functional-extended'))

    def test_named_scripts_exist(self):
        for path in ('tools/setup.sh', 'tools/test.sh', '.ci/run'):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, path)), path)
