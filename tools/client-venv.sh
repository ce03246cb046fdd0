#!/bin/bash
# Build (once) a virtual environment with the OpenStack clients operators
# and CI drive Magnum with: the openstack CLI (python-openstackclient with
# python-magnumclient) and Rally with its OpenStack plugins. They do not
# co-install with Magnum (Rally pins its own SQLAlchemy and friends), so
# they get their own environment; the functional tests in
# tests/functional/test_clients.py call this script and run the clients
# from it against the local rehearsal.
#
# Usage: tools/client-venv.sh DIR
#
# Idempotent: DIR/.complete records the pins it was built with; a second
# call with the same pins returns at once. Prints DIR/bin on success.
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
PINS=(
    python-openstackclient==10.5.0
    python-magnumclient==5.0.0
    rally==5.1.1
    rally-openstack==4.1.0
)
STAMP="${PINS[*]}"

if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$STAMP" ]; then
    echo "$DIR/bin"
    exit 0
fi
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
LOG=$DIR.log
if ! { "$PYTHON" -m venv "$DIR" &&
        "$DIR/bin/pip" install --disable-pip-version-check -q \
            "${PINS[@]}"; } >"$LOG" 2>&1; then
    echo "client-venv: building $DIR failed; the last lines of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
fi
echo "$STAMP" >"$DIR/.complete"
echo "$DIR/bin"
