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

import os
import re

import testscenarios
import testtools

from magnum_cern_driver import capacity
from magnum_cern_driver import labels
from magnum_cern_driver import userdata

load_tests = testscenarios.load_tests_apply_scenarios

GOOD = [
    ('kube_tag', 'v1.32.2', 'v1.32.2'),
    ('kube_tag', '1.33.0', '1.33.0'),
    ('containerd_version', '1.7.20', '1.7.20'),
    ('flannel_backend', 'vxlan', 'vxlan'),
    ('flannel_backend', 'udp', 'udp'),
    ('flannel_tag', 'v0.25.0', 'v0.25.0'),
    ('flannel_network_cidr', '10.200.0.0/16', '10.200.0.0/16'),
    ('flannel_network_subnetlen', '25', 25),
    ('fixed_subnet_cidr', '192.168.0.0/18', '192.168.0.0/18'),
    ('service_cluster_ip_range', '10.96.0.0/12', '10.96.0.0/12'),
    ('kube_proxy_mode', 'ipvs', 'ipvs'),
    ('network_mtu', '1450', 1450),
    ('container_storage_device', '/dev/vdb', '/dev/vdb'),
    ('container_storage_device', 'root', 'root'),
    ('cvmfs_enabled', 'True', True),
    ('cvmfs_enabled', 'no', False),
    ('cvmfs_csi_version', '2.4.1', '2.4.1'),
    ('cvmfs_repositories', 'atlas.cern.ch, cms.cern.ch',
     ('atlas.cern.ch', 'cms.cern.ch')),
    ('cvmfs_http_proxy', 'http://ca-proxy.cern.ch:3128',
     'http://ca-proxy.cern.ch:3128'),
    ('cvmfs_http_proxy', 'http://a.cern.ch:3128;http://b.cern.ch:3128',
     'http://a.cern.ch:3128;http://b.cern.ch:3128'),
    ('eos_enabled', 'true', True),
    ('eos_csi_version', '1.3.0', '1.3.0'),
    ('eos_instances', 'home-i01', ('home-i01',)),
    ('registry_mirror', 'registry.cern.ch/docker.io',
     'registry.cern.ch/docker.io'),
    ('registry_mirror', 'mirror.example.org:5000', 'mirror.example.org:5000'),
    ('master_lb_enabled', 'true', True),
    ('master_lb_type', 'octavia', 'octavia'),
    ('master_lb_type', 'vip', 'vip'),
    ('availability_zone', 'cern-geneva-a', 'cern-geneva-a'),
    ('max_batch_size', '50', 50),
    ('cloud_provider_enabled', 'false', False),
]

BAD = [
    ('kube_tag', 'latest'),
    ('kube_tag', 'v1.30.2'),      # before kubeadm v1beta4
    ('kube_tag', 'v1.34.0'),      # newer than the supported minors
    ('kube_tag', 'v2.31.0'),
    ('flannel_network_subnetlen', '26'),   # fewer than 110 pod addresses
    ('master_lb_type', 'haproxy'),
    ('fixed_subnet_cidr', '10.0.0.0/19; id'),
    ('kube_tag', 'v1.30.2; rm -rf /'),
    ('flannel_backend', 'gre'),
    ('flannel_backend', 'host-gw '),
    ('flannel_network_cidr', '10.0.0.0/16 && id'),
    ('flannel_network_subnetlen', '8'),
    ('flannel_network_subnetlen', '24x'),
    ('network_mtu', '10000'),
    ('container_storage_device', '/dev/../etc/passwd'),
    ('cvmfs_enabled', 'maybe'),
    ('cvmfs_repositories', 'atlas.cern.ch,$(reboot)'),
    ('cvmfs_http_proxy', 'http://proxy:3128`id`'),
    ('registry_mirror', 'reg.example.org/a b'),
    ('registry_mirror', 'reg.example.org/\nx'),
    ('availability_zone', 'az\'1'),
    ('availability_zone', 'az\u2010one'),  # unicode hyphen look-alike
    ('max_batch_size', '0'),
    ('eos_instances', 'EOS HOME'),
    ('kube_tag', 'v1.' + '1' * 300 + '.0'),
]


class TestGoodValues(testtools.TestCase):
    scenarios = [('%s=%s' % (n, v), {'name': n, 'raw': v, 'typed': t})
                 for n, v, t in GOOD]

    def test_typed(self):
        values = labels.validate({self.name: self.raw}, unknown='reject')
        self.assertEqual(self.typed, values[self.name])
        rendered = labels.render(values)[self.name.upper()]
        self.assertEqual(self.typed, labels.SCHEMA[self.name].parse(rendered))


class TestBadValues(testtools.TestCase):
    scenarios = [('%s=%r' % (n, v[:30]), {'name': n, 'raw': v})
                 for n, v in BAD]

    def test_rejected_naming_the_label(self):
        e = self.assertRaises(labels.InvalidLabel, labels.validate,
                              {self.name: self.raw})
        self.assertEqual(self.name, e.label)
        self.assertIn(self.name, str(e))


class TestValidate(testtools.TestCase):

    def test_every_label_covered_by_good_values(self):
        self.assertEqual(set(labels.SCHEMA), {n for n, _, _ in GOOD})

    def test_defaults_are_valid(self):
        for label in labels.SCHEMA.values():
            self.assertEqual(label.default,
                             label.parse(label.render(label.default)),
                             label.name)

    def test_defaults_without_labels(self):
        values = labels.validate({})
        self.assertEqual('host-gw', values['flannel_backend'])
        self.assertFalse(values['cvmfs_enabled'])

    def test_site_defaults_then_user_labels(self):
        values = labels.validate({'kube_tag': 'v1.32.0'},
                                 defaults={'kube_tag': 'v1.31.0',
                                           'cvmfs_enabled': 'true'})
        self.assertEqual('v1.32.0', values['kube_tag'])
        self.assertTrue(values['cvmfs_enabled'])

    def test_kube_tag_bounds_message(self):
        e = self.assertRaises(labels.InvalidLabel, labels.validate,
                              {'kube_tag': 'v1.30.9'})
        self.assertIn('1.31 to 1.33', str(e))
        self.assertIn('v1beta4', str(e))
        for minor in range(labels.KUBE_MINORS[0][1],
                           labels.KUBE_MINORS[1][1] + 1):
            labels.validate({'kube_tag': 'v1.%d.0' % minor})

    def test_parse_version(self):
        self.assertEqual((1, 32, 4), labels.parse_version('v1.32.4'))
        self.assertEqual((1, 32, 4), labels.parse_version('1.32.4'))
        self.assertRaises(ValueError, labels.parse_version, 'v1.32')

    def test_default_networks_hold_5000_nodes(self):
        defaults = labels.validate({})
        capacity.check_nodes(capacity.KUBERNETES_MAX_NODES, defaults)
        self.assertGreaterEqual(capacity.summary(defaults)['max_nodes'],
                                capacity.KUBERNETES_MAX_NODES)

    def test_docs_have_the_capacity_arithmetic(self):
        text = labels.markdown()
        self.assertIn('## Capacity', text)
        self.assertIn('2^(24 - 11) = 8192', text)

    def test_bad_site_default_rejected(self):
        self.assertRaises(labels.InvalidLabel, labels.validate, {},
                          defaults={'flannel_backend': 'x'})

    def test_unknown_warn_or_reject(self):
        warned = []
        values = labels.validate({'foo': 'bar'}, warn=warned.append)
        self.assertEqual(['foo'], warned)
        self.assertNotIn('foo', values)
        e = self.assertRaises(labels.UnknownLabel, labels.validate,
                              {'foo': 'bar'}, unknown='reject')
        self.assertEqual('foo', e.label)


class TestNodeLabels(testtools.TestCase):
    """What reaches the nodes, and their check, declared with each label.

    The bash side is in fragments/test_injection.
    """

    def test_node_labels_in_schema_order(self):
        self.assertEqual(
            tuple(n for n, label in labels.SCHEMA.items() if label.node),
            labels.NODE_LABELS)
        self.assertIs(labels.NODE_LABELS, userdata.NODE_LABELS)
        self.assertIn('kube_tag', labels.NODE_LABELS)
        for other in ('availability_zone', 'master_lb_type',
                      'max_batch_size', 'fixed_subnet_cidr'):
            self.assertNotIn(other, labels.NODE_LABELS)

    def test_every_node_label_has_an_anchored_shell_pattern(self):
        checks = labels.shell_checks()
        self.assertEqual([n.upper() for n in labels.NODE_LABELS],
                         [name for name, _pattern in checks])
        for name, pattern in checks:
            self.assertTrue(pattern.startswith('^'), name)
            self.assertTrue(pattern.endswith('$'), name)
            self.assertIsNone(re.search(r'[\s\'"`]', pattern), name)

    def test_other_labels_have_none(self):
        for name, label in labels.SCHEMA.items():
            if not label.node:
                self.assertEqual('', label.shell_pattern(), name)
                self.assertEqual('', label.shell, name)

    def test_bool_and_choice_patterns_are_derived(self):
        self.assertEqual('^(true|false)$',
                         labels.SCHEMA['cvmfs_enabled'].shell_pattern())
        self.assertEqual('^(host-gw|vxlan|udp)$',
                         labels.SCHEMA['flannel_backend'].shell_pattern())
        odd = labels.Label('x', 'str', 'a.b', 'h', choices=('a.b', 'c|d'),
                           node=True)
        self.assertEqual(r'^(a\.b|c\|d)$', odd.shell_pattern())

    def test_python_and_shell_patterns_agree_on_samples(self):
        # The node pattern accepts every value the schema accepts (the
        # shell's ERE and Python's re agree on these anchored patterns).
        for name, _raw, typed in GOOD:
            label = labels.SCHEMA[name]
            if label.node:
                self.assertTrue(re.search(label.shell_pattern(),
                                          label.render(typed)), name)

    def test_node_label_without_a_usable_pattern_is_refused(self):
        bad = [
            labels.Label('x', 'str', '', 'h', pattern='a', node=True),
            labels.Label('x', 'int', 0, 'h', node=True),
            labels.Label('x', 'str', '', 'h', node=True, shell='[a-z]+'),
            labels.Label('x', 'str', '', 'h', node=True, shell="^a'b$"),
            labels.Label('x', 'str', '', 'h', node=True, shell='^a b$'),
            labels.Label('x', 'str', '', 'h', node=True, shell='^a$\n'),
        ]
        for label in bad:
            self.assertRaises(ValueError, label.shell_pattern)


class TestDocs(testtools.TestCase):

    def test_docs_labels_in_sync(self):
        path = os.path.join(os.path.dirname(__file__), '..', '..', 'docs',
                            'labels.md')
        with open(path) as f:
            self.assertEqual(labels.markdown(), f.read(),
                             'run: python -m magnum_cern_driver.labels > '
                             'docs/labels.md')
