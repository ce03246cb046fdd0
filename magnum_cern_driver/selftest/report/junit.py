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
"""JUnit XML: one testcase per check of the result document.

Suites follow the phases (preflight, ladder, load, baseline, cleanup);
a check's ``status`` maps to nothing (pass), ``<failure>``, ``<error>`` or
``<skipped>``.
"""

from xml.etree import ElementTree

PHASES = ('preflight', 'ladder', 'load', 'baseline', 'cleanup')


def _suite_of(check):
    return check.get('phase') or check.get('name', '').split('.')[0]


def render(result):
    root = ElementTree.Element('testsuites', {
        'name': 'magnum-cern-selftest %s' % result.get('run_id')})
    checks = result.get('checks') or []
    phases = list(PHASES) + sorted(set(_suite_of(c) for c in checks) -
                                   set(PHASES))
    totals = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    for phase in phases:
        mine = [c for c in checks if _suite_of(c) == phase]
        if not mine:
            continue
        counts = {'tests': len(mine),
                  'failures': sum(1 for c in mine if c['status'] == 'fail'),
                  'errors': sum(1 for c in mine if c['status'] == 'error'),
                  'skipped': sum(1 for c in mine
                                 if c['status'] == 'skipped')}
        for k in totals:
            totals[k] += counts[k]
        suite = ElementTree.SubElement(root, 'testsuite', dict(
            {k: str(v) for k, v in counts.items()}, name=phase,
            time='%.3f' % sum(c.get('time') or 0 for c in mine)))
        for c in mine:
            case = ElementTree.SubElement(suite, 'testcase', {
                'classname': c.get('classname') or phase,
                'name': c['name'],
                'time': '%.3f' % (c.get('time') or 0)})
            message = c.get('message') or ''
            if c['status'] == 'fail':
                el = ElementTree.SubElement(case, 'failure', {
                    'message': message[:1000], 'type': c.get('kind') or
                    'failure'})
                el.text = c.get('detail') or message
            elif c['status'] == 'error':
                el = ElementTree.SubElement(case, 'error', {
                    'message': message[:1000], 'type': c.get('kind') or
                    'error'})
                el.text = c.get('detail') or message
            elif c['status'] == 'skipped':
                ElementTree.SubElement(case, 'skipped', {
                    'message': message[:1000]})
            elif message:
                out = ElementTree.SubElement(case, 'system-out')
                out.text = message
    for k, v in totals.items():
        root.set(k, str(v))
    ElementTree.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' +
            ElementTree.tostring(root, encoding='unicode') + '\n')
