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
"""``magnum-cern-selftest render``: a node's user data, secrets hidden."""

import io
import json
import re

import fixtures
import testtools
import yaml

from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import render_cmd
from magnum_cern_driver import userdata

# A kubeadm bootstrap token anywhere in the output.
TOKEN = re.compile(r'\b[a-z0-9]{6}\.[a-z0-9]{16}\b')
PEM_BLOCK = re.compile(r'-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----',
                       re.S)


class RenderCommandTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.useFixture(fixtures.FakeLogger())

    def render(self, *argv):
        self.stdout.seek(0)
        self.stdout.truncate()
        code = cli.main(['render'] + list(argv))
        self.assertEqual(exitcodes.OK, code, self.stderr.getvalue())
        return self.stdout.getvalue()

    def json(self, *argv):
        return json.loads(self.render('--format', 'json', *argv))

    def assertNoSecret(self, out):
        for value in render_cmd.secret_material():
            self.assertNotIn(value, out)
            self.assertNotIn(json.dumps(value)[1:-1], out)
        self.assertIsNone(TOKEN.search(out))
        text = out.replace('\\n', '\n')
        for kind, body in PEM_BLOCK.findall(text):
            lines = [line.strip() for line in body.splitlines()
                     if line.strip()]
            self.assertEqual(1, len(lines), (kind, lines))
            self.assertRegex(lines[0], r'^<(secret|placeholder):[a-z_]+>$')

    def test_every_secret_has_a_placeholder(self):
        from magnum_cern_driver import params
        self.assertEqual(set(params.Secrets.FIELDS),
                         set(render_cmd.standins()))

    def test_master_json(self):
        doc = self.json('--role', 'master', '--masters', '3',
                        '--workers', '5')
        self.assertEqual('master', doc['role'])
        self.assertTrue(doc['user_data'].startswith('#cloud-config\n'))
        files = doc['node_files']
        self.assertIn(userdata.SECRETS_DIR + '/ca.key', files)
        self.assertIn(userdata.SECRETS_DIR + '/bootstrap_token', files)
        params = doc['parameters']
        self.assertEqual(render_cmd.HIDDEN, params['master_user_data'])
        self.assertEqual(3, params['master_count'])
        hidden = [k for k, v in params.items() if v == render_cmd.HIDDEN]
        self.assertEqual(2, len(hidden), hidden)
        for name in ('master.yaml', 'worker_shard.yaml'):
            self.assertIn(name, doc['files'])
            self.assertIn('heat_template_version', doc['files'][name])
        self.assertIn('resources', yaml.safe_load(doc['template']))
        self.assertEqual('<secret:bootstrap_token>',
                         files[userdata.SECRETS_DIR +
                               '/bootstrap_token']['content'])
        self.assertEqual('0600', files[userdata.SECRETS_DIR +
                                       '/ca.key']['permissions'])
        self.assertNoSecret(json.dumps(doc))
        self.assertNoSecret(self.stdout.getvalue())

    def test_worker_json_has_no_master_secrets(self):
        doc = self.json('--role', 'worker', '--workers', '2')
        self.assertEqual('worker', doc['role'])
        self.assertNotIn('ca.key', doc['user_data'])
        self.assertNotIn('cloud.conf', doc['user_data'])
        self.assertIn('__API_ADDRESS__', doc['user_data'])
        self.assertNoSecret(self.stdout.getvalue())

    def test_text_decodes_every_script(self):
        out = self.render('--role', 'master')
        self.assertNoSecret(out)
        self.assertIn('#cloud-config', out)
        marks = re.findall(r'(?m)^# (\S+) \(\d+\) - decoded for reading; '
                           r'sent in the archive$', out)
        scripts = ['%s/%s' % (userdata.LIB_DIR, userdata.LIBRARY),
                   userdata.RUNNER]
        scripts += ['%s/fragments/%s' % (userdata.LIB_DIR, name)
                    for name in userdata.fragments_for('master')]
        for path in scripts + [userdata.ENV_FILE,
                               userdata.SECRETS_DIR + '/ca.key']:
            self.assertIn(path, marks)
        # Files with a run-time value are plain user data, not archived.
        self.assertNotIn(userdata.RUNTIME_DIR + '/api_address', marks)
        # the decoded text is there, no base64 blob is
        self.assertIn('load_env', out)
        self.assertIsNone(re.search(r'[A-Za-z0-9+/=]{200}', out))
        self.assertEqual(1, out.count('decoded below>'))

    def test_worker_text(self):
        out = self.render('--role', 'worker')
        self.assertNoSecret(out)
        self.assertNotIn('90-ready.sh (', out)
        self.assertIn('40-kubeadm.sh (', out)

    def test_5000_nodes(self):
        doc = self.json('--role', 'worker', '--masters', '3',
                        '--workers', '4997')
        self.assertEqual({'default-worker': 100}, doc['worker_shards'])
        counts = [v for k, v in doc['parameters'].items()
                  if k.endswith('_count') and k.startswith('ng_')]
        self.assertEqual(4997, sum(counts))
        self.assertNoSecret(self.stdout.getvalue())
        self.assertNoSecret(self.render('--role', 'master', '--masters', '3',
                                        '--workers', '4997'))

    def test_labels_reach_the_user_data(self):
        doc = self.json('--role', 'master', '--label',
                        'flannel_backend=vxlan')
        self.assertIn("FLANNEL_BACKEND='vxlan'",
                      doc['node_files'][userdata.ENV_FILE]['content'])

    def test_bad_label_is_one_line(self):
        for label in ('flannel_backend=x', 'no_such_label=1'):
            self.stderr.seek(0)
            self.stderr.truncate()
            code = cli.main(['render', '--role', 'master', '--label', label])
            self.assertEqual(exitcodes.ERROR, code)
            err = self.stderr.getvalue()
            self.assertEqual(1, len(err.splitlines()), err)
            self.assertIn('label %s' % label.split('=')[0], err)

    def test_role_is_required(self):
        code = cli.main(['render'])
        self.assertEqual(exitcodes.ERROR, code)
        self.assertIn('--role', self.stderr.getvalue())

    def test_a_left_over_stand_in_is_refused_without_printing_it(self):
        token = render_cmd.standins()['bootstrap_token']
        e = self.assertRaises(render_cmd.RenderError,
                              render_cmd._check_scrubbed, 'x %s y' % token)
        self.assertNotIn(token, str(e))
