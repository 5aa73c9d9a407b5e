# Sourced by the install scripts: one way to install Debian packages whose services we run ourselves.
#
#   apt_install_quietly NAME PACKAGE...
#
# Installs the packages that are missing (refreshing the package lists only when a candidate is unknown),
# with a policy-rc.d that forbids postinst from starting the packaged services; NAME prefixes its messages.
# Needs root only when something is missing.
apt_install_quietly() {
    local name=$1
    shift
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "$name: already installed: $*"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "$name: need root to install: ${missing[*]}" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    for pkg in "${missing[@]}"; do
        if ! apt-cache policy "$pkg" 2>/dev/null | grep -q "Candidate: [0-9]"; then
            apt-get update -q
            break
        fi
    done
    # policy-rc.d exit 101 = "action forbidden": postinst must not start the packaged services.
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    local status=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
    [ "$created_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$status" -eq 0 ] || return "$status"
    echo "$name: installed: ${missing[*]}"
}

# stop_packaged_service UNIT...: stop and disable a packaged service if it runs anyway (we run our own).
stop_packaged_service() {
    local unit
    for unit in "$@"; do
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$unit" ]; then
            "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
        fi
    done
}
