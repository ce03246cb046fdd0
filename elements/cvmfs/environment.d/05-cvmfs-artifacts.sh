# shellcheck shell=bash
# Generated from magnum_cern_driver/templates/artifacts.yaml; do not edit.
# Regenerate: python -m magnum_cern_driver.elements_env --write

# RPM that configures the CVMFS package repository.
export DIB_CVMFS_RELEASE_RPM=${DIB_CVMFS_RELEASE_RPM:-https://cvmrepo.s3.cern.ch/cvmrepo/yum/cvmfs-release-latest.noarch.rpm}
