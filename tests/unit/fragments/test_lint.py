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
"""shellcheck, bashate and house rules on the bootstrap fragments."""

import os
import re
import shutil
import subprocess
import sys

import fixtures
import testtools

from magnum_cern_driver import userdata

FRAGMENTS_DIR = os.path.join(os.path.dirname(userdata.__file__),
                             'templates', 'fragments')


def _scripts():
    return sorted(os.path.join(FRAGMENTS_DIR, name)
                  for name in os.listdir(FRAGMENTS_DIR)
                  if name.endswith('.sh'))


def _tool(name):
    """The tool on PATH or next to this Python (the venv's bashate)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else None


def _text(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


class LintTest(testtools.TestCase):

    def test_shellcheck(self):
        tool = _tool('shellcheck')
        if tool is None:
            self.skipTest('shellcheck is not installed (CI installs it)')
        proc = subprocess.run([tool, '--external-sources', '--severity=style']
                              + _scripts(), cwd=FRAGMENTS_DIR,
                              capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_shellcheck_catches_a_planted_defect(self):
        # Proves the check above can fail: an unquoted expansion.
        tool = _tool('shellcheck')
        if tool is None:
            self.skipTest('shellcheck is not installed (CI installs it)')
        bad = self.useFixture(fixtures.TempDir()).join('bad.sh')
        with open(bad, 'w') as f:
            f.write('#!/bin/bash\nset -euo pipefail\nrm -rf $1/x\n')
        proc = subprocess.run([tool, bad], capture_output=True, text=True)
        self.assertNotEqual(0, proc.returncode)

    def test_bashate(self):
        tool = _tool('bashate')
        if tool is None:
            self.skipTest('bashate is not installed (CI installs it)')
        proc = subprocess.run([tool, '--error', 'E001,E002,E003,E004,E005,'
                               'E006,E010,E011,E012,E020,E040,E041,E042,'
                               'E043,E044'] + _scripts(),
                              capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertNotIn('warning', proc.stdout)

    def test_bash_syntax(self):
        for path in _scripts():
            proc = subprocess.run(['bash', '-n', path], capture_output=True,
                                  text=True)
            self.assertEqual(0, proc.returncode, path + proc.stderr)

    def test_strict_mode_and_no_tracing(self):
        for path in _scripts():
            text = _text(path)
            name = os.path.basename(path)
            self.assertTrue(text.startswith('#!/bin/bash\n'), name)
            if name != userdata.LIBRARY:
                self.assertIn('\nset -euo pipefail\n', text, name)
            code = [line.split('#', 1)[0] for line in text.splitlines()
                    if not line.lstrip().startswith('#')]
            code = '\n'.join(code)
            self.assertIsNone(re.search(r'\bset\s+-[a-z]*x', code), name)
            self.assertIsNone(re.search(r'\bset\s+-o\s+xtrace', code), name)
            self.assertIsNone(re.search(r'\beval\b', code), name)
            self.assertIsNone(re.search(r'^\s*source\s', code, re.M), name)

    def test_env_file_is_sourced_only_by_the_library(self):
        for path in _scripts():
            text = _text(path)
            sources = re.findall(r'^\s*\. (.*)$', text, re.M)
            if os.path.basename(path) == userdata.LIBRARY:
                self.assertEqual(['"$MCD_ENV"'], sources)
            else:
                self.assertEqual(
                    ['"${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"'],
                    sources, path)

    def test_every_fragment_loads_and_validates_the_environment(self):
        for name, _roles in userdata.FRAGMENTS:
            text = _text(os.path.join(FRAGMENTS_DIR, name))
            self.assertIn('\nload_env\n', text, name)
