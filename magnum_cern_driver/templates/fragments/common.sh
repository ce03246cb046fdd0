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
MCD_LABEL_CHECKS="$MCD_LIB/label-checks"
MCD_SECRETS="$MCD_BASE/secrets"
MCD_RUNTIME="$MCD_BASE/runtime"
MCD_STATE="$R/var/lib/magnum-cern"
KUBECONFIG_ADMIN="$R/etc/kubernetes/admin.conf"
export MCD_LIB KUBECONFIG_ADMIN

umask 077
# Command substitutions in plain assignments stop the script on failure.
shopt -s inherit_errexit

RE_VERSION='^v?[0-9]+\.[0-9]+\.[0-9]+$'
RE_BOOL='^(true|false)$'
RE_OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
RE_IPV4="^$RE_OCTET(\\.$RE_OCTET){3}\$"
RE_INDEX='^(0|[1-9][0-9]{0,3})$'
RE_URL='^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?'
RE_URL+='(/[A-Za-z0-9._~%/=-]*)?(\?[A-Za-z0-9._~%=&-]*)?$'
RE_WAIT_TOKEN='^[A-Za-z0-9_=-]+$'
RE_BOOTSTRAP_TOKEN='^[a-z0-9]{6}\.[a-z0-9]{16}$'
RE_CA_HASH='^sha256:[0-9a-f]{64}$'
RE_SAFE='^[A-Za-z0-9._:/@;|,+=-]*$'
RE_IPV4_OR_EMPTY="^($RE_OCTET(\\.$RE_OCTET){3})?\$"
# Kubernetes node name (RFC 1123 subdomain, lower case) and Nova server id.
RE_NODE_NAME='^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'
RE_UUID='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

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
    check CLUSTER_UUID "${CLUSTER_UUID:-}" '^[0-9a-fA-F-]{1,64}$'
    check SERVER_TYPE "${SERVER_TYPE:-}" '^(vm|baremetal)$'
    check KUBE_API_PORT "${KUBE_API_PORT:-}" '^[1-9][0-9]{0,4}$'
    check DOCKER_VOLUME_SIZE "${DOCKER_VOLUME_SIZE:-}" '^(0|[1-9][0-9]{0,4})$'
    check MASTER_COUNT "${MASTER_COUNT:-}" '^[1-9][0-9]?$'
    check_labels
    check MASTER_LB_ENABLED "${MASTER_LB_ENABLED:-}" "$RE_BOOL"
    check VRRP_ROUTER_ID "${VRRP_ROUTER_ID:-}" '^[1-9][0-9]{0,2}$'
    : "${CLUSTER_NAME?}" "${NODEGROUP_NAME?}"
    check_artifacts
    check_runtime
}

# Check every label value against the pattern the driver generated from its
# label schema (labels.py): $MCD_LABEL_CHECKS holds one "VARIABLE PATTERN"
# line per label the node gets. Read as data, never sourced.
check_labels() {
    local name pattern count=0
    [ -f "$MCD_LABEL_CHECKS" ] || die "missing $MCD_LABEL_CHECKS"
    while read -r name pattern; do
        [[ $name == '#'* ]] && continue
        check "label variable" "$name" '^[A-Z][A-Z0-9_]*$'
        [[ $pattern == '^'*'$' ]] || die "$name: unanchored pattern"
        check "$name" "${!name-}" "$pattern"
        count=$((count + 1))
    done <"$MCD_LABEL_CHECKS"
    [ "$count" -gt 0 ] || die "$MCD_LABEL_CHECKS: no label checks"
}

# runtime_value NAME REGEX: the single line of a run-time file (Heat fills
# it by text substitution), printed only when it matches REGEX.
runtime_value() {
    local file lines value
    file="$MCD_RUNTIME/$1"
    [ -f "$file" ] || file="$MCD_SECRETS/$1"
    [ -f "$file" ] || die "$1: missing"
    mapfile -t lines <"$file"
    # An empty value leaves an empty file (YAML block scalar of one blank
    # line); its pattern says whether empty is allowed.
    [ "${#lines[@]}" -le 1 ] || die "$1: expected exactly one line"
    value=${lines[0]-}
    [ "${#value}" -le 4096 ] || die "$1: too long"
    check "$1" "$value" "$2"
    printf '%s' "$value"
}

# Validate every run-time value this node has before anything runs.
check_runtime() {
    runtime_value api_address "$RE_IPV4" >/dev/null
    runtime_value bootstrap_token "$RE_BOOTSTRAP_TOKEN" >/dev/null
    runtime_value ca_cert_hash "$RE_CA_HASH" >/dev/null
    if [ "$MCD_ROLE" = master ]; then
        runtime_value node_index "$RE_INDEX" >/dev/null
        runtime_value api_public_address "$RE_IPV4_OR_EMPTY" >/dev/null
        runtime_value wait_endpoint "$RE_URL" >/dev/null
        runtime_value wait_token "$RE_WAIT_TOKEN" >/dev/null
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

# Every artifact of the manifest (magnum_cern_driver/templates/artifacts.yaml)
# the driver resolved for this cluster, each checked against the pattern of
# its kind. The fragments name no image, chart, package or URL themselves.
RE_ART_URL='^(https|oci)://[A-Za-z0-9.-]+(:[0-9]{1,5})?'
RE_ART_URL+='(/[A-Za-z0-9._~%:/+-]*)?$'
RE_ART_IMAGE='^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$'
RE_ART_TAG='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$'
RE_ART_NAME='^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$'
check_artifacts() {
    local var
    for var in $(compgen -v); do
        case "$var" in
            IMAGE_*_REPO) check "$var" "${!var}" "$RE_ART_IMAGE" ;;
            IMAGE_*_TAG) check "$var" "${!var}" "$RE_ART_TAG" ;;
            CHART_*_URL | RPM_REPO_*_URL | URL_*)
                check "$var" "${!var}" "$RE_ART_URL"
                ;;
            RPM_REPO_*_GPGKEY) check "$var" "${!var}" "($RE_ART_URL)|^$" ;;
            CHART_*_NAME | CHART_*_VERSION | PKG_*)
                check "$var" "${!var}" "$RE_ART_NAME"
                ;;
            SHA256_*) check "$var" "${!var}" '^([0-9a-f]{64})?$' ;;
        esac
    done
}

# image_ref NAME: the pull reference of manifest image NAME (IMAGE_NAME_*).
image_ref() {
    local repo="IMAGE_${1}_REPO" tag="IMAGE_${1}_TAG"
    if [ -z "${!repo:-}" ] || [ -z "${!tag:-}" ]; then
        die "image $1: not in the manifest"
    fi
    printf '%s:%s' "${!repo}" "${!tag}"
}

# helm_install RELEASE CHART NAMESPACE VALUES: install or upgrade the
# manifest's CHART (CHART_<CHART>_*) and wait until its workloads are
# rolled out (--wait), so that the readiness signal means the add-on runs.
helm_install() {
    local url="CHART_${2}_URL" name="CHART_${2}_NAME"
    local version="CHART_${2}_VERSION"
    local -a chart
    [ -n "${!url:-}" ] || die "chart $2: not in the manifest"
    if [[ ${!url} == oci://* ]]; then
        chart=("${!url%/}/${!name}")
    else
        chart=("${!name}" --repo "${!url}")
    fi
    retry 5 10 helm_admin upgrade --install "$1" "${chart[@]}" \
        --version "${!version}" --namespace "$3" --create-namespace \
        --values "$4" --wait --timeout "${MCD_HELM_TIMEOUT:-10m}"
}

# ensure_helm: the node image should carry helm (magnum-k8s-node element);
# otherwise the release tarball of the manifest (URL_HELM), checked against
# its pinned SHA256_HELM before anything is unpacked.
ensure_helm() {
    local tarball dir
    if [ -x "$R/usr/local/bin/helm" ]; then
        PATH="$R/usr/local/bin:$PATH"
    fi
    if command -v helm >/dev/null; then
        return 0
    fi
    [ -n "${SHA256_HELM:-}" ] || die "helm: no pinned checksum"
    mkdir -p "$MCD_STATE"
    dir=$(mktemp -d "$MCD_STATE/helm.XXXXXX")
    tarball="$dir/helm.tar.gz"
    retry 3 10 curl -sSfL --max-time 300 -o "$tarball" "$URL_HELM" ||
        die "helm: download failed"
    printf '%s  %s\n' "$SHA256_HELM" "$tarball" | sha256sum -c --quiet - ||
        die "helm: checksum mismatch"
    tar -xzf "$tarball" -C "$dir" linux-amd64/helm
    install -d -m 0755 "$R/usr/local/bin"
    install -m 0755 "$dir/linux-amd64/helm" "$R/usr/local/bin/helm"
    rm -rf "$dir"
    PATH="$R/usr/local/bin:$PATH"
}

# write_repo_files: a dnf repository file for each package repository of
# the manifest the driver resolved (RPM_REPO_<NAME>_URL/_GPGKEY); the
# distribution's own repositories (on_image: true in the manifest) come
# with the image and get none.
write_repo_files() {
    local var name lower url key file
    install -d -m 0755 "$R/etc/yum.repos.d"
    for var in $(compgen -v RPM_REPO_); do
        [[ $var == *_URL ]] || continue
        name=${var#RPM_REPO_}
        name=${name%_URL}
        url="RPM_REPO_${name}_URL"
        key="RPM_REPO_${name}_GPGKEY"
        lower=${name,,}
        lower=${lower//_/-}
        file="$R/etc/yum.repos.d/magnum-cern-$lower.repo"
        {
            printf '[magnum-cern-%s]\n' "$lower"
            printf 'name=magnum-cern-driver: %s\n' "$lower"
            printf 'baseurl=%s\n' "${!url}"
            printf 'enabled=1\n'
            if [ -n "${!key}" ]; then
                printf 'gpgcheck=1\ngpgkey=%s\n' "${!key}"
            else
                printf 'gpgcheck=0\n'
            fi
        } >"$file"
        chmod 0644 "$file"
    done
}

# node_name: this server's Nova name, the Kubernetes node name. cloud-init
# keeps the OpenStack metadata (meta_data.json) under ds.meta_data in its
# instance data (canonical/cloud-init cloudinit/sources/__init__.py,
# persist_instance_data, commit be9ecc12; DataSourceOpenStack.py keeps the
# whole meta_data.json, commit 0167c1b9), and Nova's meta_data.json has
# "name" = the server's display name (openstack/nova
# nova/api/metadata/base.py, commit 620949f2). The local hostname is no
# use: Nova's "hostname" carries the dhcp_domain (an FQDN on RHEL family).
node_name() {
    local name
    name=$(cloud-init query ds.meta_data.name)
    check "node name" "$name" "$RE_NODE_NAME"
    printf '%s' "$name"
}

# instance_id: the Nova server id, cloud-init's standard key v1.instance_id
# (metadata "uuid" copied to "instance-id": cloudinit/sources/helpers/
# openstack.py KEY_COPIES, commit 0167c1b9; doc/rtd/explanation/
# instancedata.rst, commit 10598996).
instance_id() {
    local id
    id=$(cloud-init query v1.instance_id)
    check "instance id" "$id" "$RE_UUID"
    printf '%s' "$id"
}

# console_failure STATUS: when the runner stops on a failure, one line on
# the console, so `openstack console log show` tells which fragment failed
# on which node. Only the fragment's file name is printed: no value, no
# secret. Installed for the runner (bootstrap.sh) only; MCD_STAGE (set by
# the runner) names a step that is not a fragment.
console_failure() {
    local fragment=${MCD_STAGE:-} f
    [ "$1" -ne 0 ] || return 0
    for f in "$MCD_LIB"/fragments/[0-9][0-9]-*.sh; do
        [ -z "$fragment" ] || break
        if [ ! -e "$MCD_STATE/done/${f##*/}" ]; then
            fragment=${f##*/}
            break
        fi
    done
    {
        printf 'magnum-cern-bootstrap: FAILED at %s; details in %s\n' \
            "${fragment:-the environment checks}" \
            /var/log/cloud-init-output.log >"$R/dev/console"
    } 2>/dev/null || true
}
if [ "${0##*/}" = bootstrap.sh ]; then
    trap 'console_failure "$?"' EXIT
fi

# ensure_namespace NAME [POD_SECURITY_LEVEL]: the namespace exists (and
# enforces that Pod Security level).
ensure_namespace() {
    if ! kubectl_admin get namespace "$1" >/dev/null 2>&1; then
        kubectl_admin create namespace "$1" >/dev/null
    fi
    if [ -n "${2:-}" ]; then
        kubectl_admin label --overwrite namespace "$1" \
            "pod-security.kubernetes.io/enforce=$2" >/dev/null
    fi
}
