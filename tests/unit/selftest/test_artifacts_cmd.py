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
"""``magnum-cern-selftest artifacts``: the resolved manifest."""

import io
import json
import os

import fixtures
import testtools

from magnum_cern_driver.selftest import artifacts_cmd
from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import exitcodes

MIRROR = 'mirror.example.org:5000/cache'


class ArtifactsCommandTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.useFixture(fixtures.FakeLogger())

    def main(self, *argv):
        return cli.main(['artifacts'] + list(argv))

    def json(self, *argv):
        code = self.main('--format', 'json', *argv)
        self.assertEqual(exitcodes.OK, code, self.stderr.getvalue())
        return json.loads(self.stdout.getvalue())

    def assertOneLineError(self, code, needle):
        self.assertEqual(exitcodes.ERROR, code)
        err = self.stderr.getvalue()
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertTrue(err.startswith('magnum-cern-selftest: error: '), err)
        self.assertIn(needle, err)
        self.assertEqual('', self.stdout.getvalue())

    def test_json_lists_every_artifact_and_the_image_refs(self):
        doc = self.json()
        self.assertEqual('', doc['registry_mirror'])
        kinds = {a['kind'] for a in doc['artifacts']}
        self.assertIn('image', kinds)
        for a in doc['artifacts']:
            for key in ('kind', 'name', 'ref', 'label', 'source'):
                self.assertIn(key, a)
        self.assertEqual([a['ref'] for a in doc['artifacts']
                          if a['kind'] == 'image'], doc['images'])
        self.assertTrue(doc['images'])
        for ref in doc['images']:
            # plain references, ready for `skopeo copy docker://REF ...`
            self.assertRegex(ref, r'^[a-z0-9.:-]+/[a-z0-9._/-]+:[\w.-]+'
                                  r'(@sha256:[0-9a-f]{64})?$')

    def test_mirror_option_rewrites_every_image(self):
        doc = self.json('--registry-mirror', MIRROR)
        self.assertEqual(MIRROR, doc['registry_mirror'])
        images = [a for a in doc['artifacts'] if a['kind'] == 'image']
        self.assertTrue(images)
        for a in images:
            self.assertEqual('mirror.example.org:5000', a['registry'])
            self.assertTrue(a['repository'].startswith('cache/'), a)
        for ref in doc['images']:
            self.assertTrue(ref.startswith(MIRROR + '/'), ref)
        for a in doc['artifacts']:
            if a['kind'] == 'chart' and a['url'].startswith('oci://'):
                self.assertTrue(a['url'].startswith('oci://' + MIRROR + '/'),
                                a)

    def test_the_label_wins_over_the_option(self):
        doc = self.json('--registry-mirror', MIRROR,
                        '--label', 'registry_mirror=label.example.org')
        self.assertEqual('label.example.org', doc['registry_mirror'])
        for ref in doc['images']:
            self.assertTrue(ref.startswith('label.example.org/'), ref)

    def test_labels_choose_versions(self):
        doc = self.json('--label', 'kube_tag=v1.32.1')
        chosen = [a for a in doc['artifacts'] if a['label'] == 'kube_tag']
        self.assertTrue(chosen)
        for a in chosen:
            self.assertIn('1.32', a['ref'])

    def test_table(self):
        self.assertEqual(exitcodes.OK, self.main())
        out = self.stdout.getvalue().splitlines()
        for column in ('kind', 'name', 'reference', 'chosen by (label)',
                       'source'):
            self.assertIn(column, out[0])
        self.assertIn('registry mirror: none', out[-1])
        self.assertTrue(any(line.startswith('image ') for line in out))

    def test_bad_label_is_one_line(self):
        self.assertOneLineError(self.main('--label', 'flannel_backend=x'),
                                'label flannel_backend')

    def test_unknown_label_is_one_line(self):
        self.assertOneLineError(self.main('--label', 'no_such_label=1'),
                                'label no_such_label')

    def test_bad_mirror_is_one_line(self):
        self.assertOneLineError(
            self.main('--registry-mirror', 'bad mirror;rm'),
            '--registry-mirror')

    def test_bad_manifest_is_one_message(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'm.yaml')
        with open(path, 'w') as f:
            f.write('version: 2\n')
        e = self.assertRaises(artifacts_cmd.ArtifactsError,
                              artifacts_cmd.run, {}, manifest=path)
        self.assertIn('artifact manifest', str(e))
        self.assertNotIn('\n', str(e))
