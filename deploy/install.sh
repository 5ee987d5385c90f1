#!/bin/sh
# Install OneWindow Edge as a system service on Debian 12 / Ubuntu 24.04: a venv in /opt/onewindow, the system user
# onewindow, the systemd unit, its settings file in /etc/onewindow, its state directories in /var/lib and (node)
# the udev rules for the centre's USB devices. Uninstall removes the program and the unit and keeps the data, the
# keys, the settings and the user. See README.md, "Operations".
#
#   sudo deploy/install.sh node                # or: central
#   sudo deploy/install.sh --uninstall node
#   deploy/install.sh --destdir /tmp/stage node   # staged into a scratch root: no systemctl, no udevadm, the user
#                                                 # written into /tmp/stage/etc/passwd by systemd-sysusers --root
# Options: --prefix DIR (default /opt/onewindow), --source DIR (the repository; default the one holding this
# script), --wheelhouse DIR (install offline from wheels: pip --no-index --find-links DIR), --pip-args "…",
# --python PATH (default python3, 3.11 or newer).
set -eu

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(dirname "$here")
destdir=""
prefix=/opt/onewindow
wheelhouse=""
pip_args=""
python=python3
action=install
role=""
while [ $# -gt 0 ]; do
    case "$1" in
        --destdir) destdir=${2%/}; shift 2 ;;
        --prefix) prefix=${2%/}; shift 2 ;;
        --source) source_dir=$2; shift 2 ;;
        --wheelhouse) wheelhouse=$2; shift 2 ;;
        --pip-args) pip_args=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --uninstall) action=uninstall; shift ;;
        node|central) role=$1; shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$role" ] || usage
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo), or stage with --destdir DIR" >&2
    exit 1
fi

D=$destdir
unit=onewindow-$role.service
data=/var/lib/onewindow-$role
if [ "$role" = node ]; then keys=/var/lib/onewindow-node-keys; else keys=/var/lib/onewindow-county; fi
live() { [ -z "$D" ]; }  # acting on this machine, not staging
say() { printf '%s\n' "$*"; }

if [ "$action" = uninstall ]; then
    if live && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now "$unit" 2>/dev/null || true
    fi
    if live && command -v systemctl >/dev/null 2>&1 && [ "$role" = node ]; then
        systemctl disable --now onewindow-node-backup.timer 2>/dev/null || true
    fi
    rm -f "$D/etc/systemd/system/$unit"
    if [ "$role" = node ]; then
        rm -f "$D/etc/udev/rules.d/70-onewindow.rules" \
            "$D/etc/systemd/system/onewindow-node-backup.service" "$D/etc/systemd/system/onewindow-node-backup.timer"
    fi
    other=onewindow-central.service
    [ "$role" = central ] && other=onewindow-node.service
    if [ ! -e "$D/etc/systemd/system/$other" ]; then
        rm -rf "$D$prefix"  # the program only; nothing in it is data
    fi
    if live; then
        command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload
        [ "$role" = node ] && command -v udevadm >/dev/null 2>&1 && udevadm control --reload || true
    fi
    say "已卸载 $unit。保留：数据 $data、密钥 $keys、设置 /etc/onewindow/$role.env、系统用户 onewindow。"
    say "Uninstalled $unit. Kept: data $data, keys $keys, settings /etc/onewindow/$role.env, user onewindow."
    exit 0
fi

# 1. Python 3.11 or newer.
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: $python is missing or older than 3.11 (apt install python3 python3-venv)" >&2
    exit 1
fi

# 2. The system user and group (systemd-sysusers: idempotent, and writes a staged root's /etc with --root).
install -d -m 0755 "$D/etc"
install -D -m 0644 "$here/sysusers.d/onewindow.conf" "$D/usr/lib/sysusers.d/onewindow.conf"
if live; then systemd-sysusers onewindow.conf; else systemd-sysusers --root="$D" onewindow.conf; fi
uid=$(awk -F: '$1 == "onewindow" { print $3 }' "$D/etc/passwd")
gid=$(awk -F: '$1 == "onewindow" { print $3 }' "$D/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || { echo "install.sh: user onewindow was not created" >&2; exit 1; }
as_root=$([ "$(id -u)" -eq 0 ] && echo yes || echo no)
own() {  # owner:group by number (a staged root's names are not this machine's); only root can chown
    [ "$as_root" = yes ] && chown "$1" "$2" || true
}

# 3. The program: a venv in the prefix, the project installed into it (upgrades in place).
[ -x "$D$prefix/venv/bin/python" ] || "$python" -m venv "$D$prefix/venv"
if [ -n "$wheelhouse" ]; then
    # shellcheck disable=SC2086
    "$D$prefix/venv/bin/python" -m pip install --quiet --upgrade --no-index --find-links "$wheelhouse" $pip_args onewindow-edge
else
    # shellcheck disable=SC2086
    "$D$prefix/venv/bin/python" -m pip install --quiet --upgrade $pip_args "$source_dir"
fi
install -D -m 0644 "$source_dir/README.md" "$D$prefix/share/README.md"

# 4. The unit (its paths follow --prefix).
install -d -m 0755 "$D/etc/systemd/system"
sed "s|/opt/onewindow|$prefix|g" "$here/systemd/$unit" > "$D/etc/systemd/system/$unit"
chmod 0644 "$D/etc/systemd/system/$unit"
if [ "$role" = node ]; then  # the daily backup (README: Backups and upgrades), into /var/backups/onewindow-node
    for extra in onewindow-node-backup.service onewindow-node-backup.timer; do
        sed "s|/opt/onewindow|$prefix|g" "$here/systemd/$extra" > "$D/etc/systemd/system/$extra"
        chmod 0644 "$D/etc/systemd/system/$extra"
    done
    install -d -m 0700 "$D/var/backups/onewindow-node"
    own "$uid:$gid" "$D/var/backups/onewindow-node"
fi

# 5. Settings: written once, never over the administrator's edits. Readable by the service, not by others.
install -d -m 0750 "$D/etc/onewindow"
own "0:$gid" "$D/etc/onewindow"
if [ ! -e "$D/etc/onewindow/$role.env" ]; then
    install -m 0640 "$here/env/$role.env" "$D/etc/onewindow/$role.env"
    own "0:$gid" "$D/etc/onewindow/$role.env"
fi

# 6. State: data and keys apart (R-SEC-1), each 0700 and the service user's. Made now, so enrolment (node) or
#    copying the county directory (central) can happen before the first start; systemd keeps them so.
for dir in "$data" "$keys"; do
    install -d -m 0700 "$D$dir"
    own "$uid:$gid" "$D$dir"
done

# 7. Node: the USB devices for the service user.
if [ "$role" = node ]; then
    install -D -m 0644 "$here/udev/70-onewindow.rules" "$D/etc/udev/rules.d/70-onewindow.rules"
fi

if live; then
    if [ "$role" = node ] && command -v udevadm >/dev/null 2>&1; then
        udevadm control --reload && udevadm trigger --subsystem-match=usb --subsystem-match=hidraw || true
    fi
    systemctl daemon-reload
    systemctl enable "$unit"
    [ "$role" = node ] && systemctl enable onewindow-node-backup.timer
fi

say "已安装 $unit（程序 $prefix，数据 $data，密钥 $keys，设置 /etc/onewindow/$role.env）。"
if [ "$role" = node ]; then
    say "下一步：sudo -u onewindow $prefix/venv/bin/onewindow node enroll BUNDLE --data $data --keys $keys --qr '…'"
else
    say "下一步：把县目录（provision init 生成）复制到 $keys 并 chown -R onewindow:onewindow $keys"
fi
say "然后：sudo systemctl start $unit；日志：journalctl -u $unit -f"
