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
"""Exit codes of magnum-cern-selftest, and how several outcomes combine.

=====  ==============================================================
code   meaning
=====  ==============================================================
0      every check passed
1      error: bad input, preflight failure, a cluster failed, interrupted
2      timeout: a cluster (or a delete) did not finish in its time, or
       stalled (Heat made no progress; the size ended early)
3      target missed: clusters built, but slower than the reference
4      regression: slower or worse than the baseline run
5      resources left behind: run ``cleanup`` (the report lists them)
=====  ==============================================================

When several apply, the most urgent wins: leftovers need the operator's
hands first, then errors, timeouts, regressions, and target misses.
"""

OK = 0
ERROR = 1
TIMEOUT = 2
TARGET_MISSED = 3
REGRESSION = 4
LEFTOVERS = 5

NAMES = {
    OK: 'ok',
    ERROR: 'error',
    TIMEOUT: 'timeout',
    TARGET_MISSED: 'target missed',
    REGRESSION: 'regression',
    LEFTOVERS: 'resources left behind',
}

# Most urgent first.
PRECEDENCE = (LEFTOVERS, ERROR, TIMEOUT, REGRESSION, TARGET_MISSED, OK)


def combine(*codes):
    """The single exit code for a set of outcomes (most urgent wins)."""
    present = set(c for c in codes if c is not None)
    for code in PRECEDENCE:
        if code in present:
            return code
    return OK
