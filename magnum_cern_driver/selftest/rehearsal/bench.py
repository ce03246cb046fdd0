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
"""One large cluster through Magnum's API on the rehearsal, measured.

Reports: time to CREATE_COMPLETE (from the API call), Heat's own resource
count of the stack tree, heat-engine peak RSS (all its processes), Heat API
requests per Magnum status poll (from heat-api's access log), delete time.
"""

import datetime
import re
import threading
import time
import uuid

from magnum_cern_driver.selftest.rehearsal import procs

POLL_INTERVAL = 10.0   # Magnum's periodic status task (fixed)
_ACCESS = re.compile(r'^\[(?P<t>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)')


class RssSampler(threading.Thread):
    """Peak total RSS of a process and its descendants, sampled."""

    def __init__(self, pid, interval=1.0):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self._stop_event = threading.Event()

    def sample(self):
        family = [self.pid] + procs.descendants(self.pid)
        sizes = [procs.rss_kib(p) for p in family]
        self.peak_total = max(self.peak_total, sum(sizes))
        self.peak_single = max([self.peak_single] + sizes)

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def parse_access_times(lines):
    """``[(epoch seconds, method, path)]`` from gunicorn access lines."""
    out = []
    for line in lines:
        m = _ACCESS.match(line)
        if not m:
            continue
        try:
            when = datetime.datetime.strptime(m.group('t'),
                                              '%d/%b/%Y:%H:%M:%S %z')
        except ValueError:
            continue
        out.append((when.timestamp(), m.group('method'), m.group('path')))
    return out


def calls_per_poll(entries, start, end, interval=POLL_INTERVAL):
    """Heat requests in ``[start, end]`` divided by the polls in it."""
    inside = [e for e in entries if start <= e[0] <= end]
    polls = max(1.0, (end - start) / interval)
    return len(inside) / polls, inside


def run(reh, masters=3, workers=1000, delete=True, timeout=1800,
        out=print):
    from heatclient import client as heat_client
    from magnumclient import client as magnum_client
    import openstack

    cloud = reh.cloud_config()
    conn = openstack.connect(**cloud)
    magnum = magnum_client.Client(
        '1', session=conn.session, api_version='1.10',
        service_type='container-infra', interface='public',
        region_name=cloud['region_name'])
    admin = openstack.connect(**reh.cloud_config(admin=True))
    reh.configure_standins(boot_delay=0.0, failure_rate=0.0, fail_names=[])
    tag = uuid.uuid4().hex[:6]
    ct = magnum.cluster_templates.create(
        name='bench-ct-%s' % tag, coe='kubernetes',
        image_id=reh.image_name, server_type='vm', network_driver='flannel',
        flavor_id='m1.small', master_flavor_id='m1.medium',
        master_lb_enabled=masters > 1, floating_ip_enabled=False,
        labels={})
    engine = reh.state.processes['heat-engine']['pid']
    sampler = RssSampler(engine)
    sampler.sample()
    rss_before = sampler.peak_total
    sampler.start()
    access_log = reh.layout.log('heat-api-access')
    t0 = time.time()
    cluster = magnum.clusters.create(
        name='bench-%s' % tag, cluster_template_id=ct.uuid,
        master_count=masters, node_count=workers,
        create_timeout=max(1, int(timeout / 60)))
    accepted = time.time() - t0
    status = None
    while time.time() - t0 < timeout:
        c = magnum.clusters.get(cluster.uuid)
        if status != c.status:
            status = c.status
            out('  %6.1fs %s' % (time.time() - t0, status))
        if not c.status.endswith('IN_PROGRESS'):
            break
        time.sleep(1)
    created = time.time() - t0
    t_end = time.time()
    sampler.stop()
    result = {
        'masters': masters, 'workers': workers,
        'api_accept_s': round(accepted, 2),
        'status': c.status, 'status_reason': c.status_reason,
        'create_s': round(created, 1),
        'heat_engine_rss_before_mib': round(rss_before / 1024),
        'heat_engine_peak_rss_total_mib': round(sampler.peak_total / 1024),
        'heat_engine_peak_rss_process_mib':
            round(sampler.peak_single / 1024),
        'node_addresses': len(c.node_addresses or ()),
    }
    with open(access_log) as f:
        entries = parse_access_times(f)
    per_poll, inside = calls_per_poll(entries, t0 + accepted, t_end)
    result['heat_api_requests_during_create'] = len(inside)
    result['heat_api_requests_per_poll'] = round(per_poll, 2)
    kinds = {}
    for _, method, path in inside:
        key = '%s %s' % (method, re.sub(r'[0-9a-f-]{32,36}', '{id}',
                                        path.split('?')[0]))
        kinds[key] = kinds.get(key, 0) + 1
    result['heat_api_request_kinds'] = kinds
    if c.stack_id:
        t = time.time()
        heat = heat_client.Client('1', session=admin.session,
                                  service_type='orchestration',
                                  interface='public',
                                  region_name=cloud['region_name'])
        resources = heat.resources.list(c.stack_id, nested_depth=10)
        result['heat_resources'] = len(resources)
        result['heat_resource_list_s'] = round(time.time() - t, 1)
        by_type = {}
        for r in resources:
            by_type[r.resource_type] = by_type.get(r.resource_type, 0) + 1
        result['heat_resources_by_type'] = by_type
    if delete:
        t = time.time()
        magnum.clusters.delete(cluster.uuid)
        while time.time() - t < timeout:
            try:
                magnum.clusters.get(cluster.uuid)
            except Exception:  # noqa: NotFound ends the wait
                break
            time.sleep(2)
        result['delete_s'] = round(time.time() - t, 1)
        magnum.cluster_templates.delete(ct.uuid)
    return result
