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
"""The JSON result document: versioned schema, raw samples kept.

Top-level keys (schema 1.x; minor versions only add keys):

``schema``, ``schema_version``, ``tool_version``, ``run_id``,
``started_at``/``finished_at`` (UTC ISO 8601), ``target``, ``options``,
``reference`` (the table used), ``plan`` (steps), ``preflight`` (checks,
fingerprint, budget, quota, defects), ``fingerprint``, ``sizes`` (one per
step: verdict, summary, ``results`` per cluster with its raw poll
``samples`` [seconds since start, status], ``transitions``,
``time_in_status`` and, since 1.1, ``stalls`` [{``since``, ``until``}]:
the periods the driver reported the stack stalled), ``load`` (the load
phase's document), ``baseline`` (comparison), ``cleanup`` (deleted,
leftovers, kept), ``checks`` (one per JUnit testcase), ``outcome`` and
``exit_code``.
"""

import json

SCHEMA_ID = 'magnum-cern-selftest/result'
# 1.1: the 'stalled' verdict, results[].stalls, summary.stalled.
SCHEMA_VERSION = '1.1'
REQUIRED = ('schema', 'schema_version', 'run_id', 'sizes', 'checks',
            'exit_code')


class ReportError(Exception):
    """A result file cannot be used; str() is one line."""


def dumps(result):
    doc = dict(result)
    doc.setdefault('schema', SCHEMA_ID)
    doc.setdefault('schema_version', SCHEMA_VERSION)
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + '\n'


def validate(doc, origin='<result>'):
    if not isinstance(doc, dict) or doc.get('schema') != SCHEMA_ID:
        raise ReportError('%s is not a magnum-cern-selftest result (schema '
                          '%r)' % (origin, (doc or {}).get('schema')
                                   if isinstance(doc, dict) else None))
    major = str(doc.get('schema_version', '')).split('.')[0]
    if major != SCHEMA_VERSION.split('.')[0]:
        raise ReportError('%s has schema version %s; this tool reads %s.x'
                          % (origin, doc.get('schema_version'),
                             SCHEMA_VERSION.split('.')[0]))
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ReportError('%s lacks %s' % (origin, ', '.join(missing)))
    return doc


def load(path):
    """Read and validate a result file; ReportError (one line) if not."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise ReportError('cannot read %s: %s' % (path, e.strerror or e))
    except ValueError as e:
        raise ReportError('%s is not valid JSON: %s' % (path, e))
    return validate(doc, path)
