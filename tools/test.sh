#!/bin/bash
# Run every test the project has: unit tests (Magnum's DB test base, Heat's
# engine code on our templates), lint (flake8 + hacking, bashate, shell
# check, dib-lint), the Sphinx documentation (warnings are errors) and the
# functional tests on the local rehearsal.
#
# Usage: tools/test.sh [tox environments, default: py311,pep8,docs,functional]
# The extended functional tests (faults, the openstack CLI and Rally) are
# the tox environment functional-extended; CI runs both (.ci/run).
set -euo pipefail

cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/tox -e "${1:-py311,pep8,docs,functional}"
