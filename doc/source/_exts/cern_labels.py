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
"""The label table, generated from the schema at every build.

Writes ``magnum_cern_driver.labels.markdown()`` to
``doc/source/_generated/labels.md`` (git-ignored), which ``labels.md``
includes. The file is rewritten only when the schema changed, so an
incremental build re-reads the page exactly then.
"""

import os

from magnum_cern_driver import labels

GENERATED = '_generated'


def _write_labels(app):
    directory = os.path.join(app.srcdir, GENERATED)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'labels.md')
    text = labels.markdown()
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, 'w') as f:
        f.write(text)


def setup(app):
    app.connect('builder-inited', _write_labels)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
