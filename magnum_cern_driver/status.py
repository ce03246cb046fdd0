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
"""Heat stack state -> Magnum cluster and nodegroup state (pure).

Nothing here does I/O: the poller (``poller.py``) reads the stack (and,
once, its outputs) through ``heat.py`` and applies what these functions
return.
"""

import dataclasses

from magnum.objects import fields

from magnum_cern_driver import render

CS = fields.ClusterStatus

IN_PROGRESS = 'IN_PROGRESS'
COMPLETE = 'COMPLETE'
FAILED = 'FAILED'

# Heat actions Magnum has no status for are reported as updates.
_ACTIONS = ('CREATE', 'UPDATE', 'DELETE', 'ROLLBACK', 'RESUME', 'RESTORE',
            'SNAPSHOT', 'CHECK', 'ADOPT')


def split(stack_status):
    """'UPDATE_IN_PROGRESS' -> ('UPDATE', 'IN_PROGRESS')."""
    for state in (IN_PROGRESS, COMPLETE, FAILED):
        suffix = '_' + state
        if stack_status and stack_status.endswith(suffix):
            return stack_status[:-len(suffix)], state
    return None, None


def cluster_status(stack_status):
    """The Magnum ClusterStatus for a Heat stack status (or None)."""
    action, state = split(stack_status)
    if action is None:
        return None
    candidate = '%s_%s' % (action, state)
    if candidate in CS.ALL:
        return candidate
    # SUSPEND_*, CHECK_IN_PROGRESS, RESUME_IN_PROGRESS, ...: Magnum has no
    # such status; the closest honest one is an update.
    return '%s_%s' % ('UPDATE', state)


def resolve(current, stack_status):
    """The cluster status to report, given Magnum's and the stack's.

    :param current: the cluster's status now (what Magnum asked for).
    :param stack_status: the Heat stack's status.
    :returns: the new cluster status, or None to leave it as it is.
    """
    mapped = cluster_status(stack_status)
    if mapped is None:
        return None
    cur_action, _ = split(current)
    stack_action, state = split(stack_status)
    if cur_action == 'DELETE' and stack_action != 'DELETE':
        # The delete has not reached Heat yet: keep waiting.
        return None
    if cur_action == 'UPDATE' and stack_action == 'CREATE':
        # A change that needed no stack update (or not started yet): the
        # stack's last operation was its create.
        return '%s_%s' % ('UPDATE', state)
    return mapped


def is_in_progress(status):
    return bool(status) and status.endswith('_' + IN_PROGRESS)


def nodegroup_status(ng_status, stack_status):
    """New status of a nodegroup that is being changed, or None.

    A nodegroup carries its own action (the conductor set
    ``CREATE_IN_PROGRESS`` for a new nodegroup, ``UPDATE_IN_PROGRESS`` for a
    resize, ``DELETE_IN_PROGRESS`` for a removal); the cluster stack's
    update says whether it worked. Nodegroups not in progress keep their
    status.
    """
    if not is_in_progress(ng_status):
        return None
    _, state = split(stack_status)
    if state in (None, IN_PROGRESS):
        return None
    ng_action, _ = split(ng_status)
    return '%s_%s' % (ng_action, state)


def output_map(stack):
    """{output_key: value} from a stack dict (outputs resolved)."""
    result = {}
    for out in (stack or {}).get('outputs') or ():
        if 'output_error' in out:
            continue
        result[out.get('output_key')] = out.get('output_value')
    return result


def _addresses(value):
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    flat = []
    for item in value:
        if isinstance(item, (list, tuple)):
            flat.extend(str(i) for i in item if i)
        elif item:
            flat.append(str(item))
    return flat


def api_url(address, port=6443):
    if not address:
        return None
    host = '[%s]' % address if ':' in address else address
    return 'https://%s:%d' % (host, port)


@dataclasses.dataclass
class Observed:
    """What the outputs of a complete stack say about the cluster."""
    api_address: str
    master_addresses: list
    # nodegroup name -> addresses (workers)
    node_addresses: dict


def from_outputs(outputs, nodegroups, apiserver_port=6443):
    """Read ``api_address`` and node addresses from stack outputs.

    :param nodegroups: (name, role) pairs of the cluster's nodegroups.
    """
    node_addresses = {}
    for name, role in nodegroups:
        if role == 'master':
            continue
        key = render.addresses_output(render.nodegroup_key(name))
        if key in outputs:
            node_addresses[name] = _addresses(outputs.get(key))
    return Observed(
        api_address=api_url(outputs.get('api_address'), apiserver_port),
        master_addresses=_addresses(outputs.get('master_addresses')),
        node_addresses=node_addresses)


# Reasons and notes the driver and the poller write.

# Starts a nodegroup's status_reason after a drain (resize); the poll keeps
# such a reason when the stack update completes.
DRAIN_NOTE = 'Drain: '
# The poll sent the stack's DELETE again (the delete raced the create).
DELETE_RESENT_REASON = 'Stack delete sent again'
# Starts the status_reason of a cluster whose stack is in progress but Heat
# has made no progress for [cern_driver] stall_after (see stall.py); the
# status itself stays *_IN_PROGRESS. The self-test reads this prefix.
STALLED_PREFIX = 'Stalled: '


def is_stalled(reason):
    """True if a cluster's status_reason reports a stalled stack."""
    return bool(reason) and reason.startswith(STALLED_PREFIX)


def transient_reason(error):
    """Heat did not answer the poll (down, unreachable, 5xx)."""
    return ('Heat unreachable or failing, status not updated, will retry: '
            '%s' % error)[:1000]


def missing_stack_reason(stack_id):
    return ('Heat stack %s no longer exists (deleted outside Magnum?)'
            % stack_id)


def no_stack_reason(grace_seconds):
    return 'No Heat stack was created within %d s' % grace_seconds
