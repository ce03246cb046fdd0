#!/bin/bash
# shellcheck disable=SC2034  # the RE_* constants serve the fragments
# magnum-cern-driver node bootstrap: library sourced by every fragment.
#
# Values reach the fragments only through the generated environment file
# (single-quoted, sourced here and validated again below) and through the
# run-time files Heat fills by text substitution (read as data, validated,
# never sourced). Secrets stay in files: never echo them, never put them on
# a command line.
#
# MCD_ROOT is a prefix for every file path: empty on a node, a sandbox
# directory in the tests.

R="${MCD_ROOT:-}"
MCD_LIB="$R/usr/local/lib/magnum-cern"
MCD_BASE="$R/etc/magnum-cern"
MCD_ENV="$MCD_BASE/bootstrap.env"
MCD_SECRETS="$MCD_BASE/secrets"
MCD_RUNTIME="$MCD_BASE/runtime"
MCD_STATE="$R/var/lib/magnum-cern"
KUBECONFIG_ADMIN="$R/etc/kubernetes/admin.conf"
export MCD_LIB KUBECONFIG_ADMIN

umask 077
# Command substitutions in plain assignments stop the script on failure.
shopt -s inherit_errexit

RE_VERSION='^v?[0-9]+\.[0-9]+\.[0-9]+$'
RE_CIDR='^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$'
RE_BOOL='^(true|false)$'
RE_OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
RE_IPV4="^$RE_OCTET(\\.$RE_OCTET){3}\$"
RE_INDEX='^(0|[1-9][0-9]{0,3})$'
RE_URL='^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?'
RE_URL+='(/[A-Za-z0-9._~%/=-]*)?(\?[A-Za-z0-9._~%=&-]*)?$'
RE_WAIT_TOKEN='^[A-Za-z0-9_=-]+$'
RE_BOOTSTRAP_TOKEN='^[a-z0-9]{6}\.[a-z0-9]{16}$'
RE_CA_HASH='^sha256:[0-9a-f]{64}$'
RE_CERT_KEY='^[0-9a-f]{64}$'
RE_SAFE='^[A-Za-z0-9._:/@;|,+=-]*$'

log() {
    printf 'magnum-cern-bootstrap: %s\n' "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# check NAME VALUE REGEX: fail (without printing VALUE) unless it matches.
check() {
    [[ $2 =~ $3 ]] || die "$1: invalid value"
}

is_true() {
    [ "$1" = true ]
}

# Source the environment file and validate every value again.
load_env() {
    [ -f "$MCD_ENV" ] || die "missing $MCD_ENV"
    # shellcheck source=/dev/null
    . "$MCD_ENV"
    check MCD_ROLE "${MCD_ROLE:-}" '^(master|worker)$'
    check SITE_CA_ENABLED "${SITE_CA_ENABLED:-}" "$RE_BOOL"
    check CCM_CHART_VERSION "${CCM_CHART_VERSION:-}" "$RE_VERSION"
    check CLUSTER_UUID "${CLUSTER_UUID:-}" '^[0-9a-fA-F-]{1,64}$'
    check SERVER_TYPE "${SERVER_TYPE:-}" '^(vm|baremetal)$'
    check KUBE_API_PORT "${KUBE_API_PORT:-}" '^[1-9][0-9]{0,4}$'
    check DOCKER_VOLUME_SIZE "${DOCKER_VOLUME_SIZE:-}" '^(0|[1-9][0-9]{0,4})$'
    check MASTER_COUNT "${MASTER_COUNT:-}" '^[1-9][0-9]?$'
    check KUBE_TAG "${KUBE_TAG:-}" "$RE_VERSION"
    check CONTAINERD_VERSION "${CONTAINERD_VERSION:-}" "$RE_VERSION"
    check FLANNEL_BACKEND "${FLANNEL_BACKEND:-}" '^(host-gw|vxlan|udp)$'
    check FLANNEL_TAG "${FLANNEL_TAG:-}" "$RE_VERSION"
    check FLANNEL_NETWORK_CIDR "${FLANNEL_NETWORK_CIDR:-}" "$RE_CIDR"
    check FLANNEL_NETWORK_SUBNETLEN "${FLANNEL_NETWORK_SUBNETLEN:-}" \
        '^[1-9][0-9]$'
    check SERVICE_CLUSTER_IP_RANGE "${SERVICE_CLUSTER_IP_RANGE:-}" "$RE_CIDR"
    check KUBE_PROXY_MODE "${KUBE_PROXY_MODE:-}" '^(iptables|ipvs)$'
    check NETWORK_MTU "${NETWORK_MTU:-}" '^(0|[1-9][0-9]{0,3})$'
    check CONTAINER_STORAGE_DEVICE "${CONTAINER_STORAGE_DEVICE:-}" \
        '^(auto|root|/dev/[a-z][a-z0-9]{1,15})$'
    check CVMFS_ENABLED "${CVMFS_ENABLED:-}" "$RE_BOOL"
    check CVMFS_CSI_VERSION "${CVMFS_CSI_VERSION:-}" "$RE_VERSION"
    check CVMFS_REPOSITORIES "${CVMFS_REPOSITORIES-}" '^[A-Za-z0-9.,-]*$'
    check CVMFS_HTTP_PROXY "${CVMFS_HTTP_PROXY:-}" \
        '^(DIRECT|http://[A-Za-z0-9.:;|/-]+)$'
    check EOS_ENABLED "${EOS_ENABLED:-}" "$RE_BOOL"
    check EOS_CSI_VERSION "${EOS_CSI_VERSION:-}" "$RE_VERSION"
    check EOS_INSTANCES "${EOS_INSTANCES-}" '^[a-z0-9,-]*$'
    check REGISTRY_MIRROR "${REGISTRY_MIRROR-}" '^[A-Za-z0-9.:/_-]*$'
    check CLOUD_PROVIDER_ENABLED "${CLOUD_PROVIDER_ENABLED:-}" "$RE_BOOL"
    check MASTER_LB_ENABLED "${MASTER_LB_ENABLED:-}" "$RE_BOOL"
    check VRRP_ROUTER_ID "${VRRP_ROUTER_ID:-}" '^[1-9][0-9]{0,2}$'
    : "${CLUSTER_NAME?}" "${NODEGROUP_NAME?}"
    check_runtime
}

# runtime_value NAME REGEX: the single line of a run-time file (Heat fills
# it by text substitution), printed only when it matches REGEX.
runtime_value() {
    local file lines
    file="$MCD_RUNTIME/$1"
    [ -f "$file" ] || file="$MCD_SECRETS/$1"
    [ -f "$file" ] || die "$1: missing"
    mapfile -t lines <"$file"
    [ "${#lines[@]}" -eq 1 ] || die "$1: expected exactly one line"
    [ "${#lines[0]}" -le 4096 ] || die "$1: too long"
    check "$1" "${lines[0]}" "$2"
    printf '%s' "${lines[0]}"
}

# Validate every run-time value this node has before anything runs.
check_runtime() {
    runtime_value api_address "$RE_IPV4" >/dev/null
    runtime_value bootstrap_token "$RE_BOOTSTRAP_TOKEN" >/dev/null
    runtime_value ca_cert_hash "$RE_CA_HASH" >/dev/null
    if [ "$MCD_ROLE" = master ]; then
        runtime_value node_index "$RE_INDEX" >/dev/null
        runtime_value wait_endpoint "$RE_URL" >/dev/null
        runtime_value wait_token "$RE_WAIT_TOKEN" >/dev/null
        runtime_value certificate_key "$RE_CERT_KEY" >/dev/null
    fi
}

is_first_master() {
    [ "$MCD_ROLE" = master ] || return 1
    [ "$(runtime_value node_index "$RE_INDEX")" = 0 ]
}

# yaml_str VALUE: VALUE as a double-quoted YAML string, for values from a
# small safe alphabet only (anything else stops the script). It runs inside
# $(...) in here-documents, where `exit` would end only that subshell, so
# it stops the whole script with a signal.
yaml_str() {
    if [[ ! $1 =~ $RE_SAFE ]]; then
        log "ERROR: refusing to write an unexpected value"
        kill -s TERM "$$"
        exit 1
    fi
    printf '"%s"' "$1"
}

# image_repo DEFAULT_REGISTRY PATH: where nodes pull PATH from. With a
# registry_mirror, the mirror prefix replaces the registry host.
image_repo() {
    if [ -n "$REGISTRY_MIRROR" ]; then
        printf '%s/%s' "$REGISTRY_MIRROR" "$2"
    else
        printf '%s/%s' "$1" "$2"
    fi
}

# retry N DELAY COMMAND...: run COMMAND until it succeeds, N times at most.
retry() {
    local tries=$1 delay=$2 i
    shift 2
    for ((i = 1; i <= tries; i++)); do
        if "$@"; then
            return 0
        fi
        [ "$i" -lt "$tries" ] && sleep "$delay"
    done
    return 1
}

kubectl_admin() {
    kubectl --kubeconfig "$KUBECONFIG_ADMIN" "$@"
}

helm_admin() {
    helm --kubeconfig "$KUBECONFIG_ADMIN" "$@"
}

# signal_heat STATUS REASON: the single readiness signal of the cluster,
# sent by the first master to Heat's wait condition handle. The token goes
# to curl through a header file, never through the command line.
signal_heat() {
    local endpoint token header body
    endpoint=$(runtime_value wait_endpoint "$RE_URL")
    token=$(runtime_value wait_token "$RE_WAIT_TOKEN")
    mkdir -p "$MCD_STATE"
    header=$(mktemp "$MCD_STATE/signal.XXXXXX")
    printf 'X-Auth-Token: %s\n' "$token" >"$header"
    body=$(printf '{"status": "%s", "reason": "%s"}' "$1" "$2")
    if ! curl -sS --fail --retry 10 --retry-delay 6 --retry-all-errors \
        -X POST -H @"$header" -H 'Content-Type: application/json' \
        --data "$body" "$endpoint" >/dev/null; then
        rm -f "$header"
        return 1
    fi
    rm -f "$header"
}
