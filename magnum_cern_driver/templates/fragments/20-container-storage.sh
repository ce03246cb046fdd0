#!/bin/bash
# Container storage: containerd and kubelet data on a local disk.
#
# docker_volume_size > 0: the Cinder volume of that size. Otherwise, by the
# container_storage_device label: auto (the Nova ephemeral disk, else a
# blank local disk, else the root disk), root, or a /dev path. The disk gets
# an XFS filesystem labelled mcd-storage, mounted on STORAGE_MNT through
# /etc/fstab, with containerd's and kubelet's directories bind-mounted from
# it. Idempotent: a disk that already carries the label is reused as is.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

FS_LABEL=mcd-storage
STORAGE_MNT=/var/lib/container-storage
DATA_DIRS=(/var/lib/containerd /var/lib/kubelet)
BIND_AFTER="x-systemd.requires-mounts-for=$STORAGE_MNT"

# The functions below set DEVICE (empty: none found). They run in plain
# (not conditional) context, so any failing command stops the script.
DEVICE=""

# find_label LABEL: the device carrying a filesystem LABEL, if any.
find_label() {
    local rc=0 dev
    dev=$(blkid -L "$1") || rc=$?
    DEVICE=""
    if [ "$rc" -eq 0 ]; then
        check "device of $1" "$dev" '^/dev/[A-Za-z0-9/_-]+$'
        DEVICE=$dev
    elif [ "$rc" -ne 2 ]; then
        die "blkid failed ($rc)"
    fi
}

# is_blank DISK: no partition, no filesystem, not mounted.
is_blank() {
    local out
    out=$(lsblk -nPpo NAME,FSTYPE,MOUNTPOINT "$1") || die "lsblk failed"
    [[ $out != *$'\n'* && $out == *'FSTYPE="" MOUNTPOINT=""' ]]
}

# find_blank_disk [SIZE]: a blank whole disk (of SIZE bytes).
find_blank_disk() {
    local disks name size type
    DEVICE=""
    disks=$(lsblk -dnpbo NAME,SIZE,TYPE)
    while read -r name size type; do
        if [ "$type" != disk ]; then
            continue
        fi
        if [ -n "${1:-}" ] && [ "$size" != "$1" ]; then
            continue
        fi
        if is_blank "$name"; then
            DEVICE=$name
            return 0
        fi
    done <<<"$disks"
}

find_cinder_volume() {
    local bytes i
    bytes=$((DOCKER_VOLUME_SIZE * 1024 * 1024 * 1024))
    for ((i = 0; i < 120; i++)); do
        udevadm settle
        find_blank_disk "$bytes"
        if [ -n "$DEVICE" ]; then
            return 0
        fi
        sleep 5
    done
    die "no blank ${DOCKER_VOLUME_SIZE} GiB volume appeared"
}

# The Nova ephemeral disk (cloud-init mounts it on /mnt), released here.
find_ephemeral_disk() {
    local dev targets target
    find_label ephemeral0
    dev=$DEVICE
    if [ -z "$dev" ]; then
        return 0
    fi
    targets=$(findmnt -nro TARGET --source "$dev") || targets=""
    while read -r target; do
        if [ -n "$target" ]; then
            umount "$target"
        fi
    done <<<"$targets"
    if [ -f "$R/etc/fstab" ]; then
        sed -i -e '\|^/dev/[^ \t]*[ \t]\+/mnt[ \t]|d' \
            -e '\|^LABEL=ephemeral0[ \t]|d' "$R/etc/fstab"
    fi
    DEVICE=$dev
}

# pick_device: the device to format, by docker_volume_size and the
# container_storage_device label; DEVICE stays empty for the root disk.
pick_device() {
    DEVICE=""
    if [ "$DOCKER_VOLUME_SIZE" -gt 0 ]; then
        find_cinder_volume
        return 0
    fi
    case "$CONTAINER_STORAGE_DEVICE" in
        root) ;;
        auto)
            find_ephemeral_disk
            if [ -z "$DEVICE" ]; then
                find_blank_disk
            fi
            ;;
        *)
            local disks
            disks=$(lsblk -dnpbo NAME,SIZE,TYPE)
            if ! grep -q "^$CONTAINER_STORAGE_DEVICE " <<<"$disks"; then
                die "$CONTAINER_STORAGE_DEVICE is not a disk"
            fi
            if ! is_blank "$CONTAINER_STORAGE_DEVICE"; then
                die "$CONTAINER_STORAGE_DEVICE is in use; not wiping it"
            fi
            DEVICE=$CONTAINER_STORAGE_DEVICE
            ;;
    esac
}

add_fstab() {
    touch "$R/etc/fstab"
    grep -qxF "$1" "$R/etc/fstab" || printf '%s\n' "$1" >>"$R/etc/fstab"
}

stop_services() {
    local unit
    for unit in kubelet containerd; do
        if systemctl is-active --quiet "$unit"; then
            systemctl stop "$unit"
        fi
    done
}

mkdir -p "$R/etc"
find_label "$FS_LABEL"
if [ -n "$DEVICE" ]; then
    log "container storage: reusing $DEVICE"
else
    pick_device
    if [ -z "$DEVICE" ]; then
        log "container storage: on the root disk"
        for dir in "${DATA_DIRS[@]}"; do
            install -d -m 0711 "$R$dir"
        done
        exit 0
    fi
    log "container storage: formatting $DEVICE"
    wipefs -a "$DEVICE"
    mkfs.xfs -f -L "$FS_LABEL" "$DEVICE"
fi

stop_services
add_fstab "LABEL=$FS_LABEL $STORAGE_MNT xfs defaults,nofail 0 2"
install -d -m 0711 "$R$STORAGE_MNT"
if ! mountpoint -q "$STORAGE_MNT"; then
    mount "$STORAGE_MNT"
fi
for dir in "${DATA_DIRS[@]}"; do
    src="$STORAGE_MNT/${dir##*/}"
    install -d -m 0711 "$R$src" "$R$dir"
    if ! mountpoint -q "$dir"; then
        # Keep what the image brought (pre-pulled images) on the new disk.
        if [ -z "$(ls -A "$R$src")" ] && [ -n "$(ls -A "$R$dir")" ]; then
            cp -a "$R$dir/." "$R$src/"
        fi
        add_fstab "$src $dir none bind,$BIND_AFTER 0 0"
        mount "$dir"
    fi
done
log "container storage: $DEVICE on $STORAGE_MNT"
