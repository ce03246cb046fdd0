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
"""WSGI application factories for gunicorn (``module:factory()``).

The services' own WSGI modules parse ``sys.argv`` (gunicorn's arguments)
as their configuration; each factory resets ``sys.argv`` to point at the
rehearsal's config file (``$MAGNUM_CERN_REHEARSAL_CONF``) before it imports
the service.
"""

import os
import sys

ENV_CONF = 'MAGNUM_CERN_REHEARSAL_CONF'


def _conf():
    return os.environ[ENV_CONF]


def keystone():
    os.environ['OS_KEYSTONE_CONFIG_FILES'] = _conf()
    sys.argv = ['keystone-wsgi-public']
    from keystone.server import wsgi
    return wsgi.initialize_public_application()


def glance():
    os.environ['OS_GLANCE_CONFIG_DIR'] = os.path.dirname(_conf())
    sys.argv = ['glance-api']
    from glance.common import wsgi_app
    return wsgi_app.init_app()


def heat_api():
    sys.argv = ['heat-wsgi-api', '--config-file', _conf()]
    from heat.api.openstack import wsgi
    return wsgi.init_application()


def cloudapi():
    from magnum_cern_driver.selftest.rehearsal import cloudapi as app
    return app.application
