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
"""The clients operators and CI drive Magnum with, against the rehearsal.

The real ``openstack`` CLI (python-openstackclient + python-magnumclient)
and Rally (rally-openstack's own Magnum scenarios), from their own
environment (``tests/functional/clients.py``), configured as
docs/rehearsal.md tells a user: ``clouds.yaml`` for the CLI, the
``rally-env.json`` spec ``up`` writes for Rally.
"""

import json
import os
import re
import shutil
import time
import uuid

import fixtures

import openstack
from testtools import content

from tests.functional import base
from tests.functional import clients

CREATE_TIMEOUT = 300
UPDATE_TIMEOUT = 300


class ClientTestCase(base.RehearsalTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.skip_reason:
            return
        cls.bindir, cls.venv_seconds = clients.client_bin()

    def setUp(self):
        super().setUp()
        self.t0 = time.monotonic()
        self.addDetail('client-venv-seconds', content.text_content(
            '%.1f' % self.venv_seconds))
        self.addCleanup(lambda: self.addDetail(
            'seconds', content.text_content('%.1f' % (
                time.monotonic() - self.t0))))


class TestOpenstackCli(ClientTestCase):
    """One cluster through its life with the openstack CLI."""

    def setUp(self):
        super().setUp()
        self.cli = clients.Runner(self.bindir, self.reh, {
            'OS_CLIENT_CONFIG_FILE': self.reh.clouds_yaml_path,
            'OS_CLOUD': self.reh.cloud_name})
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def openstack(self, *args, **kwargs):
        return self.cli('openstack', *args, **kwargs)

    def os_json(self, *args):
        return self.cli.json('openstack', *args)

    def servers(self, cluster_name):
        """``{name: row}`` of ``openstack server list`` for a cluster."""
        rows = self.os_json('server', 'list', '--name',
                            '^%s-' % re.escape(cluster_name))
        return {row['Name']: row for row in rows}

    def template(self, name, kube_tag):
        self.openstack(
            'coe', 'cluster', 'template', 'create', name,
            '--coe', 'kubernetes', '--image', self.reh.image_name,
            '--external-network', 'public', '--flavor', 'm1.small',
            '--master-flavor', 'm1.medium', '--network-driver', 'flannel',
            '--server-type', 'vm', '--labels', 'kube_tag=%s' % kube_tag)
        self.addCleanup(self.delete_template, name)

    def sdk_servers(self, cluster_name):
        """``{name: server}`` through openstacksdk (the third client)."""
        return {s.name: s for s in self.conn.compute.servers(
            name='^%s-' % re.escape(cluster_name))}

    def test_lifecycle_with_keypair_and_server_list(self):
        name = 'cli-%s' % uuid.uuid4().hex[:8]
        key = name + '-key'
        self.conn = openstack.connect(**self.reh.cloud_config())

        # Keypairs: created (the CLI makes the key, Nova keeps the public
        # half), listed; a second create is refused as Nova does.
        private = os.path.join(self.tmp, 'key')
        self.openstack('keypair', 'create', '--private-key', private, key)
        self.addCleanup(self.openstack, 'keypair', 'delete', key,
                        check=False)
        self.assertIn('PRIVATE KEY', open(private).read())
        listed = {k['Name']: k for k in self.os_json('keypair', 'list')}
        self.assertEqual('ssh', listed[key]['Type'])
        self.assertRegex(listed[key]['Fingerprint'],
                         r'^([0-9a-f]{2}:){15}[0-9a-f]{2}$')
        rc, _, err = self.openstack('keypair', 'create', key, check=False)
        self.assertNotEqual(0, rc)
        self.assertIn("Key pair '%s' already exists." % key, err)

        # A template, then a cluster with the keypair, which Magnum's API
        # checks with the stand-in Nova (a missing one is refused).
        self.template(name + '-ct', 'v1.31.4')
        upgrade_to = self.make_template(name + '-ct2',
                                        labels={'kube_tag': 'v1.32.0'})
        _, out, _ = self.openstack(
            'coe', 'cluster', 'create', name, '--cluster-template',
            name + '-ct', '--keypair', key, '--master-count', '1',
            '--node-count', '2')
        cluster_uuid = re.search(r'cluster ([0-9a-f-]{36})', out).group(1)
        self.addCleanup(self.delete_cluster, cluster_uuid, UPDATE_TIMEOUT,
                        UPDATE_TIMEOUT)
        rc, _, err = self.openstack(
            'coe', 'cluster', 'create', name + '-nokey', '--cluster-template',
            name + '-ct', '--keypair', key + '-missing', check=False)
        self.assertNotEqual(0, rc)
        self.assertIn('%s-missing' % key, err)
        c = self.wait_settled(cluster_uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        shown = self.os_json('coe', 'cluster', 'show', name)
        self.assertEqual(('CREATE_COMPLETE', key),
                         (shown['status'], shown['keypair']))

        # The cluster's servers: 1 master + 2 workers, ACTIVE, addressed
        # as the cluster reports its nodes.
        servers = self.servers(name)
        self.assertEqual(3, len(servers), servers)
        for row in servers.values():
            self.assertEqual('ACTIVE', row['Status'])
            # The image name (Glance's id resolved as Heat does).
            self.assertEqual(self.reh.image_name, row['Image'])
            self.assertEqual('m1.medium' if '-master-' in row['Name']
                             else 'm1.small', row['Flavor'])
        workers = {n: r for n, r in servers.items() if '-master-' not in n}
        addresses = {ip for r in workers.values()
                     for ips in r['Networks'].values() for ip in ips}
        self.assertEqual(set(shown['node_addresses']), addresses)
        victim_name = sorted(workers)[0]
        victim = workers[victim_name]['ID']
        detail = self.os_json('server', 'show', victim)
        self.assertEqual(key, detail['key_name'])
        ports = list(self.conn.network.ports(device_id=victim))
        self.assertEqual(1, len(ports))
        self.assertEqual(list(workers[victim_name]['Networks'].values())[0],
                         [ip['ip_address'] for ip in ports[0].fixed_ips])

        # The kubeconfig.
        self.openstack('coe', 'cluster', 'config', name, '--dir', self.tmp)
        with open(os.path.join(self.tmp, 'config')) as f:
            self.assertIn(c.api_address, f.read())

        # Resize naming the server to remove: it leaves the server list.
        before = self.magnum.clusters.get(cluster_uuid).updated_at
        self.openstack('coe', 'cluster', 'resize', name, '1',
                       '--nodes-to-remove', victim)
        c = self.wait_settled(cluster_uuid, UPDATE_TIMEOUT, since=before)
        self.assertEqual('UPDATE_COMPLETE', c.status, c.status_reason)
        after = self.servers(name)
        self.assertEqual(sorted(set(servers) - {victim_name}),
                         sorted(after))
        self.assertIsNone(self.conn.compute.find_server(victim))

        # Upgrade: the master is replaced (a new server, the old one gone).
        master_name = [n for n in after if '-master-' in n][0]
        before = self.magnum.clusters.get(cluster_uuid).updated_at
        self.openstack('coe', 'cluster', 'upgrade', name, upgrade_to.uuid)
        c = self.wait_settled(cluster_uuid, UPDATE_TIMEOUT, since=before)
        self.assertEqual('UPDATE_COMPLETE', c.status, c.status_reason)
        upgraded = self.sdk_servers(name)
        self.assertEqual(sorted(after), sorted(upgraded))
        self.assertNotEqual(after[master_name]['ID'],
                            upgraded[master_name].id)
        self.assertEqual('ACTIVE', upgraded[master_name].status)

        # Delete: no server of the cluster is left, then the keypair.
        self.openstack('coe', 'cluster', 'delete', name)
        self.wait_gone(cluster_uuid, UPDATE_TIMEOUT)
        self.assertEqual({}, self.sdk_servers(name))
        self.openstack('keypair', 'delete', key)
        self.assertIsNone(self.conn.compute.find_keypair(key))


class TestRally(ClientTestCase):
    """Rally's own Magnum scenarios, SLA: no failed iteration."""

    def test_magnum_scenarios_pass_their_sla(self):
        work = os.path.join(base.functional_dir(), 'rally')
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work, mode=0o700)
        conf = os.path.join(work, 'rally.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nlog_dir = %s\nlog_file = rally.log\n'
                    '[database]\nconnection = sqlite:///%s\n'
                    '[openstack]\n'
                    'magnum_cluster_create_prepoll_delay = 1\n'
                    'magnum_cluster_create_poll_interval = 1\n'
                    % (work, os.path.join(work, 'rally.sqlite')))
        # Rally keeps its "current env/task" in ~/.rally: keep it here.
        rally = clients.Runner(self.bindir, self.reh, {'HOME': work},
                               cwd=work)

        def run(*args, **kwargs):
            return rally('rally', '--config-file', conf, *args, **kwargs)

        run('db', 'create')
        # Rally's database keeps the environment spec (a password).
        os.chmod(os.path.join(work, 'rally.sqlite'), 0o600)
        run('env', 'create', '--name', 'rehearsal', '--spec',
            self.reh.rally_env_path)
        rc, out, err = run('task', 'start', clients.RALLY_TASK,
                           check=False, timeout=1200)
        self.addDetail('rally-task-output', content.text_content(
            out[-6000:] + err[-3000:]))
        found = re.search(r'Task ([0-9a-f-]{36}) has', out)
        self.assertIsNotNone(found, 'rally task start (exit %d) ran no '
                             'task' % rc)
        task = found.group(1)
        report = os.path.join(work, 'report.html')
        results = os.path.join(work, 'results.json')
        run('task', 'report', task, '--out', report)
        run('task', 'report', task, '--json', '--out', results)
        self.addDetail('rally-report', content.text_content(report))
        with open(results) as f:
            data = json.load(f)['tasks'][0]
        self.assertEqual('finished', data['status'])
        seen = {}
        for subtask in data['subtasks']:
            for workload in subtask['workloads']:
                (name,) = workload['scenario']
                seen[name] = (
                    workload['total_iteration_count'],
                    workload['failed_iteration_count'],
                    workload['pass_sla'])
        self.assertEqual({
            'MagnumClusterTemplates.list_cluster_templates': (2, 0, True),
            'MagnumClusters.create_and_list_clusters': (3, 0, True),
            'MagnumClusters.list_clusters': (2, 0, True),
        }, seen)
        self.assertTrue(data['pass_sla'])
        rc, out, _ = run('task', 'sla-check', task, check=False)
        self.assertEqual(0, rc, out)
        # Rally cleaned up after itself: no cluster, template or keypair
        # of its own (s_rally_...) is left with the member user.
        left = [c.name for c in self.magnum.clusters.list()] + \
            [t.name for t in self.magnum.cluster_templates.list()]
        self.assertEqual([], [n for n in left if n.startswith('s_rally')])
        cli = clients.Runner(self.bindir, self.reh, {
            'OS_CLIENT_CONFIG_FILE': self.reh.clouds_yaml_path,
            'OS_CLOUD': self.reh.cloud_name})
        keys = [k['Name'] for k in cli.json('openstack', 'keypair', 'list')]
        self.assertEqual([], [k for k in keys if k.startswith('s_rally')])
