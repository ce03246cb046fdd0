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
"""Secrets at rest in Heat's database, on the rehearsal (issue 14).

The masters' user data holds the cluster's CA private keys. With
``[DEFAULT] encrypt_parameters_and_properties`` on (the rehearsal's
heat.conf), Heat stores the hidden ``user_data`` parameters encrypted in
``raw_template.environment`` and every resource property encrypted in
``resource_properties_data`` (heat/objects/raw_template.py,
heat/objects/resource_properties_data.py). The test reads the real
MariaDB rows of one small cluster: no cleartext user data or PEM key is
there, and decrypting the same rows with Heat's own ``heat.common.crypt``
and the rehearsal's key gives user data that does hold the CA key (so the
test fails if the key never reached Heat, or reached it in the clear).
Nothing secret is printed: assertions name tables and row ids only.
"""

import configparser
import json
import uuid

from heat.common import crypt
from magnumclient import exceptions as magnum_exc

from magnum_cern_driver.selftest import preflight
from magnum_cern_driver import userdata
from tests.functional import base

CREATE_TIMEOUT = 300
DELETE_TIMEOUT = 300
PEM_MARKER = 'PRIVATE KEY-----'
USER_DATA_MARKER = '#cloud-config'


def _paths(value, path=()):
    """(path, string) of every string inside a JSON value, recursively."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (str(k),))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _paths(v, path + (str(i),))


def _load(column):
    if column is None:
        return None
    if isinstance(column, bytes):
        column = column.decode('utf-8')
    return json.loads(column)


class TestHeatStoresSecretsEncrypted(base.RehearsalTestCase):

    def _key(self):
        parser = configparser.RawConfigParser(strict=False)
        parser.read(self.reh.layout.conf('heat'))
        return parser['DEFAULT']['auth_encryption_key']

    def _cluster(self):
        name = 'secrets-%s' % uuid.uuid4().hex[:8]
        ct = self.make_template(name + '-ct')
        cluster = self.magnum.clusters.create(
            name=name, cluster_template_id=ct.uuid, master_count=1,
            node_count=1)
        self.addCleanup(self.delete_cluster, cluster.uuid, DELETE_TIMEOUT)

        def done():
            try:
                c = self.magnum.clusters.get(cluster.uuid)
            except magnum_exc.NotFound:
                return None
            return None if c.status.endswith('IN_PROGRESS') else c
        c = base.wait_for(done, CREATE_TIMEOUT, what='cluster create')
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        return c

    def _rows(self, stack_id):
        """Raw rows of the stack tree: (table, id, column value)."""
        conn = self.reh.db_connection('heat')
        self.addCleanup(conn.close)
        rows = []
        with conn.cursor() as cur:
            stacks, todo = [], [stack_id]
            while todo:
                sid = todo.pop()
                stacks.append(sid)
                cur.execute('SELECT id FROM stack WHERE owner_id = %s',
                            (sid,))
                todo += [r[0] for r in cur.fetchall()]
            for sid in stacks:
                cur.execute(
                    'SELECT t.id, s.name, t.template, t.files, '
                    't.environment, f.id, f.files FROM stack s '
                    'JOIN raw_template t ON t.id = s.raw_template_id '
                    'LEFT JOIN raw_template_files f ON f.id = t.files_id '
                    'WHERE s.id = %s', (sid,))
                for tid, name, tmpl, files, env, fid, ffiles in \
                        cur.fetchall():
                    tid = '%s (%s stack %s)' % (
                        tid, 'root' if sid == stack_id else 'nested', name)
                    rows += [('raw_template.template', tid, tmpl),
                             ('raw_template.files', tid, files),
                             ('raw_template.environment', tid, env),
                             ('raw_template_files.files', fid, ffiles)]
            cur.execute(
                'SELECT p.id, p.data, p.encrypted, r.properties_data '
                'FROM resource r LEFT JOIN resource_properties_data p ON '
                'p.id = r.rsrc_prop_data_id WHERE r.root_stack_id = %s',
                (stack_id,))
            for pid, data, encrypted, legacy in cur.fetchall():
                rows.append(('resource_properties_data.data', pid, data))
                rows.append(('resource.properties_data', None, legacy))
                if data is not None:
                    self.assertTrue(encrypted, 'resource_properties_data '
                                    '%s is not marked encrypted' % pid)
        return [(t, i, _load(v)) for t, i, v in rows if v is not None]

    def _decrypted_user_data(self, rows, key):
        """The user data texts Heat holds, decrypted with its own code."""
        found = []
        for table, _id, value in rows:
            if table == 'raw_template.environment':
                params = value.get('parameters') or {}
                for name in value.get('encrypted_param_names') or ():
                    method, data = params[name]
                    text = crypt.decrypt(method, data, encryption_key=key)
                    if text and text.startswith(USER_DATA_MARKER):
                        found.append(text)
            elif table == 'resource_properties_data.data':
                for name, enc in value.items():
                    if name != 'user_data':
                        continue
                    text = json.loads(crypt.decrypt(*enc,
                                                    encryption_key=key))
                    if text and text.startswith(USER_DATA_MARKER):
                        found.append(text)
        return found

    def test_ca_key_not_in_heat_db_in_cleartext(self):
        state = preflight.heat_encryption_state(self.reh.layout.conf('heat'))
        self.assertIs(True, state, 'the rehearsal heat.conf does not turn '
                      'encrypt_parameters_and_properties on: bring it down '
                      'and up again')
        c = self._cluster()
        rows = self._rows(c.stack_id)
        root = [r for r in rows if r[0] == 'raw_template.environment'
                and '(root stack' in r[1]]
        props = [r for r in rows if r[0] == 'resource_properties_data.data']
        self.assertEqual(1, len(root))
        self.assertNotEqual([], props)
        # Only where: never a value (it would put the keys in the output).

        def cleartext(subset):
            return ['%s row %s at %s' % (table, row_id, '/'.join(path))
                    for table, row_id, value in subset
                    for path, text in _paths(value)
                    if PEM_MARKER in text or USER_DATA_MARKER in text]
        # What the option covers: the root stack's hidden parameters and
        # every resource's properties.
        self.assertEqual([], cleartext(root + props))
        self.assertIn('master_user_data',
                      root[0][2].get('encrypted_param_names') or [])
        # The same rows, decrypted with Heat's code and key: the masters'
        # user data is there, and its archive holds the CA private key.
        texts = self._decrypted_user_data(root + props, self._key())
        with_key = [t for t in texts
                    if PEM_MARKER in userdata.written_files(t).get(
                        userdata.SECRETS_DIR + '/ca.key', ('', ''))[1]]
        self.assertTrue(with_key, 'no decrypted user data holds the CA '
                        'key: the test would prove nothing')
        # What it does not cover (Heat 27.0.1, measured here): a nested
        # stack's raw_template is stored by StackResource._stack_kwargs
        # (Template.store, no encrypt_hidden_parameters), and a
        # ResourceGroup's nested template holds its members' properties.
        # The masters' user data passes through both. An expected failure
        # until that changes (then this turns into an unexpected success).
        self.expectFailure(
            'Heat 27.0.1 stores nested stacks\' templates and parameters '
            'unencrypted (docs/operator-guide.md, "Heat encryption")',
            self.assertEqual, [], cleartext(rows))
