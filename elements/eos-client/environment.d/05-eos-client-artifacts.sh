# shellcheck shell=bash
# Generated from magnum_cern_driver/templates/artifacts.yaml; do not edit.
# Regenerate: python -m magnum_cern_driver.elements_env --write

# Repository of the EOS client (eos-fusex).
export DIB_EOS_REPO_URL=${DIB_EOS_REPO_URL:-https://storage-ci.web.cern.ch/storage-ci/eos/diopside/tag/testing/el-\$releasever/\$basearch/}

# Repository of its dependencies.
export DIB_EOS_DEPS_REPO_URL=${DIB_EOS_DEPS_REPO_URL:-https://storage-ci.web.cern.ch/storage-ci/eos/diopside-depend/el-\$releasever/\$basearch/}

# Not in the manifest, or empty there (the element keeps its own default):
#   DIB_EOS_REPO_GPGKEY <- rpm_repositories.eos-client gpgkey
