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
"""Hostile values: rejected by the schema, or delivered as literal data.

Every payload that could execute something calls ``canary`` (a recording
shim in the sandbox) or writes a file named PWNED: a run must record no
``canary`` call and leave no PWNED file anywhere.
"""

import os
import subprocess

import testtools
import yaml

from magnum_cern_driver import labels
from magnum_cern_driver import userdata
from tests.unit.fragments import sandbox
from tests.unit import test_labels

PAYLOADS = [
    '$(canary)', '`canary`', '; canary', '&& canary', '| canary',
    "'; canary; '", '"; canary; "', '\ncanary', 'a\ncanary', '\rcanary',
    '${IFS}canary', '$((1+1))', '> PWNED', '< /etc/shadow', '&canary&',
    "v1.31.4'$(canary)'", 'v1.31.4;canary', 'v1.31.4\n', 'v1.31.4 canary',
    '\\$(canary)', '$\'\\x63anary\'', '{canary,}', '*', '?', '~',
    'host-gw\ncanary', 'host-gw;canary', '-rf', '--help',
    # Unicode look-alikes of legitimate values.
    '\uff56\uff11.31.4',          # fullwidth v1
    'v1\u200b.31.4',              # zero-width space
    'h\u043est-gw',               # Cyrillic o
    'sft.cern.\u0441h',           # Cyrillic es
    '10.100.0.0\u22156',          # division slash
    'v1.31.4\u0000',
    # Very long values.
    'v1.31.' + '4' * 300, 'a' * 10000, ('x.' * 200) + 'cern.ch',
]

# Valid values whose characters matter to a shell or to YAML: they must
# reach the node unchanged and inert.
LEGAL_TRICKY = {
    'cvmfs_http_proxy': 'http://squid.example.org:3128;'
                        'http://squid2.example.org:3128|'
                        'http://squid3.example.org',
    'registry_mirror': 'reg-1.example.org:5000/a_b/c.d',
    'cvmfs_repositories': 'a.cern.ch,b-c.cern.ch',
    'eos_instances': 'home-i01,user',
}


class LabelInjectionTest(testtools.TestCase):

    def test_schema_rejects_every_payload_for_node_labels(self):
        accepted = []
        for name in userdata.NODE_LABELS:
            for payload in PAYLOADS:
                try:
                    labels.validate({name: payload}, unknown='reject')
                except labels.InvalidLabel:
                    continue
                accepted.append((name, payload))
        self.assertEqual([], accepted)

    def test_other_labels_never_reach_the_nodes(self):
        # Labels the nodes do not use (availability_zone accepts "-rf")
        # are rejected, or left out of the user data altogether.
        others = set(labels.SCHEMA) - set(userdata.NODE_LABELS)
        self.assertIn('availability_zone', others)
        for name in sorted(others):
            for payload in PAYLOADS:
                try:
                    typed = labels.validate({name: payload})
                except labels.InvalidLabel:
                    continue
                text = userdata.render('master', typed, sandbox.facts(),
                                       sandbox.secrets())
                self.assertNotIn(payload, text.replace(
                    '#cloud-config', ''), name)

    def test_rejection_names_the_label(self):
        e = self.assertRaises(labels.InvalidLabel, labels.validate,
                              {'kube_tag': '$(canary)'})
        self.assertEqual('kube_tag', e.label)


def _bash_rejects(pairs):
    """The (pattern, value) pairs bash's [[ =~ ]] does not accept."""
    script = ('i=0\n'
              'while [ "$#" -gt 0 ]; do\n'
              '    [[ $2 =~ $1 ]] || echo "$i"\n'
              '    i=$((i + 1))\n'
              '    shift 2\n'
              'done\n')
    args = [item for pair in pairs for item in pair]
    proc = subprocess.run(['bash', '-c', script, 'check'] + args,
                          capture_output=True, text=True, check=True,
                          env={'PATH': os.environ['PATH'],
                               'LANG': 'C.UTF-8'})
    return [pairs[int(i)] for i in proc.stdout.split()]


class NodePatternTest(testtools.TestCase):
    """The patterns the nodes get from the label schema, run by bash."""

    def test_every_schema_value_passes_the_node_check(self):
        samples = [(name, labels.SCHEMA[name].render(typed))
                   for name, _raw, typed in test_labels.GOOD]
        samples += [(name, labels.SCHEMA[name].render(
            labels.SCHEMA[name].parse(value)))
            for name, value in LEGAL_TRICKY.items()]
        samples += [(name, labels.SCHEMA[name].render(
            labels.SCHEMA[name].default)) for name in labels.SCHEMA]
        pairs = [(labels.SCHEMA[name].shell_pattern(), value)
                 for name, value in samples if name in userdata.NODE_LABELS]
        self.assertGreater(len(pairs), 40)
        self.assertEqual([], _bash_rejects(pairs))

    def test_node_check_rejects_every_payload(self):
        # NUL cannot reach bash (nor an environment variable); length is
        # the schema's business (the node checks the alphabet).
        pairs = [(pattern, payload)
                 for _name, pattern in labels.shell_checks()
                 for payload in PAYLOADS if '\0' not in payload and
                 len(payload) <= labels.MAX_VALUE_LENGTH]
        rejected = _bash_rejects(pairs)
        accepted = {(p, v) for p, v in pairs} - set(rejected)
        # Options look-alikes are inert as quoted data; only the loose
        # alphabets of the list labels and the mirror take them.
        self.assertEqual(set(),
                         {v for _p, v in accepted} - {'-rf', '--help'})

    def test_generated_checks_file(self):
        text = userdata.label_checks()
        lines = [line for line in text.splitlines()
                 if not line.startswith('#')]
        self.assertEqual(['%s %s' % c for c in labels.shell_checks()],
                         lines)
        for role in userdata.ROLES:
            files = userdata.written_files(sandbox.render(role))
            self.assertEqual(('0644', text), files[userdata.LABEL_CHECKS])


class SandboxInjectionTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sb = self.useFixture(sandbox.Sandbox())

    def assertInert(self, result):
        self.assertFalse(result.called('canary'), result.commands())
        for dirpath, _dirs, files in os.walk(self.sb.base):
            self.assertNotIn('PWNED', files, dirpath)

    def test_hostile_text_facts_arrive_literally(self):
        # Cluster and nodegroup names are the only free text: quoted, they
        # arrive byte for byte.
        value = ("x'$(canary)`canary`;canary|canary\"\\$HOME "
                 "\u0441\uff56 > PWNED")
        text = sandbox.render('worker', cluster_name=value,
                              nodegroup_name=value[::-1])
        self.sb.unpack(text, sandbox.runtime_values())
        result = self.sb.run()
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertInert(result)
        self.assertEqual(value + '\n',
                         result.read('/etc/magnum-cern/cluster-name'))
        self.assertEqual(value[::-1] + '\n',
                         result.read('/etc/magnum-cern/nodegroup-name'))

    def test_legal_values_with_shell_characters_arrive_literally(self):
        text = sandbox.render('master', dict(LEGAL_TRICKY,
                                             cvmfs_enabled='true',
                                             eos_enabled='true'))
        self.sb.unpack(text, sandbox.runtime_values())
        result = self.sb.run()
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertInert(result)
        cvmfs = [c for c in result.calls if c['cmd'] == 'helm' and
                 'cvmfs-csi' in c['args']][0]
        values = list(cvmfs['files'].values())[0]
        self.assertIn('CVMFS_HTTP_PROXY="%s"'
                      % LEGAL_TRICKY['cvmfs_http_proxy'], values)
        self.assertIn('reg-1.example.org:5000/a_b/c.d/flannel-io/flannel',
                      self.sb_file(result, 'flannel-values.yaml'))

    def sb_file(self, result, suffix):
        for call in result.calls:
            for path, content in call['files'].items():
                if path.endswith(suffix):
                    return content
        raise AssertionError(suffix)

    def _env_with(self, name, value):
        """Replace one value of the unpacked environment file.

        As if a value had skipped validation: single-quoted, unchecked.
        """
        path = self.sb.root + userdata.ENV_FILE
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            if line.startswith(name + '='):
                line = '%s=%s' % (name, userdata.shell_quote(value))
            out.append(line)
        with open(path, 'w') as f:
            f.write('\n'.join(out) + '\n')

    def test_node_side_validation_stops_unvalidated_values(self):
        # Even if a value skipped labels.validate(), the fragments check
        # every value again and stop before using it.
        cases = [
            ('KUBE_TAG', 'v1.31.4;canary'),
            ('REGISTRY_MIRROR', 'reg.example.org/$(canary)'),
            ('FLANNEL_BACKEND', 'host-gw" && canary'),
            ('EOS_INSTANCES', 'eos,$(canary)'),
            ('CVMFS_HTTP_PROXY', 'http://x`canary`'),
            ('CONTAINER_STORAGE_DEVICE', '/dev/vdb;canary'),
            ('KUBE_API_PORT', '6443 && canary'),
            ('MCD_ROLE', 'master\ncanary'),
        ]
        text = sandbox.render('master', {'cvmfs_enabled': 'true',
                                         'eos_enabled': 'true'})
        for name, value in cases:
            self.sb.unpack(text, sandbox.runtime_values())
            self._env_with(name, value)
            result = self.sb.run()
            self.assertNotEqual(0, result.returncode, name)
            self.assertIn('%s: invalid value' % name, result.stderr)
            self.assertEqual([], result.calls, name)
            self.assertInert(result)

    def test_every_node_label_is_checked_on_the_node(self):
        # Each label the node gets is checked against its generated
        # pattern: a planted value stops the bootstrap, naming it.
        text = sandbox.render('worker')
        for name in userdata.NODE_LABELS:
            self.sb.unpack(text, sandbox.runtime_values())
            self._env_with(name.upper(), '$(canary)')
            result = self.sb.run()
            self.assertNotEqual(0, result.returncode, name)
            self.assertIn('%s: invalid value' % name.upper(), result.stderr)
            self.assertEqual([], result.calls, name)
            self.assertInert(result)

    def test_missing_or_tampered_label_checks_stop_the_node(self):
        text = sandbox.render('worker')
        path = self.sb.root + userdata.LABEL_CHECKS
        cases = {
            None: 'missing',
            '# nothing\n': 'no label checks',
            'KUBE_TAG .*\n': 'KUBE_TAG: unanchored pattern',
            'kube_tag ^.*$\n': 'label variable: invalid value',
            '$(canary) ^.*$\n': 'label variable: invalid value',
        }
        for content, message in cases.items():
            self.sb.unpack(text, sandbox.runtime_values())
            if content is None:
                os.unlink(path)
            else:
                with open(path, 'w') as f:
                    f.write(content)
            result = self.sb.run()
            self.assertNotEqual(0, result.returncode, content)
            self.assertIn(message, result.stderr)
            self.assertEqual([], result.calls, content)
            self.assertInert(result)

    def test_hostile_runtime_values_are_refused_before_anything_runs(self):
        # Heat substitutes these as text; a bad one stops the bootstrap
        # before the first command.
        cases = {
            userdata.API_ADDRESS: ['10.0.0.1; canary', '$(canary)',
                                   '10.0.0.1\ncanary', '300.1.1.1',
                                   '10.0.0.1 ', '::1', ''],
            userdata.NODE_INDEX: ['0;canary', '-1', '0\n1', '01', 'x'],
            userdata.WAIT_ENDPOINT: ['http://h/$(canary)', 'file:///etc',
                                     'http://h/a b', 'http://h/`canary`',
                                     'http://h/"x"'],
            userdata.WAIT_TOKEN: ['tok;canary', 'a b', "tok'en",
                                  'x' * 5000],
        }
        text = sandbox.render('master')
        for placeholder, values in cases.items():
            for value in values:
                runtime = sandbox.runtime_values()
                runtime[placeholder] = value
                try:
                    self.sb.unpack(text, runtime)
                except yaml.YAMLError:
                    # cloud-init would not run a broken user data at all.
                    continue
                result = self.sb.run()
                self.assertNotEqual(0, result.returncode, value)
                self.assertEqual([], result.calls, value)
                self.assertInert(result)
