# shellcheck shell=bash
# Defaults for the cvmfs element (see README.rst).

# RPM that configures the CVMFS package repository.
export DIB_CVMFS_RELEASE_RPM=${DIB_CVMFS_RELEASE_RPM:-https://cvmrepo.s3.cern.ch/cvmrepo/yum/cvmfs-release-latest.noarch.rpm}
# Comma-separated repositories (same default as the cvmfs_repositories label).
export DIB_CVMFS_REPOSITORIES=${DIB_CVMFS_REPOSITORIES:-cvmfs-config.cern.ch,sft.cern.ch}
# CVMFS_HTTP_PROXY: DIRECT, or http://host:port entries joined by ; or |.
export DIB_CVMFS_HTTP_PROXY=${DIB_CVMFS_HTTP_PROXY:-DIRECT}
# Local cache size in MB (CVMFS_QUOTA_LIMIT) and its location.
export DIB_CVMFS_QUOTA_LIMIT=${DIB_CVMFS_QUOTA_LIMIT:-20000}
export DIB_CVMFS_CACHE_BASE=${DIB_CVMFS_CACHE_BASE:-/var/lib/cvmfs}
