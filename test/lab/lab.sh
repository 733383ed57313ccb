#!/usr/bin/env bash
# Lab of hosts for the pulumi-conntrack lab test tier.
#
# Each lab host ctlabI is a network namespace (own netfilter, conntrack and sysctl state)
# plus a private mount/UTS namespace for a real, stock-configured sshd and everything it
# spawns. In that mount namespace /etc, /var/lib/dpkg/alternatives, /root and /home/ctlab
# are private copies (see BIND_MOUNTS); the rest of the filesystem is the machine's.
#
# Why all of /etc and not only the paths the provider manages: the provider writes files
# atomically (temp file in the same directory, then rename). A rename onto a file bind mount
# such as /etc/nftables.conf fails with EBUSY, and the temp file would land in the machine's
# /etc. With a private /etc both just work, as on a real host.
#
# Usage: lab.sh up N | down | inventory | backend NAME legacy|nft | reset NAME | exec NAME CMD...
set -euo pipefail

readonly STATE="${CONNTRACK_LAB_DIR:-/run/pulumi-conntrack-lab}"
readonly LOCK="${STATE%/}.lock"           # outside STATE: `down` removes STATE while holding it
readonly MARKER=".pulumi-conntrack-lab"   # `down` only deletes a STATE dir that carries this
readonly PREFIX="ctlab"
readonly BRIDGE="ctlabbr0"
readonly NET4="10.213.0"
readonly NET6="fd42:c7:"
readonly LAB_USER="ctlab"
readonly MAX_HOSTS=99
# Policy-routing rule/table that stops anything arriving from the bridge from being routed
# off the machine, even where ip_forward is on (CI runners often have it on).
readonly RULE_PREF=10213
readonly RULE_TABLE=10213
readonly CLEAN_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Bind mounts inside each host: "<path under hosts/ctlabI/>:<mount target>".
readonly BIND_MOUNTS=(
  "etc:/etc"
  # update-alternatives keeps its admin state here; private so a switch inside a host
  # (ours in `backend`, or the provider's) never changes the machine's alternatives.
  "dpkg-alternatives:/var/lib/dpkg/alternatives"
  "root:/root"
  "ctlab-home:/home/${LAB_USER}"
  # Empty unless a test puts fault-injection shims there: first on root's and the provider's
  # PATH, so a shim shadows the real tool inside this host only.
  "usr-local-sbin:/usr/local/sbin"
)

# Paths (under hosts/ctlabI/) that `reset` restores from hosts/ctlabI/pristine/: what the
# provider and the tests change. The rest of the private /etc is a plain copy of the
# machine's, taken at `up`.
readonly RESET_PATHS=(
  etc/modprobe.d
  etc/sysctl.d
  etc/iptables       # iptables-persistent rules.v4/rules.v6 (absent on the machine: empty)
  etc/sysconfig      # RHEL-style config dir (absent on Debian: empty)
  etc/nftables.conf  # Debian's stock file
  etc/alternatives   # iptables/ip6tables on the nft backend
  # Name resolution: a host must resolve its own name (sudo looks it up on every call and
  # would otherwise wait ~20 s for DNS) and must never send DNS queries off the lab.
  etc/hostname
  etc/hosts
  etc/resolv.conf
  dpkg-alternatives
  root
  ctlab-home
  usr-local-sbin
)

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat >&2 <<EOF
usage: lab.sh up N | down | inventory | backend NAME legacy|nft | reset NAME | exec NAME CMD...
state dir: ${STATE} (override with CONNTRACK_LAB_DIR)
EOF
}

require_root() {
  if [[ ${EUID} -ne 0 ]]; then
    echo "lab.sh: the lab needs root (network namespaces, bind mounts, sshd); skipping" >&2
    exit 77
  fi
}

# Serialise commands that change the lab (two vitest runs may race to bring it up).
take_lock() {
  exec 9>"${LOCK}"
  flock 9
}

host_dir() { printf '%s/hosts/%s' "${STATE}" "$1"; }
host_addr4() { printf '%s.%d' "${NET4}" "$((10 + $1))"; }
host_addr6() { printf '%s:%d' "${NET6}" "$((10 + $1))"; }

# Validate a host name and print its index.
host_index() {
  [[ $1 =~ ^${PREFIX}([0-9]+)$ ]] || die "not a lab host name: $1"
  local i=$((10#${BASH_REMATCH[1]}))
  [[ -d $(host_dir "$1") ]] || die "no such lab host: $1 (is the lab up?)"
  printf '%d' "${i}"
}

# Print the sshd pid of a host if that sshd is alive, else fail.
sshd_pid() {
  local pidfile
  pidfile="$(host_dir "$1")/sshd.pid"
  [[ -s ${pidfile} ]] || return 1
  local pid
  pid=$(<"${pidfile}")
  is_live_sshd "${pid}" || return 1
  printf '%s' "${pid}"
}

# A running (not zombie) sshd. Zombies matter: where PID 1 does not reap orphans (some
# sandboxes), a killed sshd lingers as <defunct> with comm still "sshd".
is_live_sshd() {
  local pid=$1 stat
  [[ ${pid} =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/${pid}/stat" 2>/dev/null) || return 1
  # Fields after the last ')' : state is the first one.
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] && $(cat "/proc/${pid}/comm" 2>/dev/null) == sshd ]]
}

# Run a command inside a host: its netns, mount ns (private /etc, homes) and UTS ns, as root
# with a clean environment so the caller's PATH/pyenv never leaks in. stdin passes through.
host_exec() {
  local name=$1; shift
  local pid
  pid=$(sshd_pid "${name}") || die "sshd of ${name} is not running"
  nsenter -t "${pid}" -n -m -u -- env -i PATH="${CLEAN_PATH}" HOME=/root USER=root \
    LOGNAME=root LANG=C.UTF-8 "$@"
}

json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "${s}"
}

# ---------------------------------------------------------------------------------------
# Machine prerequisites (persist across up/down; they are harmless and CI needs them anyway)

check_tools() {
  local t missing=()
  for t in ip nsenter unshare setsid flock ssh-keygen /usr/sbin/sshd nft conntrack \
      iptables-legacy iptables-nft ip6tables-legacy ip6tables-nft update-alternatives \
      useradd visudo sysctl; do
    command -v "${t}" >/dev/null 2>&1 || missing+=("${t}")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (apt-get install openssh-server iptables nftables conntrack iproute2 sudo)"
}

ensure_lab_user() {
  if ! id -u "${LAB_USER}" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "${LAB_USER}"
    # '*' = no password login, but unlike useradd's '!' the account is not "locked".
    usermod -p '*' "${LAB_USER}"
  fi
  local sudoers="/etc/sudoers.d/${LAB_USER}" want="${LAB_USER} ALL=(ALL) NOPASSWD: ALL"
  if [[ ! -f ${sudoers} || $(<"${sudoers}") != "${want}" ]]; then
    printf '%s\n' "${want}" >"${sudoers}.tmp"
    chmod 0440 "${sudoers}.tmp"
    visudo -cqf "${sudoers}.tmp" || die "visudo rejected ${sudoers}"
    mv -f "${sudoers}.tmp" "${sudoers}"
  fi
}

# Bind mounts need existing mountpoints on the machine (all standard ones; /home/ctlab comes
# with the user). sshd needs its privilege-separation dir.
ensure_mountpoints() {
  mkdir -p /run/sshd "/home/${LAB_USER}" /var/lib/dpkg/alternatives /usr/local/sbin
  chmod 0755 /run/sshd
}

# ---------------------------------------------------------------------------------------
# Per-host files

# Debian's stock /etc/nftables.conf (nftables 1.0.6, bookworm), so every host starts from
# the distribution default whatever the machine's copy says.
write_stock_nftables_conf() {
  cat >"$1" <<'EOF'
#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
EOF
  chmod 0755 "$1"
}

# A home directory with only /etc/skel dotfiles (the machine's /root starts pyenv on every
# login) plus the lab client key.
make_home() {
  local dir=$1 owner=$2 mode=$3
  mkdir -p "${dir}/.ssh"
  cp -a /etc/skel/. "${dir}/"
  cp "${STATE}/id_ed25519.pub" "${dir}/.ssh/authorized_keys"
  chmod "${mode}" "${dir}"
  chmod 0700 "${dir}/.ssh"
  chmod 0600 "${dir}/.ssh/authorized_keys"
  chown -R "${owner}:" "${dir}"
}

# Debian-style /etc/hosts (own name on 127.0.1.1) that also names the other lab hosts.
write_hosts_file() {
  local out=$1 self=$2 n=$3 i
  {
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "${self}"
    printf '::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n'
    for ((i = 1; i <= n; i++)); do
      [[ ${PREFIX}${i} == "${self}" ]] && continue
      printf '%s\t%s\n%s\t%s\n' "$(host_addr4 "${i}")" "${PREFIX}${i}" "$(host_addr6 "${i}")" "${PREFIX}${i}"
    done
  } >"${out}"
}

# The pristine state of every RESET_PATHS entry.
make_pristine() {
  local p=$1 self=$2 n=$3
  mkdir -p "${p}/etc"
  cp -a /etc/modprobe.d /etc/sysctl.d /etc/alternatives "${p}/etc/"
  mkdir -m 0755 "${p}/etc/iptables" "${p}/etc/sysconfig"
  write_stock_nftables_conf "${p}/etc/nftables.conf"
  # Every host starts on the nft backend, whatever the machine uses.
  local alt
  for alt in iptables ip6tables; do
    ln -sfn "/usr/sbin/${alt}-nft" "${p}/etc/alternatives/${alt}"
    ln -sfn "/usr/sbin/${alt}-nft-save" "${p}/etc/alternatives/${alt}-save"
    ln -sfn "/usr/sbin/${alt}-nft-restore" "${p}/etc/alternatives/${alt}-restore"
  done
  echo "${self}" >"${p}/etc/hostname"
  write_hosts_file "${p}/etc/hosts" "${self}" "${n}"
  # No reachable DNS in the lab: point the resolver at the host's own loopback, where the
  # query is refused at once instead of timing out or leaving the lab.
  printf '# lab host: no DNS\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"${p}/etc/resolv.conf"
  chmod 0644 "${p}/etc/hostname" "${p}/etc/hosts" "${p}/etc/resolv.conf"
  cp -a /var/lib/dpkg/alternatives "${p}/dpkg-alternatives"
  make_home "${p}/root" root 0700
  make_home "${p}/ctlab-home" "${LAB_USER}" 0750
  mkdir -m 0755 "${p}/usr-local-sbin"
}

# Stock Debian sshd_config plus only what a second sshd on the machine needs: its own host
# keys, pid file and listen addresses. Prepended, so they precede any Match block.
write_sshd_config() {
  local h=$1 i=$2 stock=/usr/share/openssh/sshd_config
  [[ -f ${stock} ]] || stock=/etc/ssh/sshd_config
  {
    echo "# lab host ${PREFIX}${i}: Debian stock sshd_config + host keys, pid file, listen addresses"
    echo "HostKey ${h}/ssh_host_ed25519_key"
    echo "HostKey ${h}/ssh_host_rsa_key"
    echo "PidFile ${h}/sshd.pid"
    echo "ListenAddress $(host_addr4 "${i}"):22"
    echo "ListenAddress [$(host_addr6 "${i}")]:22"
    echo
    cat "${stock}"
  } >"${h}/sshd_config"
}

prepare_host() {
  local i=$1 n=$2 h
  h=$(host_dir "${PREFIX}${i}")
  mkdir -p "${h}"
  ssh-keygen -q -t ed25519 -N '' -C '' -f "${h}/ssh_host_ed25519_key"
  # RSA 2048, not Debian's 3072: 4x faster to generate (8 hosts share 2 CPUs in CI), and
  # clients pin the ed25519 key anyway.
  ssh-keygen -q -t rsa -b 2048 -N '' -C '' -f "${h}/ssh_host_rsa_key"
  write_sshd_config "${h}" "${i}"
  make_pristine "${h}/pristine" "${PREFIX}${i}" "${n}"
  # Live tree: the machine's /etc (taken after the ctlab user and sudoers exist), then the
  # pristine versions of the paths `reset` manages on top.
  cp -a /etc "${h}/etc"
  local rel
  for rel in "${RESET_PATHS[@]}"; do
    rm -rf -- "${h:?}/${rel}"
    cp -a -- "${h}/pristine/${rel}" "${h}/${rel}"
  done
}

# ---------------------------------------------------------------------------------------
# Network

create_bridge() {
  ip link add "${BRIDGE}" type bridge
  sysctl -qw "net.ipv6.conf.${BRIDGE}.disable_ipv6=0" "net.ipv6.conf.${BRIDGE}.accept_ra=0" \
    "net.ipv4.conf.${BRIDGE}.forwarding=0"
  ip addr add "${NET4}.1/24" dev "${BRIDGE}"
  ip -6 addr add "${NET6}:1/64" dev "${BRIDGE}" nodad
  ip link set "${BRIDGE}" up
  ip -4 rule add pref "${RULE_PREF}" iif "${BRIDGE}" lookup "${RULE_TABLE}"
  ip -6 rule add pref "${RULE_PREF}" iif "${BRIDGE}" lookup "${RULE_TABLE}"
  ip -4 route add unreachable default table "${RULE_TABLE}"
  ip -6 route add unreachable default table "${RULE_TABLE}"
}

create_host_net() {
  local i=$1 ns="${PREFIX}$1"
  ip netns add "${ns}"
  ip link add "${PREFIX}v${i}" type veth peer name eth0 netns "${ns}"
  ip link set "${PREFIX}v${i}" master "${BRIDGE}" up
  ip -n "${ns}" link set lo up
  ip -n "${ns}" addr add "$(host_addr4 "${i}")/24" dev eth0
  ip -n "${ns}" -6 addr add "$(host_addr6 "${i}")/64" dev eth0 nodad
  ip -n "${ns}" link set eth0 up
  ip -n "${ns}" route add default via "${NET4}.1"
  ip -n "${ns}" -6 route add default via "${NET6}:1"
}

# Writable net.netfilter.* sysctls of a fresh netns, replayed by `reset`. One find + grep
# rather than a process per file: this runs while the host keys are being generated.
snapshot_netfilter_sysctls() {
  local ns=$1 out=$2
  ip netns exec "${ns}" sh -c 'cd /proc/sys && find net/netfilter -type f -perm -u+w -exec grep -H "" {} +' |
    awk '{ i = index($0, ":"); key = substr($0, 1, i - 1); gsub("/", ".", key); print key " = " substr($0, i + 1) }' |
    sort >"${out}"
}

# ---------------------------------------------------------------------------------------
# sshd

# Runs inside `ip netns exec NS unshare --mount --uts --propagation private`: bind the
# private paths, name the host, then become sshd (so the recorded pid is sshd itself).
# shellcheck disable=SC2016
readonly SSHD_BOOT='
set -euo pipefail
h=$1 name=$2; shift 2
for entry in "$@"; do
  mount --bind "$h/${entry%%:*}" "${entry#*:}"
done
echo "$name" >/proc/sys/kernel/hostname
exec /usr/sbin/sshd -D -e -f "$h/sshd_config"
'

start_sshd() {
  local i=$1 ns="${PREFIX}$1" h
  h=$(host_dir "${ns}")
  rm -f "${h}/sshd.pid"
  setsid ip netns exec "${ns}" unshare --mount --uts --propagation private \
    bash -c "${SSHD_BOOT}" sshd-boot "${h}" "${ns}" "${BIND_MOUNTS[@]}" \
    </dev/null >>"${h}/sshd.log" 2>&1 9>&- &
}

# sshd writes its PidFile only after binding its listen sockets, so a pid file with a live
# sshd behind it means the host accepts connections.
wait_sshd() {
  local ns=$1 tries=0
  until sshd_pid "${ns}" >/dev/null; do
    if ((++tries > 200)); then
      log "sshd of ${ns} did not come up; its log:"
      tail -n 20 "$(host_dir "${ns}")/sshd.log" >&2 || true
      return 1
    fi
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------------------
# Inventory

write_inventory() {
  local n=$1 i ns h pub
  {
    printf '{"stateDir": %s, "privateKeyPath": %s, "publicKey": %s, "knownHostsPath": %s,\n' \
      "$(json_str "${STATE}")" "$(json_str "${STATE}/id_ed25519")" \
      "$(json_str "$(cut -d' ' -f1-3 "${STATE}/id_ed25519.pub")")" \
      "$(json_str "${STATE}/known_hosts")"
    printf ' "user": %s,\n "hosts": [' "$(json_str "${LAB_USER}")"
    for ((i = 1; i <= n; i++)); do
      ns="${PREFIX}${i}"
      h=$(host_dir "${ns}")
      pub=$(cut -d' ' -f1-2 "${h}/ssh_host_ed25519_key.pub")
      ((i > 1)) && printf ','
      printf '\n  {"name": %s, "address": %s, "address6": %s, "port": 22, "hostKey": %s, "hostKeyFingerprint": %s, "netns": %s, "sshdPid": %d}' \
        "$(json_str "${ns}")" "$(json_str "$(host_addr4 "${i}")")" \
        "$(json_str "$(host_addr6 "${i}")")" "$(json_str "${pub}")" \
        "$(json_str "$(ssh-keygen -lf "${h}/ssh_host_ed25519_key.pub" | cut -d' ' -f2)")" \
        "$(json_str "${ns}")" "$(sshd_pid "${ns}")"
    done
    printf '\n]}\n'
  } >"${STATE}/inventory.json.tmp"
  mv -f "${STATE}/inventory.json.tmp" "${STATE}/inventory.json"
}

# known_hosts for every host by both addresses, so tests can use StrictHostKeyChecking=yes.
write_known_hosts() {
  local n=$1 i h
  for ((i = 1; i <= n; i++)); do
    h=$(host_dir "${PREFIX}${i}")
    printf '%s,%s %s\n' "$(host_addr4 "${i}")" "$(host_addr6 "${i}")" \
      "$(cut -d' ' -f1-2 "${h}/ssh_host_ed25519_key.pub")"
    printf '%s,%s %s\n' "$(host_addr4 "${i}")" "$(host_addr6 "${i}")" \
      "$(cut -d' ' -f1-2 "${h}/ssh_host_rsa_key.pub")"
  done >"${STATE}/known_hosts"
}

# ---------------------------------------------------------------------------------------
# Commands

# True when a complete lab with exactly N hosts is running.
lab_is_up() {
  local n=$1 i
  [[ -f ${STATE}/inventory.json && -f ${STATE}/size && $(<"${STATE}/size") == "${n}" ]] || return 1
  ip link show "${BRIDGE}" >/dev/null 2>&1 || return 1
  for ((i = 1; i <= n; i++)); do
    [[ -e /run/netns/${PREFIX}${i} ]] || return 1
    sshd_pid "${PREFIX}${i}" >/dev/null || return 1
  done
}

cmd_up() {
  local n=${1:-}
  [[ ${n} =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_HOSTS)) || die "up: N must be 1..${MAX_HOSTS}"
  if lab_is_up "${n}"; then
    log "already up with ${n} hosts (${STATE}/inventory.json)"
    return 0
  fi
  down_all
  check_tools
  ensure_lab_user
  ensure_mountpoints

  # Any failure from here on exits (set -e); the EXIT trap then removes the partial lab.
  trap 'up_failed $?' EXIT
  mkdir -p "${STATE}/hosts"
  chmod 0755 "${STATE}"
  touch "${STATE}/${MARKER}"
  ssh-keygen -q -t ed25519 -N '' -C lab -f "${STATE}/id_ed25519"

  # Host key generation dominates start-up time: run it for all hosts in the background
  # while the network is built.
  local i pids=()
  for ((i = 1; i <= n; i++)); do
    prepare_host "${i}" "${n}" &
    pids+=($!)
  done
  create_bridge
  for ((i = 1; i <= n; i++)); do
    create_host_net "${i}"
    snapshot_netfilter_sysctls "${PREFIX}${i}" "${STATE}/hosts/${PREFIX}${i}.netfilter.sysctl"
  done
  for i in "${pids[@]}"; do wait "${i}"; done
  for ((i = 1; i <= n; i++)); do
    mv "${STATE}/hosts/${PREFIX}${i}.netfilter.sysctl" "$(host_dir "${PREFIX}${i}")/pristine/netfilter.sysctl"
    start_sshd "${i}"
  done
  for ((i = 1; i <= n; i++)); do wait_sshd "${PREFIX}${i}"; done

  echo "${n}" >"${STATE}/size"
  write_known_hosts "${n}"
  write_inventory "${n}"
  trap - EXIT
  log "up: ${n} hosts ${PREFIX}1..${PREFIX}${n} on ${BRIDGE} (${NET4}.0/24, ${NET6}:/64); inventory: ${STATE}/inventory.json"
}

up_failed() {
  local rc=$1
  trap - EXIT
  ((rc != 0)) || return 0
  if [[ ${CONNTRACK_LAB_KEEP:-} == 1 ]]; then
    log "up failed; leaving the half-started lab for inspection (CONNTRACK_LAB_KEEP=1); run: lab.sh down"
  else
    log "up failed; cleaning up"
    down_all
  fi
  exit "${rc}"
}

# Kill every process in a lab netns: sshd, its sessions, and anything a test started there.
kill_netns_procs() {
  local ns=$1 pids tries=0
  pids=$(ip netns pids "${ns}" 2>/dev/null || true)
  [[ -n ${pids} ]] || return 0
  # shellcheck disable=SC2086
  kill -TERM ${pids} 2>/dev/null || true
  while pids=$(ip netns pids "${ns}" 2>/dev/null) && [[ -n ${pids} ]] && ((++tries <= 40)); do
    sleep 0.05
  done
  # shellcheck disable=SC2086
  [[ -z ${pids} ]] || kill -KILL ${pids} 2>/dev/null || true
}

# Tear down whatever part of a lab exists; works on a half-started lab and on nothing.
down_all() {
  local ns pidfile pid link mnt

  # sshds whose netns is already gone would otherwise keep running.
  for pidfile in "${STATE}"/hosts/*/sshd.pid; do
    [[ -s ${pidfile} ]] || continue
    pid=$(<"${pidfile}")
    if is_live_sshd "${pid}"; then kill -TERM "${pid}" 2>/dev/null || true; fi
  done

  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}[0-9]+$" || true); do
    kill_netns_procs "${ns}"
    ip netns del "${ns}" 2>/dev/null || true
  done

  # veths die with their netns; these catch a pair created before its netns move failed.
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
      grep -E "^(${PREFIX}v[0-9]+|${BRIDGE})$" || true); do
    ip link del "${link}" 2>/dev/null || true
  done

  while ip -4 rule del pref "${RULE_PREF}" 2>/dev/null; do :; done
  while ip -6 rule del pref "${RULE_PREF}" 2>/dev/null; do :; done
  ip -4 route flush table "${RULE_TABLE}" 2>/dev/null || true
  ip -6 route flush table "${RULE_TABLE}" 2>/dev/null || true

  # The bind mounts live in the hosts' own mount namespaces and vanish with them; anything
  # under STATE in this namespace would be a leftover of a manual debugging session.
  for mnt in $(awk -v s="${STATE%/}/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "${mnt}" 2>/dev/null || true
  done

  if [[ -d ${STATE} ]]; then
    if [[ -e ${STATE}/${MARKER} || -z $(ls -A "${STATE}") ]]; then
      rm -rf -- "${STATE}"
    else
      log "not removing ${STATE}: it does not look like a lab state dir"
    fi
  fi
}

cmd_down() {
  down_all
  log "down: no lab hosts, bridge, sshd or state left"
}

cmd_inventory() {
  [[ -f ${STATE}/inventory.json ]] || die "lab not up (no ${STATE}/inventory.json)"
  cat "${STATE}/inventory.json"
}

cmd_backend() {
  local name=${1:-} mode=${2:-} alt
  [[ -n ${name} && ( ${mode} == legacy || ${mode} == nft ) ]] || die "usage: backend NAME legacy|nft"
  host_index "${name}" >/dev/null
  # update-alternatives inside the host rewrites the host's private /etc/alternatives links
  # (incl. -save/-restore slaves) and admin state, exactly as an admin would on a real box.
  for alt in iptables ip6tables; do
    host_exec "${name}" update-alternatives --quiet --set "${alt}" "/usr/sbin/${alt}-${mode}"
  done
  host_exec "${name}" iptables -V
}

# Flush legacy xtables tables that exist in the host's netns (reading the *_names files does
# not instantiate tables, unlike `iptables-legacy -t TABLE`).
flush_legacy_tables() {
  local name=$1
  host_exec "${name}" bash -c '
    for fam in ip:iptables-legacy ip6:ip6tables-legacy; do
      names=/proc/net/${fam%%:*}_tables_names cmd=${fam#*:}
      [[ -r $names ]] || continue
      for t in $(cat "$names"); do
        $cmd -w -t "$t" -F
        $cmd -w -t "$t" -X
        $cmd -w -t "$t" -Z
        for c in $($cmd -w -t "$t" -S | awk "/^-P/ {print \$2}"); do
          $cmd -w -t "$t" -P "$c" ACCEPT
        done
      done
    done'
}

# Restore a path from its pristine copy. Directories are emptied and refilled in place:
# bind mount sources (root, ctlab-home, dpkg-alternatives) pin their inode and cannot be
# replaced. Anything whose type changed is replaced outright.
restore_path() {
  local src=$1 dst=$2
  if [[ -d ${src} && -d ${dst} && ! -L ${dst} ]]; then
    find "${dst}" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
    cp -a -- "${src}/." "${dst}/"
    chmod --reference="${src}" -- "${dst}"
    chown --reference="${src}" -- "${dst}"
  else
    rm -rf -- "${dst}"
    cp -a -- "${src}" "${dst}"
  fi
}

cmd_reset() {
  local name=${1:-} h rel
  [[ -n ${name} ]] || die "usage: reset NAME"
  host_index "${name}" >/dev/null
  h=$(host_dir "${name}")
  sshd_pid "${name}" >/dev/null || die "sshd of ${name} is not running; run: lab.sh down && lab.sh up N"

  flush_legacy_tables "${name}"
  host_exec "${name}" nft flush ruleset
  host_exec "${name}" conntrack -F >/dev/null 2>&1 || true
  host_exec "${name}" conntrack -F expect >/dev/null 2>&1 || true
  # Best effort: some netfilter sysctls are only writable in the initial netns.
  host_exec "${name}" sysctl -q -e -p "${h}/pristine/netfilter.sysctl" >/dev/null 2>&1 || true

  for rel in "${RESET_PATHS[@]}"; do
    restore_path "${h}/pristine/${rel}" "${h}/${rel}"
  done
  log "reset: ${name} back to pristine (rulesets flushed, conntrack flushed, private /etc paths and homes restored, backend nft)"
}

cmd_exec() {
  local name=${1:-}
  [[ -n ${name} && $# -ge 2 ]] || die "usage: exec NAME CMD..."
  shift
  host_index "${name}" >/dev/null
  host_exec "${name}" "$@"  # its exit status becomes ours (set -e)
}

main() {
  local cmd=${1:-}
  [[ -n ${cmd} ]] || { usage; exit 2; }
  shift
  case "${cmd}" in
    -h | --help | help) usage; exit 0 ;;
  esac
  require_root
  case "${cmd}" in
    up) take_lock; cmd_up "$@" ;;
    down) take_lock; cmd_down ;;
    inventory) cmd_inventory ;;
    backend) take_lock; cmd_backend "$@" ;;
    reset) take_lock; cmd_reset "$@" ;;
    exec) cmd_exec "$@" ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
