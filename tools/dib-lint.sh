#!/bin/bash
#
# Run diskimage-builder's dib-lint over elements/ (as the unit tests do).
# Needs diskimage-builder (pip install diskimage-builder) and file(1).

set -eu
set -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

lint=${DIB_LINT:-}
if [[ -z "$lint" ]]; then
    if [[ -x .venv/bin/dib-lint ]]; then
        lint=.venv/bin/dib-lint
        # dib-lint runs "python" and "flake8": those of the venv
        PATH="$top/.venv/bin:$PATH"
    elif command -v dib-lint > /dev/null; then
        lint=dib-lint
    else
        echo "dib-lint not found: pip install diskimage-builder" >&2
        exit 1
    fi
fi

# LIB_DIR: dib-lint also checks a library directory; we have none.
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
ELEMENTS_DIR=elements LIB_DIR="$empty" PATH="$PATH" "$lint"
