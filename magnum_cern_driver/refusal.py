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
"""Undo the status Magnum records when the driver refuses a CA rotation.

Magnum's conductor (``magnum/conductor/handlers/ca_conductor.py``, 23.0.0)
stores new CA certificates, calls the driver, and on *any* driver error
saves the cluster ``UPDATE_FAILED`` with the error as its reason; nothing
ever clears that (the periodic sync polls only ``*_IN_PROGRESS``
clusters). The driver puts the certificates back itself (see
``cluster_secrets.undo_new_ca``); for the status, it cannot stop the
conductor's save, so it schedules this restore just before it raises: a
background thread waits until the conductor has saved exactly that
failure (status ``UPDATE_FAILED``, reason = the refusal's text) and puts
back the status the cluster had, with a reason saying what was refused.
Anything else seen first (another action, a delete) wins: nothing is
overwritten. If the conductor dies within those seconds the cluster stays
``UPDATE_FAILED`` as before.
"""

import threading
import time

from magnum.common import exception
from magnum import objects
from magnum.objects import fields
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# How long the restore waits for the conductor's save (seconds).
WAIT_SECONDS = 30
POLL_SECONDS = 0.2
REFUSED_PREFIX = 'Refused, nothing changed: '


def _spawn(fn, *args):
    thread = threading.Thread(target=fn, args=args, daemon=True,
                              name='magnum-cern-refusal-restore')
    thread.start()
    return thread


def restore_after_refusal(context, cluster, refusal, spawn=None):
    """Schedule putting back ``cluster``'s stored status after ``refusal``.

    ``refusal`` is the exception the driver is about to raise; the
    conductor will record ``str(refusal)``. ``spawn(fn, *args)`` runs the
    restore in the background (a daemon thread by default: Magnum 23 runs
    oslo.service's threading backend). Returns what ``spawn`` returns.
    """
    spawn = spawn or _spawn
    try:
        saved = objects.Cluster.get_by_uuid(context, cluster.uuid)
    except exception.ClusterNotFound:
        return None
    return spawn(restore, context, cluster.uuid, saved.status,
                 saved.status_reason, str(refusal))


def restored_reason(refusal_text):
    return (REFUSED_PREFIX + refusal_text)[:1000]


def restore(context, uuid, status, reason, refusal_text,
            wait=WAIT_SECONDS, sleep=time.sleep, clock=time.monotonic):
    """Wait for the conductor's failure record, then put ``status`` back.

    Returns True if the status was restored.
    """
    deadline = clock() + wait
    while True:
        try:
            current = objects.Cluster.get_by_uuid(context, uuid)
        except exception.ClusterNotFound:
            return False
        if (current.status == fields.ClusterStatus.UPDATE_FAILED
                and current.status_reason == refusal_text):
            current.status = status
            current.status_reason = restored_reason(refusal_text)
            current.save()
            LOG.info('Cluster %s: refused operation undone, status %s '
                     'restored', uuid, status)
            return True
        if current.status != status:
            # Another action moved the cluster: leave it alone.
            LOG.warning('Cluster %s: not restoring status %s after a '
                        'refusal, the cluster is now %s', uuid, status,
                        current.status)
            return False
        if clock() >= deadline:
            LOG.warning('Cluster %s: the conductor did not record the '
                        'refusal within %d s; status left as is', uuid,
                        wait)
            return False
        sleep(POLL_SECONDS)
