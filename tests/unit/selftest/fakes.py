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
"""A fake cloud adapter with Magnum-like cluster life cycles on a fake clock.

It offers the methods of :class:`magnum_cern_driver.selftest.cloud.Cloud`
that the ladder, cleanup, preflight and session use; clusters move from
CREATE_IN_PROGRESS to CREATE_COMPLETE (or CREATE_FAILED) as the fake clock
advances, deletes take time and may fail a given number of times.
"""

import itertools
import os

from magnum_cern_driver.selftest import cloud as cloud_mod


class FakeClock(object):
    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)


class FakeEvent(object):
    """threading.Event look-alike whose wait() advances the fake clock."""

    def __init__(self, clock):
        self.clock = clock
        self._set = False
        self.on_wait = None

    def is_set(self):
        return self._set

    def set(self):
        self._set = True

    def wait(self, timeout=None):
        if self.on_wait is not None:
            self.on_wait()
        if not self._set:
            self.clock.sleep(timeout or 0)
        return self._set


class FakeCloud(object):
    """In-memory Magnum + Heat + Keystone for the self-test."""

    def __init__(self, clock, hollow=True, kind='rehearsal', name='fake',
                 create_seconds=None, fail_names=(), never_names=(),
                 delete_seconds=20.0, delete_failures=0,
                 stuck_delete_names=(), journal_path=None, made_after=0.0):
        self.clock = clock
        # Magnum's API only casts a create: the conductor makes the row
        # this many seconds later; until then the cluster is unknown to
        # get, list and delete (404), as in Magnum.
        self.made_after = made_after
        # A stack delete asked of Heat directly takes this long (0: at
        # once); meanwhile the stack is DELETE_IN_PROGRESS.
        self.stack_delete_seconds = 0.0
        self.hollow = hollow
        self.kind = kind
        self.name = name
        self.create_seconds = create_seconds or (lambda size: 60 + size)
        self.fail_names = set(fail_names)
        self.never_names = set(never_names)
        self.delete_seconds = delete_seconds
        self.delete_failures = delete_failures
        self.stuck_delete_names = set(stuck_delete_names)
        self.journal_path = journal_path
        # Delete requests answered 202 but dropped (as seen on Magnum when
        # a delete races the end of a create).
        self.dropped_deletes = 0
        # The driver fails to delete the cluster's application credential.
        self.leak_appcreds = False
        self.clusters = {}
        self.templates = {}
        self.stacks = {}
        self.appcreds = {}
        self.images = {'img-1': {'id': 'img-1', 'name': 'almalinux-9',
                                 'os_distro': 'almalinux',
                                 'magnum_driver': None}}
        self.flavors = {}
        self.services = {'identity': 'http://127.0.0.1:5000/v3',
                         'container-infra': 'http://127.0.0.1:9511/v1',
                         'orchestration': 'http://127.0.0.1:8004/v1/p'}
        self.quota = {'clusters': {'limit': 1000, 'in_use': 0}}
        self.calls = []
        self.on_create = None
        self.auth_error = None
        self.unreachable = set()
        self.build_info = {'engine': {'revision': '27.0.1'}}
        # name -> (from, until or None, reason): seconds after the create
        # during which the driver reports the stack stalled.
        self.stall_windows = {}
        # name -> the reason an in-progress cluster shows otherwise.
        self.progress_reasons = {}
        self._ids = itertools.count(1)

    # -- helpers ---------------------------------------------------------
    def _id(self, kind):
        return '%s-%04d' % (kind, next(self._ids))

    def _status(self, c):
        now = self.clock()
        if c['deleting_since'] is not None:
            if c['name'] in self.stuck_delete_names:
                return 'DELETE_FAILED'
            if c['delete_fail_left'] > 0 and \
                    now - c['deleting_since'] >= self.delete_seconds / 2:
                c['delete_fail_left'] -= 1
                c['deleting_since'] = None
                c['status'] = 'DELETE_FAILED'
                return 'DELETE_FAILED'
            if now - c['deleting_since'] >= self.delete_seconds:
                return None
            return 'DELETE_IN_PROGRESS'
        if c['status'] == 'DELETE_FAILED':
            return 'DELETE_FAILED'
        if c['status'] in ('CREATE_COMPLETE', 'CREATE_FAILED'):
            return c['status']
        age = now - c['created']
        window = self.stall_windows.get(c['name'])
        if window and age >= window[0] and (window[1] is None or
                                            age < window[1]):
            c['status_reason'] = window[2]
            return 'CREATE_IN_PROGRESS'
        c['status_reason'] = self.progress_reasons.get(c['name'])
        if c['name'] in self.never_names:
            return 'CREATE_IN_PROGRESS'
        if age >= self.create_seconds(c['node_count']):
            if c['name'] in self.fail_names:
                c['status_reason'] = 'Resource CREATE failed: boom'
                return 'CREATE_FAILED'
            return 'CREATE_COMPLETE'
        return 'CREATE_IN_PROGRESS'

    def stall(self, name, since, until=None, reason=None):
        """Have the driver report ``name`` stalled for a while.

        From ``since`` seconds after its create until ``until`` (None: for
        good); returns the reason it shows meanwhile.
        """
        from magnum_cern_driver import status as status_mod
        reason = reason or (
            '%s 3 resources in progress with no change since '
            '2026-11-22T03:01:00Z: worker-shard-0 '
            '(OS::Heat::ResourceGroup), master-0 (OS::Nova::Server); '
            'likely cause: a heat-engine worker died'
            % status_mod.STALLED_PREFIX.rstrip())
        self.stall_windows[name] = (since, until, reason)
        return reason

    def _refresh(self):
        for uuid, c in list(self.clusters.items()):
            status = self._status(c)
            if status is None:
                del self.clusters[uuid]
                self.stacks.pop(c['stack_id'], None)
                for aid, a in list(self.appcreds.items()):
                    if uuid in a['name'] and not self.leak_appcreds:
                        del self.appcreds[aid]
            else:
                c['status'] = status
        for sid, st in list(self.stacks.items()):
            since = st.get('deleting_since')
            if since is not None and \
                    self.clock() - since >= self.stack_delete_seconds:
                del self.stacks[sid]

    def _made(self, c):
        return c is not None and self.clock() >= c['made_at']

    def _view(self, c):
        return {k: c[k] for k in ('uuid', 'name', 'status', 'stack_id',
                                  'node_count', 'master_count',
                                  'status_reason', 'coe_version',
                                  'api_address', 'created_at')}

    # -- identity / endpoints ---------------------------------------------
    def authenticate(self):
        self.calls.append(('authenticate',))
        if self.auth_error:
            raise cloud_mod.ConfigError(self.auth_error)
        return {'user_id': 'u1', 'project_id': 'p1',
                'auth_url': 'http://127.0.0.1:5000/v3', 'region': 'One'}

    def endpoint(self, stype):
        return self.services.get(stype)

    def has_service(self, stype):
        return stype in self.services

    def probe(self):
        out = {}
        for stype in ('identity', 'container-infra', 'orchestration'):
            ok = stype in self.services and stype not in self.unreachable
            out[stype] = {'ok': ok, 'url': self.services.get(stype),
                          'latency_ms': 1.0 if ok else None,
                          'message': 'reachable' if ok else
                          '%s at %s: connection refused' % (
                              stype, self.services.get(stype))}
        return out

    def magnum_api_versions(self):
        return {'min': '1.1', 'max': '1.14'}

    def heat_build_info(self):
        return self.build_info

    # -- images, flavors, quotas ----------------------------------------------
    def find_image(self, ident):
        for img in self.images.values():
            if ident in (img['id'], img['name']):
                return dict(img)
        return None

    def find_images_by_distro(self, distro):
        return [dict(i) for i in self.images.values()
                if i['os_distro'] == distro]

    def find_flavor(self, ident):
        return self.flavors.get(ident)

    def quotas(self):
        q = {k: dict(v) for k, v in self.quota.items()}
        q['errors'] = {}
        return q

    # -- templates ------------------------------------------------------------
    def find_template(self, ident):
        for t in self.templates.values():
            if ident in (t['uuid'], t['name']):
                return dict(t)
        return None

    def create_template(self, spec):
        self.calls.append(('create_template', spec['name']))
        uuid = self._id('tmpl')
        t = dict(spec, uuid=uuid)
        self.templates[uuid] = t
        return dict(t)

    def delete_template(self, ident):
        self._refresh()
        t = self.find_template(ident)
        if t is None:
            return True
        if any(c['template'] == t['uuid'] for c in self.clusters.values()):
            raise cloud_mod.Conflict('template %s in use' % ident)
        del self.templates[t['uuid']]
        return True

    def list_templates(self, prefix=None):
        return [dict(t) for t in self.templates.values()
                if not prefix or t['name'].startswith(prefix)]

    # -- clusters -------------------------------------------------------------
    def create_cluster(self, name, template_id, node_count, master_count=1,
                       create_timeout=None, labels=None):
        self.calls.append(('create_cluster', name))
        if self.journal_path is not None:
            # The journal entry must be on disk before the create call.
            with open(self.journal_path) as f:
                text = f.read()
            if '"name": "%s"' % name not in text:
                raise AssertionError('%s created before it was journaled'
                                     % name)
        if self.on_create is not None:
            self.on_create(name)
        uuid = self._id('c')
        stack_id = self._id('stack')
        self.clusters[uuid] = {
            'uuid': uuid, 'name': name, 'status': 'CREATE_IN_PROGRESS',
            'stack_id': stack_id, 'node_count': node_count,
            'master_count': master_count, 'status_reason': None,
            'coe_version': 'v1.31.4', 'api_address': 'https://10.0.0.1:6443',
            'created': self.clock(), 'deleting_since': None,
            'made_at': self.clock() + self.made_after,
            'delete_fail_left': self.delete_failures,
            'template': template_id, 'created_at': '2026-11-22T03:00:00Z'}
        self.stacks[stack_id] = {'id': stack_id,
                                 'stack_name': '%s-%s' % (name, uuid[:8]),
                                 'stack_status': 'CREATE_IN_PROGRESS'}
        aid = self._id('ac')
        self.appcreds[aid] = {'id': aid, 'name': 'magnum-%s-1' % uuid,
                              'description': 'cluster %s' % uuid}
        return uuid

    def get_cluster(self, ident):
        self._refresh()
        c = self.clusters.get(ident)
        return self._view(c) if self._made(c) else None

    def list_clusters(self, prefix=None, detail=False):
        self.calls.append(('list_clusters', prefix))
        self._refresh()
        out = [self._view(c) for c in self.clusters.values()
               if self._made(c)
               and (not prefix or c['name'].startswith(prefix))]
        if not detail:
            # Magnum's plain list leaves the reason out.
            for c in out:
                del c['status_reason']
        return out

    def delete_cluster(self, ident):
        self.calls.append(('delete_cluster', ident))
        self._refresh()
        c = self.clusters.get(ident)
        if not self._made(c):
            return 'gone'
        if self.dropped_deletes > 0:
            self.dropped_deletes -= 1
            return 'deleting'
        if c['deleting_since'] is None:
            c['deleting_since'] = self.clock()
            c['status'] = 'DELETE_IN_PROGRESS'
        return 'deleting'

    # -- stacks ---------------------------------------------------------------
    def list_stacks(self, prefix=None):
        self._refresh()
        return [dict(s) for s in self.stacks.values()
                if not prefix or s['stack_name'].startswith(prefix)]

    def get_stack(self, ident):
        self._refresh()
        s = self.stacks.get(ident)
        return dict(s) if s else None

    def delete_stack(self, ident):
        self.calls.append(('delete_stack', ident))
        st = self.stacks.get(ident)
        if st is None:
            return 'gone'
        if not self.stack_delete_seconds:
            del self.stacks[ident]
            return 'gone'
        if st.get('deleting_since') is None:
            st['deleting_since'] = self.clock()
            st['stack_status'] = 'DELETE_IN_PROGRESS'
        return 'deleting'

    # -- application credentials ----------------------------------------------
    def list_app_credentials(self):
        self._refresh()
        return [dict(a) for a in self.appcreds.values()]

    def delete_app_credential(self, ident):
        self.appcreds.pop(ident, None)
        return 'gone'

    # -- Kubernetes -----------------------------------------------------------
    def write_kubeconfig(self, cluster, directory):
        return os.path.join(directory or '/nonexistent', 'kubeconfig')

    def count_ready_nodes(self, kubeconfig):
        return 999999, 999999

    # -- what is left ---------------------------------------------------------
    def everything(self):
        self._refresh()
        return {'clusters': sorted(c['name'] for c in
                                   self.clusters.values()),
                'templates': sorted(t['name'] for t in
                                    self.templates.values()),
                'stacks': sorted(s['stack_name'] for s in
                                 self.stacks.values()),
                'appcreds': sorted(a['name'] for a in
                                   self.appcreds.values())}

    def empty(self):
        return not any(self.everything().values())
