# shellcheck shell=bash
# Defaults for the cvmfs element (see README.rst). The repository RPM
# comes from the artifact manifest: environment.d/05-cvmfs-artifacts.sh.

# Comma-separated repositories (same default as the cvmfs_repositories label).
export DIB_CVMFS_REPOSITORIES=${DIB_CVMFS_REPOSITORIES:-cvmfs-config.cern.ch,sft.cern.ch}
# CVMFS_HTTP_PROXY: DIRECT, or http://host:port entries joined by ; or |.
export DIB_CVMFS_HTTP_PROXY=${DIB_CVMFS_HTTP_PROXY:-DIRECT}
# Local cache size in MB (CVMFS_QUOTA_LIMIT) and its location.
export DIB_CVMFS_QUOTA_LIMIT=${DIB_CVMFS_QUOTA_LIMIT:-20000}
export DIB_CVMFS_CACHE_BASE=${DIB_CVMFS_CACHE_BASE:-/var/lib/cvmfs}
