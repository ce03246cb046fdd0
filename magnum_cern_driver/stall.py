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
"""Stall detection: a stack in progress on which Heat makes no progress.

When a heat-engine dies while working on a stack, Heat leaves the stack
``*_IN_PROGRESS`` until the stack's timeout (an hour by default) and says
nothing. The status poll detects it: every ``[cern_driver]
stall_check_interval`` seconds (not every poll) it lists the stack's
resources that are in progress, at every depth, in one Heat call, and
keeps the set of them (a *fingerprint*). Any resource that starts or ends
changes the set; a set unchanged for ``stall_after`` seconds is a stall.

Heat's nested event list would give exact times, but Heat filters it by
the caller's project, and the poll runs as Magnum's service user; the
resource list has no such filter.

Wait conditions in progress are left out: they wait on the nodes, not on
Heat, and fail by their own timeout.

The poller is made per call, so what was seen is kept here, per process
(:data:`MONITOR`): a conductor that restarts starts watching afresh.
Everything but :class:`Monitor`'s small dict is pure.
"""

import collections
import datetime
import hashlib
import threading
import time

from magnum_cern_driver import heat
from magnum_cern_driver import status as status_mod

# Resource types that wait on something outside Heat and time out by
# themselves.
WAITING_TYPES = frozenset(['OS::Heat::WaitCondition',
                           'AWS::CloudFormation::WaitCondition'])
# How many stuck resources a reason names.
NAMED = 3
MAX_REASON = 1000
# Entries not looked at for this long belong to stacks no longer polled.
FORGET_SECONDS = 3600

Seen = collections.namedtuple('Seen', [
    'fingerprint',   # of the in-progress resources at the last check
    'since',         # wall-clock epoch when that fingerprint was first seen
    'checked',       # monotonic time of the last check
    'reason',        # the stall reason written, or None
])


def leaves(resources):
    """In-progress resources that contain no in-progress resource.

    A group or nested stack is in progress while any of its members is,
    so the leaves are the resources actually being worked on.
    """
    return heat.deepest(resources, 'IN_PROGRESS')


def _where(resource):
    name = resource.get('resource_name') or '?'
    if resource.get('parent_resource'):
        name = '%s/%s' % (resource['parent_resource'], name)
    return name


def watched(resources):
    """The in-progress leaves that Heat itself must move on."""
    return [r for r in leaves(resources)
            if r.get('resource_type') not in WAITING_TYPES]


def only_waiting(resources):
    """True when every in-progress leaf is a wait condition.

    Those are not Heat's to move on: each fails by its own timeout.
    """
    found = leaves(resources)
    return bool(found) and not watched(resources)


def fingerprint(resources):
    """A digest of which resources are in progress, in which state."""
    items = sorted('|'.join(str(x) for x in (
        heat.stack_id_of(r), r.get('resource_name'),
        r.get('physical_resource_id'),
        r.get('resource_status'))) for r in resources)
    return hashlib.sha256('\n'.join(items).encode()).hexdigest()


def first_sight(now, now_mono):
    """The :class:`Seen` of a stack the poll has not looked into yet.

    Counts as a look with nothing watched, so :func:`due` holds the first
    real look back one ``interval``: a stack that settles sooner is never
    listed. A stall is still reported within ``stall_after`` + about one
    interval of Heat's last progress, as for any look.
    """
    return Seen(None, now, now_mono, None)


def due(seen, now, now_mono, interval, stall_after):
    """True when the poll should look at the resources again.

    Every ``interval`` seconds, and as soon as an unchanged set reaches
    ``stall_after`` (so that a stall is reported within one poll of it).
    """
    if seen is None or now_mono - seen.checked >= interval:
        return True
    return (seen.reason is None and seen.fingerprint is not None
            and now - seen.since >= stall_after)


def observe(seen, resources, now, now_mono):
    """The new :class:`Seen` after a look at the in-progress resources.

    ``now`` is wall-clock epoch seconds, ``now_mono`` monotonic seconds.
    No resource in progress at all (an engine died between two resources)
    is a state like any other; only wait conditions in progress is not
    watched (fingerprint None).
    """
    fp = None if only_waiting(resources) else fingerprint(watched(resources))
    if seen is not None and fp is not None and seen.fingerprint == fp:
        return seen._replace(checked=now_mono)
    return Seen(fp, now, now_mono, None)


def is_stalled(seen, now, stall_after):
    """True when the same resources have been in progress too long."""
    return (seen is not None and seen.fingerprint is not None
            and now - seen.since >= stall_after)


def reason(resources, since, now, timeout_minutes=None):
    """The status_reason of a stalled stack (starts with STALLED_PREFIX)."""
    stuck = sorted(watched(resources), key=_where)
    named = ['%s (%s)' % (_where(r), r.get('resource_type', '?'))
             for r in stuck[:NAMED]]
    if len(stuck) > NAMED:
        named.append('and %d more' % (len(stuck) - NAMED))
    if not named:
        named = ['no resource in progress']
    when = datetime.datetime.fromtimestamp(
        since, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    minutes = int((now - since) // 60)
    text = ('%sno Heat progress for %d min (same resources in progress '
            'since %s): %s. Likely cause: the heat-engine working on them '
            'stopped (killed, restarted, or cut from its database or '
            'message queue), or a service they wait for (Nova, Neutron, '
            'Cinder, Octavia) does not answer. Heat will not resume them '
            'by itself' % (status_mod.STALLED_PREFIX, minutes, when,
                           ', '.join(named)))
    if timeout_minutes:
        text += ' before the stack timeout (%d min)' % timeout_minutes
    text += '; check the heat-engine logs, or delete the cluster.'
    return text[:MAX_REASON]


class Monitor(object):
    """What each stack looked like at its last check, in this process."""

    def __init__(self, clock=time.time, mono=time.monotonic):
        self._seen = {}
        self._lock = threading.Lock()
        self.clock = clock
        self.mono = mono

    def get(self, stack_id):
        with self._lock:
            self._forget_old()
            return self._seen.get(stack_id)

    def put(self, stack_id, seen):
        with self._lock:
            self._seen[stack_id] = seen

    def drop(self, stack_id):
        with self._lock:
            self._seen.pop(stack_id, None)

    def _forget_old(self):
        now = self.mono()
        old = [k for k, v in self._seen.items()
               if now - v.checked > FORGET_SECONDS]
        for k in old:
            del self._seen[k]


MONITOR = Monitor()
