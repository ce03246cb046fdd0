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
"""The options of a self-test command, typed.

The command line (:mod:`.cli`) parses them with argparse and builds one
:class:`RunOptions` from the namespace; the session and the commands read
that object, never the namespace. Defaults are those of the ``run``
command, so that tests and other callers can build one directly:
``RunOptions(max_nodes=16, skip_load=True)``. The argparse types that
check each value come last.
"""

import argparse
import dataclasses

from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import plan as plan_mod

# The options a run records in its result document (``options``).
RECORDED = ('max_nodes', 'sizes', 'concurrency', 'cluster_template',
            'labels', 'keep', 'timeout_scale', 'continue_on_failure',
            'masters', 'skip_load', 'load_target_rps', 'baseline',
            'reference', 'image', 'flavor', 'master_flavor',
            'network_driver', 'fleet', 'size', 'fixed_network',
            'fixed_subnet')


@dataclasses.dataclass(frozen=True)
class RunOptions(object):
    """Every option of the self-test's own subcommands.

    A subcommand sets those it has; the others keep their defaults.
    """

    command: str | None = None

    # -- the cloud (given before or after the subcommand) -----------------
    os_cloud: str | None = None
    os_region_name: str | None = None
    rehearsal_state_dir: str | None = None
    journal_dir: str | None = None
    verbose: bool = False

    # -- the ladder (run, preflight) ----------------------------------------
    max_nodes: int | None = None
    sizes: list | None = None
    concurrency: int | None = None
    masters: int = 1
    reference: str | None = None
    timeout_scale: float = 1.0
    # --fleet N --size S: one fleet step of N clusters of S nodes
    fleet: int | None = None
    size: int | None = None

    # -- the cluster template ---------------------------------------------
    cluster_template: str | None = None
    image: str | None = None
    flavor: str | None = None
    master_flavor: str | None = None
    keypair: str | None = None
    external_network: str | None = None
    network_driver: str = 'flannel'
    docker_volume_size: int | None = None
    master_lb: bool = False
    # --fixed-network NAME [--fixed-subnet NAME]: no per-cluster network
    fixed_network: str | None = None
    fixed_subnet: str | None = None
    # --label KEY=VALUE (repeated) as one dict
    labels: dict = dataclasses.field(default_factory=dict)

    # -- versions the APIs cannot tell ------------------------------------
    heat_version: str | None = None
    magnum_version: str | None = None

    # -- node artifacts ---------------------------------------------------
    skip_artifact_check: bool = False
    artifact_manifest: str | None = None
    artifact_timeout: float = 60.0

    # -- run --------------------------------------------------------------
    output_dir: str | None = None
    # run: --baseline RESULT_JSON; compare: the BASELINE_JSON argument
    baseline: str | None = None
    keep: bool = False
    dry_run: bool = False
    continue_on_failure: bool = False
    skip_load: bool = False
    load_target_rps: int | None = None

    # -- budget, render, artifacts ----------------------------------------
    workers: int | None = None
    nodegroups: int = 1
    shard_size: int | None = None
    role: str | None = None
    registry_mirror: str = ''
    format: str | None = None

    # -- cleanup ----------------------------------------------------------
    run_id: str | None = None
    stale: bool = False
    journal: str | None = None
    older_than: float | None = None

    # -- report, compare --------------------------------------------------
    result: str | None = None
    current: str | None = None

    @classmethod
    def from_namespace(cls, namespace):
        """The options of an argparse namespace.

        What the namespace does not set keeps its default.
        """
        given = vars(namespace)
        values = {f.name: given[f.name] for f in dataclasses.fields(cls)
                  if f.name in given}
        values['labels'] = dict(given.get('label_list') or [])
        return cls(**values)

    def recorded(self):
        """The options recorded in the result document."""
        return {k: getattr(self, k) for k in RECORDED}


# -- argparse types of the values --------------------------------------------

def positive_int(what):
    def conv(text):
        try:
            return plan_mod.parse_positive_int(text, what)
        except plan_mod.PlanError:
            raise argparse.ArgumentTypeError(
                'must be a positive whole number, got %r' % text)
    return conv


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('must be a positive number, got %r'
                                         % text)
    return value


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('must be a number >= 0, got %r'
                                         % text)
    return value


def sizes(text):
    try:
        return plan_mod.parse_sizes(text)
    except plan_mod.PlanError as e:
        raise argparse.ArgumentTypeError(str(e))


def label(text):
    if '=' not in text or not text.split('=', 1)[0]:
        raise argparse.ArgumentTypeError('labels are key=value, got %r'
                                         % text)
    return tuple(text.split('=', 1))


def run_id(text):
    if not journal_mod.valid_run_id(text):
        raise argparse.ArgumentTypeError(
            'not a run id (like r2611220313-a1b2): %r' % text)
    return text
