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
"""The fragments' library (common.sh), function by function."""

import os
import subprocess

import fixtures
import testtools

from tests.unit.fragments import test_lint


class LibraryTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(self.root, 'etc/magnum-cern/runtime'))
        os.makedirs(os.path.join(self.root, 'etc/magnum-cern/secrets'))

    def bash(self, body, **env):
        script = ('set -euo pipefail\n. %s\n%s\n'
                  % (os.path.join(test_lint.FRAGMENTS_DIR, 'common.sh'),
                     body))
        full_env = {'PATH': os.environ['PATH'], 'MCD_ROOT': self.root}
        full_env.update(env)
        return subprocess.run(['bash', '-c', script], env=full_env,
                              capture_output=True, text=True)

    def runtime(self, name, content):
        with open(os.path.join(self.root, 'etc/magnum-cern/runtime', name),
                  'w') as f:
            f.write(content)

    def test_yaml_str_quotes_safe_values(self):
        proc = self.bash('yaml_str "reg.example.org:5000/a_b"')
        self.assertEqual('"reg.example.org:5000/a_b"', proc.stdout)

    def test_yaml_str_stops_the_script_inside_a_here_document(self):
        for value in ('a"b', 'a b', 'a\nb', "a'b", 'a$b', 'a\\b', 'a#b'):
            proc = self.bash('cat <<EOF\nkey: $(yaml_str "$V")\nEOF\n'
                             'echo after', V=value)
            self.assertNotEqual(0, proc.returncode, value)
            self.assertNotIn('after', proc.stdout, value)
            self.assertIn('refusing to write an unexpected value',
                          proc.stderr)

    def test_runtime_value(self):
        self.runtime('api_address', '10.1.2.3\n')
        proc = self.bash('v=$(runtime_value api_address "$RE_IPV4")\n'
                         'printf "[%s]" "$v"')
        self.assertEqual('[10.1.2.3]', proc.stdout)

    def test_runtime_value_failure_stops_an_assignment(self):
        for content in ('10.1.2.3\nx\n', '10.1.2.3 \n', '', '1.2.3\n',
                        '$(id)\n', '256.1.1.1\n'):
            self.runtime('api_address', content)
            proc = self.bash('v=$(runtime_value api_address "$RE_IPV4")\n'
                             'echo after')
            self.assertNotEqual(0, proc.returncode, content)
            self.assertNotIn('after', proc.stdout)

    def test_runtime_value_does_not_print_a_rejected_value(self):
        self.runtime('api_address', 'secret-looking-value\n')
        proc = self.bash('runtime_value api_address "$RE_IPV4"')
        self.assertNotEqual(0, proc.returncode)
        self.assertNotIn('secret-looking-value', proc.stdout + proc.stderr)

    def test_patterns(self):
        cases = {
            'RE_URL': (['http://h:8004/v1/ab/stacks/c-1/i/resources/r/signal',
                        'https://h.example.org/x?a=b&c=d'],
                       ['ftp://h', 'http://h/a b', 'http://h/$(x)',
                        'http://h/;x']),
            'RE_WAIT_TOKEN': (['gAAAAABl-_=', 'abc123'],
                              ['a b', 'a;b', "a'b", '']),
            'RE_INDEX': (['0', '7', '999'], ['-1', '01', '1e3', '']),
        }
        for name, (good, bad) in cases.items():
            for value in good:
                proc = self.bash('[[ $V =~ $%s ]]' % name, V=value)
                self.assertEqual(0, proc.returncode, (name, value))
            for value in bad:
                proc = self.bash('[[ $V =~ $%s ]]' % name, V=value)
                self.assertNotEqual(0, proc.returncode, (name, value))

    def test_retry(self):
        proc = self.bash('sleep() { :; }\nn=0\n'
                         'f() { n=$((n + 1)); [ "$n" -ge 3 ]; }\n'
                         'retry 5 1 f\necho "$n"')
        self.assertEqual('3\n', proc.stdout)
        proc = self.bash('sleep() { :; }\nretry 2 1 false\necho after')
        self.assertNotEqual(0, proc.returncode)
        self.assertNotIn('after', proc.stdout)
