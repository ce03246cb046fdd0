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
"""Rally's environment spec for the rehearsal (pure).

``rally env create --name rehearsal --spec rally-env.json`` with the file
``up`` writes next to ``clouds.yaml`` (0600: it holds the member's
password). The spec names the rehearsal's Keystone and its existing member
user (Rally's ``existing users`` form of the ``openstack`` platform), so
Rally runs its scenarios as that user and creates no users of its own.
"""

import json

ENV_FILE = 'rally-env.json'


def env_spec(member):
    """The spec for a cloud entry as in ``clouds.yaml`` (the member's)."""
    auth = member['auth']
    return {'openstack': {
        'auth_url': auth['auth_url'],
        'region_name': member.get('region_name'),
        'endpoint_type': member.get('interface', 'public'),
        'https_insecure': False,
        'users': [{
            'username': auth['username'],
            'password': auth['password'],
            'project_name': auth['project_name'],
            'user_domain_name': auth.get('user_domain_name', 'Default'),
            'project_domain_name': auth.get('project_domain_name',
                                            'Default'),
        }],
    }}


def render_env(member):
    return json.dumps(env_spec(member), indent=2, sort_keys=True) + '\n'
