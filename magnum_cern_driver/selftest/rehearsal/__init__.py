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
"""The local rehearsal: real Keystone, Glance, Heat and Magnum on loopback.

Only the data plane is hollow (stand-in Heat resources). Use::

    from magnum_cern_driver.selftest import rehearsal
    reh = rehearsal.ensure_up()          # idempotent
    conn = openstack.connect(**reh.cloud_config())
    reh.down()

This module stays light: heat-engine imports the stand-in plugin, which
imports :mod:`.standin_config` through this package.
"""


def ensure_up(state_dir=None, out=None, **settings):
    """Bring the rehearsal up if needed; return a :class:`Rehearsal`."""
    from magnum_cern_driver.selftest.rehearsal import core
    return core.ensure_up(state_dir, out=out, **settings)


def get(state_dir=None, out=None):
    """The :class:`Rehearsal` of ``state_dir`` without starting anything."""
    from magnum_cern_driver.selftest.rehearsal import core
    return core.Rehearsal(state_dir, out=out)


def default_state_dir():
    from magnum_cern_driver.selftest.rehearsal import state
    return state.default_state_dir()
