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

import testtools

from magnum_cern_driver import status


class StatusMappingTest(testtools.TestCase):

    def test_direct_mapping(self):
        for s in ('CREATE_IN_PROGRESS', 'CREATE_COMPLETE', 'CREATE_FAILED',
                  'UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE', 'UPDATE_FAILED',
                  'DELETE_IN_PROGRESS', 'DELETE_FAILED', 'ROLLBACK_COMPLETE',
                  'CHECK_COMPLETE'):
            self.assertEqual(s, status.cluster_status(s))

    def test_statuses_magnum_lacks_become_updates(self):
        self.assertEqual('UPDATE_IN_PROGRESS',
                         status.cluster_status('SUSPEND_IN_PROGRESS'))
        self.assertEqual('UPDATE_FAILED',
                         status.cluster_status('CHECK_FAILED'))
        self.assertIsNone(status.cluster_status('GARBAGE'))
        self.assertIsNone(status.cluster_status(None))

    def test_resolve_waits_for_delete_to_reach_heat(self):
        self.assertIsNone(status.resolve('DELETE_IN_PROGRESS',
                                         'CREATE_COMPLETE'))
        self.assertEqual('DELETE_FAILED',
                         status.resolve('DELETE_IN_PROGRESS',
                                        'DELETE_FAILED'))

    def test_resolve_update_without_stack_change(self):
        self.assertEqual('UPDATE_COMPLETE',
                         status.resolve('UPDATE_IN_PROGRESS',
                                        'CREATE_COMPLETE'))
        self.assertEqual('UPDATE_FAILED',
                         status.resolve('UPDATE_IN_PROGRESS',
                                        'UPDATE_FAILED'))
        self.assertEqual('CREATE_COMPLETE',
                         status.resolve('CREATE_IN_PROGRESS',
                                        'CREATE_COMPLETE'))

    def test_nodegroup_keeps_its_own_action(self):
        self.assertEqual('CREATE_COMPLETE', status.nodegroup_status(
            'CREATE_IN_PROGRESS', 'UPDATE_COMPLETE'))
        self.assertEqual('DELETE_FAILED', status.nodegroup_status(
            'DELETE_IN_PROGRESS', 'UPDATE_FAILED'))
        self.assertIsNone(status.nodegroup_status(
            'UPDATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS'))
        # not being changed: untouched
        self.assertIsNone(status.nodegroup_status(
            'CREATE_COMPLETE', 'UPDATE_FAILED'))

    def test_outputs(self):
        stack = {'outputs': [
            {'output_key': 'api_address', 'output_value': '10.0.0.5'},
            {'output_key': 'master_addresses',
             'output_value': ['10.0.0.2', '10.0.0.3']},
            {'output_key': 'ng_default_worker_addresses',
             'output_value': ['10.0.1.1', None, '10.0.1.2']},
            {'output_key': 'ng_gpu_addresses', 'output_value': [],
             'output_error': 'boom'},
        ]}
        observed = status.from_outputs(
            status.output_map(stack),
            [('default-master', 'master'), ('default-worker', 'worker'),
             ('gpu', 'worker')])
        self.assertEqual('https://10.0.0.5:6443', observed.api_address)
        self.assertEqual(['10.0.0.2', '10.0.0.3'], observed.master_addresses)
        self.assertEqual({'default-worker': ['10.0.1.1', '10.0.1.2']},
                         observed.node_addresses)

    def test_api_url_ipv6_and_missing(self):
        self.assertEqual('https://[fd00::1]:443', status.api_url('fd00::1',
                                                                 443))
        self.assertIsNone(status.api_url(None))
