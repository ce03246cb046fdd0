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
"""Reports of a self-test run: terminal, JSON, JUnit XML, offline HTML.

Every renderer takes the result document (see :mod:`.jsonfmt`) after
:func:`.redact.scrub`, so no secret reaches any report.
"""

import os

from magnum_cern_driver.selftest.report import html
from magnum_cern_driver.selftest.report import jsonfmt
from magnum_cern_driver.selftest.report import junit
from magnum_cern_driver.selftest.report import redact

FILES = {'json': 'result.json', 'junit': 'junit.xml', 'html': 'report.html'}


def write_all(result, output_dir, secrets=()):
    """Write result.json, junit.xml and report.html; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    clean = redact.scrub(result, secrets)
    paths = {}
    for kind, fname in FILES.items():
        paths[kind] = os.path.join(output_dir, fname)
    tmp = {}
    tmp['json'] = jsonfmt.dumps(clean)
    tmp['junit'] = junit.render(clean)
    tmp['html'] = html.render(clean)
    for kind, text in tmp.items():
        text = redact.scrub_text(text, secrets)
        with open(paths[kind] + '.tmp', 'w') as f:
            f.write(text)
        os.replace(paths[kind] + '.tmp', paths[kind])
    return paths
