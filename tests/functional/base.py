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
"""Shared helpers of the functional tests (the local rehearsal).

The end-to-end tests share one rehearsal, brought up once (under a file
lock, so parallel test workers do not race) and left running for the next
run; ``magnum-cern-selftest rehearsal down --state-dir DIR`` stops it. Its
directory is ``$MAGNUM_CERN_FUNCTIONAL_DIR`` or
``/tmp/magnum-cern-functional-<uid>/rehearsal``.
"""

import fcntl
import importlib.util
import os
import sys
import time

from heatclient import client as heat_client
from magnumclient import client as magnum_client
from magnumclient import exceptions as magnum_exc
import openstack
import testtools

from magnum_cern_driver.selftest import rehearsal

ENV_DIR = 'MAGNUM_CERN_FUNCTIONAL_DIR'
# Nodegroups need microversion >= 1.9; 1.10 is the newest magnumclient
# speaks for nodegroup create.
MAGNUM_API_VERSION = '1.10'


def functional_dir():
    return os.environ.get(ENV_DIR) or '/tmp/magnum-cern-functional-%d' % (
        os.getuid())


def shared_rehearsal():
    """The shared rehearsal, up (idempotent, serialised by a lock)."""
    base = functional_dir()
    os.makedirs(base, mode=0o700, exist_ok=True)
    with open(os.path.join(base, 'up.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return rehearsal.ensure_up(os.path.join(base, 'rehearsal'),
                                       out=None)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def driver_missing():
    """A reason to skip the end-to-end tests, or None."""
    if importlib.util.find_spec('magnum_cern_driver.driver') is None:
        return 'magnum_cern_driver.driver is not there yet'
    return None


def wait_for(check, timeout, interval=2.0, what='condition'):
    """Call ``check`` until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ds waiting for %s'
                                 % (timeout, what))
        time.sleep(interval)


class FunctionalTestCase(testtools.TestCase):
    """Longer default timeout than unit tests; no secrets in details."""

    def setUp(self):
        super().setUp()
        # Functional tests are slow by nature: no fixtures.Timeout here.


class RehearsalTestCase(FunctionalTestCase):
    """Tests on the shared rehearsal, as its member user.

    ``magnum``, ``heat`` (clients) and ``session`` (keystoneauth) are the
    member's; the driver builds a cluster's stack in the cluster's project.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.skip_reason = driver_missing()
        if cls.skip_reason:
            return
        cls.reh = shared_rehearsal()
        config = cls.reh.cloud_config()
        conn = openstack.connect(**config)
        cls.session = conn.session
        cls.magnum = magnum_client.Client(
            '1', session=conn.session, api_version=MAGNUM_API_VERSION,
            service_type='container-infra', interface='public',
            region_name=config['region_name'])
        cls.heat = heat_client.Client(
            '1', session=conn.session, service_type='orchestration',
            interface='public', region_name=config['region_name'])

    def setUp(self):
        super().setUp()
        if self.skip_reason:
            self.skipTest(self.skip_reason)

    def make_template(self, name, **fields):
        """A cluster template on the rehearsal's image and flavors.

        Deleted when the test ends (after the clusters made later, which
        are cleaned up first).
        """
        kwargs = dict(name=name, coe='kubernetes',
                      image_id=self.reh.image_name, server_type='vm',
                      network_driver='flannel', flavor_id='m1.small',
                      master_flavor_id='m1.medium',
                      master_lb_enabled=False, floating_ip_enabled=False,
                      labels={})
        kwargs.update(fields)
        ct = self.magnum.cluster_templates.create(**kwargs)
        self.addCleanup(self.delete_template, ct.uuid)
        return ct

    def delete_template(self, uuid_):
        try:
            self.magnum.cluster_templates.delete(uuid_)
        except magnum_exc.NotFound:
            pass

    def cluster_or_none(self, uuid_):
        """The cluster as Magnum shows it, or None once it is gone."""
        try:
            return self.magnum.clusters.get(uuid_)
        except magnum_exc.NotFound:
            return None

    def wait_settled(self, uuid_, timeout, since=None):
        """The cluster once no action is in progress (after ``since``).

        ``since`` is an ``updated_at`` seen before the action: actions are
        cast to the conductor, so right after the API call the cluster may
        still show the previous settled state. A cluster not visible yet
        (the create is cast too) is waited for.
        """
        def settled():
            c = self.cluster_or_none(uuid_)
            if c is None or c.status.endswith('IN_PROGRESS'):
                return None
            if since is not None and c.updated_at == since:
                return None
            return c
        return wait_for(settled, timeout, what='cluster %s' % uuid_)

    def wait_gone(self, uuid_, timeout):
        def gone():
            try:
                return self.cluster_or_none(uuid_) is None
            except magnum_exc.BadRequest:
                # Magnum's periodic task removes a deleted cluster's
                # nodegroups, then the cluster; in between its API cannot
                # render the cluster (no master_count) and answers 400.
                return False
        wait_for(gone, timeout, what='cluster %s deleted' % uuid_)

    def delete_cluster(self, uuid_, timeout, settle_timeout=None):
        """Delete the cluster (once settled, if asked) and wait it out.

        A cluster already gone is fine: tests delete their own too.
        """
        if self.cluster_or_none(uuid_) is None:
            return
        try:
            if settle_timeout:
                self.wait_settled(uuid_, settle_timeout)
            self.magnum.clusters.delete(uuid_)
        except magnum_exc.NotFound:
            return
        self.wait_gone(uuid_, timeout)

    def wait_stack_gone(self, stack_id, timeout=120):
        """Until Heat no longer lists the stack (or lists it deleted).

        Heat may still list a stack for a moment after its delete
        completed (DELETE_COMPLETE); anything else is a leak.
        """
        def gone():
            left = {s.id: s.stack_status for s in self.heat.stacks.list()}
            return left.get(stack_id, 'DELETE_COMPLETE') == 'DELETE_COMPLETE'
        wait_for(gone, timeout, what='stack %s deleted' % stack_id)

    def app_cred_names(self):
        """Names of the member user's application credentials."""
        user = self.session.get_user_id()
        resp = self.session.get(
            '/users/%s/application_credentials' % user,
            endpoint_filter={'service_type': 'identity',
                             'interface': 'public'})
        return {c['name'] for c in resp.json()['application_credentials']}


def selftest_command(*args):
    """argv running ``magnum-cern-selftest ARGS`` with this interpreter."""
    return [sys.executable, '-m', 'magnum_cern_driver.selftest.cli'] + \
        list(args)


def selftest_env():
    """This environment without OS_*: no cloud, so the rehearsal."""
    return {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
