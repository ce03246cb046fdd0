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
"""Sphinx configuration of the magnum-cern-driver documentation.

The prose stays in ``docs/*.md`` (read on GitHub and by the unit tests);
the pages here include it through myst-parser. Two pages are generated
from the code: the ``[cern_driver]`` options (``oslo_config.sphinxext``)
and the label table (``_exts/cern_labels.py``).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_exts'))

project = 'magnum-cern-driver'
copyright = 'magnum-cern-driver developers'

extensions = [
    'myst_parser',
    'oslo_config.sphinxext',
    'cern_labels',
]

source_suffix = {
    '.rst': 'restructuredtext',
    '.md': 'markdown',
}
master_doc = 'index'
# included by labels.md, not a page of its own
exclude_patterns = ['_generated']

# docs/*.md link to their sections by GitHub's anchors (#1-install)
myst_heading_anchors = 3

pygments_style = 'sphinx'
html_theme = 'alabaster'
html_static_path = []
