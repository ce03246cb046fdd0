# shellcheck shell=bash
# Defaults for the cern-ca element (see README.rst).

# Where the site CA bundle comes from: a PEM file on the build host or an
# https:// URL. Required: the build stops when it is empty.
export DIB_CERN_CA_BUNDLE=${DIB_CERN_CA_BUNDLE:-}
# File name of the bundle in /etc/pki/ca-trust/source/anchors/.
export DIB_CERN_CA_NAME=${DIB_CERN_CA_NAME:-cern-ca-bundle.pem}
