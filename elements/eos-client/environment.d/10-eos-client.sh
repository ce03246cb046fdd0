# shellcheck shell=bash
# Defaults for the eos-client element (see README.rst). The package
# repositories come from the artifact manifest:
# environment.d/05-eos-client-artifacts.sh.

# 1 to check package signatures (needs DIB_EOS_REPO_GPGKEY).
export DIB_EOS_REPO_GPGCHECK=${DIB_EOS_REPO_GPGCHECK:-0}
# Their signing key (when the manifest pins none).
export DIB_EOS_REPO_GPGKEY=${DIB_EOS_REPO_GPGKEY:-}
# Instances to configure (same default as the eos_instances label) and
# the domain of their MGM hosts: <instance>.<domain>.
export DIB_EOS_INSTANCES=${DIB_EOS_INSTANCES:-}
export DIB_EOS_MGM_DOMAIN=${DIB_EOS_MGM_DOMAIN:-cern.ch}
# Where the instances appear: <root>/<instance>.
export DIB_EOS_MOUNT_ROOT=${DIB_EOS_MOUNT_ROOT:-/eos}
