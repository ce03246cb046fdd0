#!/bin/bash
# shellcheck shell=bash
#
# magnum-cern-driver devstack plugin.
#
# Installs the driver into Magnum's Python environment, writes its
# [cern_driver] and [drivers] settings into magnum.conf, sizes Heat for
# the largest example template (max_resources_per_stack from the budget
# command, database pool, RPC timeouts), raises the open-file limit of the
# Magnum and Heat units, uploads the node image with the properties the
# driver is selected by, and creates the example cluster templates.
#
# Enable it after heat and magnum (see README.rst). It prints what it
# changes, never the environment.

# Heat's built-in default of [DEFAULT] max_resources_per_stack.
MAGNUM_CERN_HEAT_DEFAULT_MAX_RESOURCES=1000
MAGNUM_CERN_DRIVER_NAME=k8s_cern_heat_v1
MAGNUM_CERN_IMAGE_OS_DISTRO=almalinux
MAGNUM_CERN_NOFILE_DROPIN=50-magnum-cern-nofile.conf

# The Python environment Magnum runs in (devstack's global venv, or the
# system one).
function magnum_cern_bin_dir {
    get_python_exec_prefix
}

function magnum_cern_python {
    local py
    py="$(magnum_cern_bin_dir)/python3"
    if [[ ! -x "$py" ]]; then
        py=${PYTHON:-python3}
    fi
    echo "$py"
}

# Run devstack/tools/cluster-template.py with Magnum's Python (it imports
# the driver's label schema).
function magnum_cern_template_tool {
    "$(magnum_cern_python)" "$MAGNUM_CERN_DIR/devstack/tools/cluster-template.py" "$@"
}

function magnum_cern_template_file {
    echo "$MAGNUM_CERN_TEMPLATE_DIR/$1.yaml"
}

function magnum_cern_openstack {
    openstack --os-cloud "$MAGNUM_CERN_OS_CLOUD" "$@"
}

# stack install -------------------------------------------------------

function install_magnum_cern {
    setup_develop "$MAGNUM_CERN_DIR"
    if [[ "$MAGNUM_CERN_BUILD_IMAGE" == "True" ]]; then
        pip_install diskimage-builder
    fi
}

# stack post-config ---------------------------------------------------

function configure_magnum_cern {
    local conf=${MAGNUM_CONF:-/etc/magnum/magnum.conf}

    if [[ "$MAGNUM_CERN_DEFAULT_DRIVER" == "True" ]]; then
        iniset "$conf" drivers default_driver "$MAGNUM_CERN_DRIVER_NAME"
    fi
    iniset "$conf" cern_driver worker_shard_size "$MAGNUM_CERN_WORKER_SHARD_SIZE"
    iniset "$conf" cern_driver stack_timeout "$MAGNUM_CERN_STACK_TIMEOUT"
    iniset "$conf" cern_driver unknown_labels "$MAGNUM_CERN_UNKNOWN_LABELS"
    iniset "$conf" cern_driver application_credentials "$MAGNUM_CERN_APPLICATION_CREDENTIALS"
    if [[ -n "$MAGNUM_CERN_DEFAULT_LABELS" ]]; then
        iniset "$conf" cern_driver default_labels "$MAGNUM_CERN_DEFAULT_LABELS"
    fi
    if [[ -n "$MAGNUM_CERN_CA_BUNDLE" ]]; then
        if [[ ! -f "$MAGNUM_CERN_CA_BUNDLE" ]]; then
            die $LINENO "MAGNUM_CERN_CA_BUNDLE: no such file: $MAGNUM_CERN_CA_BUNDLE"
        fi
        sudo install -D -m 0644 "$MAGNUM_CERN_CA_BUNDLE" "$MAGNUM_CERN_CA_BUNDLE_DEST"
        iniset "$conf" cern_driver ca_bundle_file "$MAGNUM_CERN_CA_BUNDLE_DEST"
    fi
}

# Print the max_resources_per_stack Heat needs for the largest template
# in MAGNUM_CERN_TEMPLATES (-1 for unlimited, 0 when there is none).
function magnum_cern_max_resources {
    if [[ -n "$MAGNUM_CERN_HEAT_MAX_RESOURCES" ]]; then
        echo "$MAGNUM_CERN_HEAT_MAX_RESOURCES"
        return
    fi
    local selftest py name out needed max=0
    local -a args
    selftest="$(magnum_cern_bin_dir)/magnum-cern-selftest"
    py=$(magnum_cern_python)
    for name in $MAGNUM_CERN_TEMPLATES; do
        out=$(magnum_cern_template_tool budget-args "$(magnum_cern_template_file "$name")") || \
            die $LINENO "cluster template $name: bad example template"
        mapfile -t args <<< "$out"
        out=$("$selftest" budget "${args[@]}" --format json) || \
            die $LINENO "magnum-cern-selftest budget failed for $name"
        needed=$("$py" -c 'import json, sys; print(int(json.load(sys.stdin)["max_resources_per_stack"]))' <<< "$out") || \
            die $LINENO "magnum-cern-selftest budget: unexpected output for $name"
        echo "magnum-cern-driver: $name needs max_resources_per_stack >= $needed" >&2
        if [[ "$needed" -lt 0 ]]; then
            max=-1
            break
        fi
        if [[ "$needed" -gt "$max" ]]; then
            max=$needed
        fi
    done
    echo "$max"
}

function configure_heat_for_magnum_cern {
    local conf=${HEAT_CONF:-/etc/heat/heat.conf}
    local needed current

    needed=$(magnum_cern_max_resources) || die $LINENO "cannot size Heat"
    current=$(iniget "$conf" DEFAULT max_resources_per_stack)
    current=${current:-$MAGNUM_CERN_HEAT_DEFAULT_MAX_RESOURCES}
    # Only ever raise the limit (-1, unlimited, stays).
    if [[ "$current" != "-1" ]]; then
        if [[ "$needed" == "-1" ]] || [[ "$needed" -gt "$current" ]]; then
            iniset "$conf" DEFAULT max_resources_per_stack "$needed"
        fi
    fi
    iniset "$conf" database max_pool_size "$MAGNUM_CERN_HEAT_DB_MAX_POOL_SIZE"
    iniset "$conf" database max_overflow "$MAGNUM_CERN_HEAT_DB_MAX_OVERFLOW"
    iniset "$conf" DEFAULT rpc_response_timeout "$MAGNUM_CERN_HEAT_RPC_RESPONSE_TIMEOUT"
    iniset "$conf" DEFAULT engine_life_check_timeout "$MAGNUM_CERN_HEAT_ENGINE_LIFE_CHECK_TIMEOUT"
    # The masters' user data holds the cluster CA keys: Heat stores hidden
    # parameters and resource properties encrypted with this on
    # (docs/operator-guide.md, "Heat encryption").
    iniset "$conf" DEFAULT encrypt_parameters_and_properties "$MAGNUM_CERN_HEAT_ENCRYPT"
    iniset "$conf" DEFAULT max_stacks_per_tenant "$MAGNUM_CERN_HEAT_MAX_STACKS_PER_PROJECT"
}

# systemd drop-ins raising LimitNOFILE of the devstack units; devstack
# reloads systemd when it starts the units in the extra phase.
function configure_magnum_cern_limits {
    local unit dir
    for unit in $MAGNUM_CERN_NOFILE_UNITS; do
        if ! is_service_enabled "$unit"; then
            continue
        fi
        dir="$MAGNUM_CERN_SYSTEMD_DIR/devstack@${unit}.service.d"
        sudo mkdir -p "$dir"
        printf '[Service]\nLimitNOFILE=%s\n' "$MAGNUM_CERN_NOFILE" | \
            sudo tee "$dir/$MAGNUM_CERN_NOFILE_DROPIN" > /dev/null
    done
    sudo systemctl daemon-reload
}

# stack extra ---------------------------------------------------------

function build_magnum_cern_image {
    local -a elements
    local out="$FILES/$MAGNUM_CERN_IMAGE_NAME"
    read -r -a elements <<< "$MAGNUM_CERN_IMAGE_ELEMENTS"
    ELEMENTS_PATH="$MAGNUM_CERN_DIR/elements" \
        DIB_RELEASE="$MAGNUM_CERN_IMAGE_DIB_RELEASE" \
        "$(magnum_cern_bin_dir)/disk-image-create" -a amd64 -t qcow2 \
        -o "$out" "${elements[@]}"
    MAGNUM_CERN_IMAGE_FILE="$out.qcow2"
}

function upload_magnum_cern_image {
    local file=$MAGNUM_CERN_IMAGE_FILE
    local -a props=(--property "os_distro=$MAGNUM_CERN_IMAGE_OS_DISTRO"
        --property "magnum_driver=$MAGNUM_CERN_DRIVER_NAME")

    if magnum_cern_openstack image show "$MAGNUM_CERN_IMAGE_NAME" > /dev/null 2>&1; then
        magnum_cern_openstack image set "${props[@]}" "$MAGNUM_CERN_IMAGE_NAME"
        return
    fi
    if [[ -z "$file" ]]; then
        file=$(get_extra_file "$MAGNUM_CERN_IMAGE_URL")
    fi
    magnum_cern_openstack image create --disk-format qcow2 \
        --container-format bare --public "${props[@]}" \
        --file "$file" "$MAGNUM_CERN_IMAGE_NAME"
}

function create_magnum_cern_templates {
    local name file tname out
    local -a args
    local -a sets=(--set "image=$MAGNUM_CERN_IMAGE_NAME"
        --set "external_network=$MAGNUM_CERN_EXTERNAL_NETWORK")
    if [[ -n "$MAGNUM_CERN_FLAVOR" ]]; then
        sets+=(--set "flavor=$MAGNUM_CERN_FLAVOR")
    fi
    if [[ -n "$MAGNUM_CERN_MASTER_FLAVOR" ]]; then
        sets+=(--set "master_flavor=$MAGNUM_CERN_MASTER_FLAVOR")
    fi
    for name in $MAGNUM_CERN_TEMPLATES; do
        file=$(magnum_cern_template_file "$name")
        tname=$(magnum_cern_template_tool name "$file") || \
            die $LINENO "cluster template $name: bad example template"
        if magnum_cern_openstack coe cluster template show "$tname" > /dev/null 2>&1; then
            echo "magnum-cern-driver: cluster template $tname exists"
            continue
        fi
        out=$(magnum_cern_template_tool create-args "$file" "${sets[@]}") || \
            die $LINENO "cluster template $name: bad example template"
        mapfile -t args <<< "$out"
        magnum_cern_openstack coe cluster template create "${args[@]}"
    done
}

# clean ---------------------------------------------------------------

function cleanup_magnum_cern {
    local unit dir
    for unit in $MAGNUM_CERN_NOFILE_UNITS; do
        dir="$MAGNUM_CERN_SYSTEMD_DIR/devstack@${unit}.service.d"
        sudo rm -f "$dir/$MAGNUM_CERN_NOFILE_DROPIN"
        if [[ -d "$dir" ]]; then
            sudo rmdir --ignore-fail-on-non-empty "$dir"
        fi
    done
    sudo systemctl daemon-reload
    sudo rm -f "$MAGNUM_CERN_CA_BUNDLE_DEST"
    rm -f "$FILES/$MAGNUM_CERN_IMAGE_NAME.qcow2"
}

# Phases --------------------------------------------------------------

if is_service_enabled magnum-api magnum-cond; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing magnum-cern-driver"
        install_magnum_cern
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring magnum-cern-driver"
        configure_magnum_cern
        if is_service_enabled h-eng; then
            configure_heat_for_magnum_cern
        fi
        configure_magnum_cern_limits
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Node image and cluster templates for magnum-cern-driver"
        if [[ "$MAGNUM_CERN_BUILD_IMAGE" == "True" ]]; then
            build_magnum_cern_image
        fi
        if is_service_enabled g-api; then
            upload_magnum_cern_image
        fi
        if is_service_enabled magnum-api; then
            create_magnum_cern_templates
        fi
    fi

    # unstack: nothing to stop, the driver runs inside magnum-conductor;
    # the image and templates stay until the databases are dropped.

    if [[ "$1" == "clean" ]]; then
        cleanup_magnum_cern
    fi
fi
