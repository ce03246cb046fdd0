# shellcheck shell=bash
# Defaults for the eos-client element (see README.rst).

# Package repositories of the EOS client and of its dependencies.
export DIB_EOS_REPO_URL=${DIB_EOS_REPO_URL:-https://storage-ci.web.cern.ch/storage-ci/eos/diopside/tag/testing/el-\$releasever/\$basearch/}
export DIB_EOS_DEPS_REPO_URL=${DIB_EOS_DEPS_REPO_URL:-https://storage-ci.web.cern.ch/storage-ci/eos/diopside-depend/el-\$releasever/\$basearch/}
# 1 to check package signatures (needs DIB_EOS_REPO_GPGKEY).
export DIB_EOS_REPO_GPGCHECK=${DIB_EOS_REPO_GPGCHECK:-0}
export DIB_EOS_REPO_GPGKEY=${DIB_EOS_REPO_GPGKEY:-}
# Instances to configure (same default as the eos_instances label) and
# the domain of their MGM hosts: <instance>.<domain>.
export DIB_EOS_INSTANCES=${DIB_EOS_INSTANCES:-eoshome,eosproject}
export DIB_EOS_MGM_DOMAIN=${DIB_EOS_MGM_DOMAIN:-cern.ch}
# Where the instances appear: <root>/<instance>.
export DIB_EOS_MOUNT_ROOT=${DIB_EOS_MOUNT_ROOT:-/eos}
