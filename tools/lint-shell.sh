#!/bin/bash
# Shell and element lint: bashate and shellcheck on every shell script we
# ship, dib-lint on the diskimage-builder elements.
set -euo pipefail

cd "$(dirname "$0")/.."

mapfile -t scripts < <(
    {
        git ls-files -co --exclude-standard -- '*.sh' 'devstack/plugin.sh' \
            'devstack/settings' 'tools/*' '.ci/run'
        if [ -d elements ]; then
            grep -rlE '^#!/bin/(ba)?sh' elements || true
        fi
    } | grep -v -E '\.(txt|py|md|rst|yaml)$' | sort -u)

echo "lint-shell: ${#scripts[@]} scripts"
bashate -i E006 -e E005,E042 "${scripts[@]}"
shellcheck -x "${scripts[@]}"
tools/dib-lint.sh
