#!/usr/bin/env bash
# Real-kernel VM tier: a Debian bullseye guest (kernel 5.10, netfilter built as modules) under
# qemu-system-x86_64 with software emulation (TCG), reachable over SSH on a loopback port.
#
# This machine's own kernel has every netfilter module built in, so module loading, `modprobe -r`,
# /etc/modprobe.d semantics and the pre-6.0 sysctl net.netfilter.nf_conntrack_helper can only be
# exercised in this guest.
#
#   vm.sh build [--force]  build the guest image once (cached in $CONNTRACK_VM_CACHE)
#   vm.sh up               boot it (builds first when needed); no-op when already up
#   vm.sh reboot           reboot the guest for real (systemd shutdown, then a new boot of the
#                          kernel and initrd now in the guest's /boot); also powers on a guest that
#                          rebooted itself; prints the timings
#   vm.sh down             stop it and clean the run dir; safe when nothing runs
#   vm.sh status           print "up" or "down" (exit 0 / 3)
#   vm.sh inventory        print the JSON inventory (also written to the run dir while up)
#   vm.sh ssh CMD...       run a command in the guest (words joined by ssh, as with plain ssh)
#   vm.sh log              print the guest's serial console log
#
# Environment:
#   CONNTRACK_VM_CACHE   image cache (default /var/cache/pulumi-conntrack/vm)
#   CONNTRACK_VM_RUN     run dir: pid file, serial log, inventory.json (default /run/pulumi-conntrack-vm)
#   CONNTRACK_VM_PORT    loopback TCP port forwarded to the guest's sshd (default 2522)
#   CONNTRACK_VM_MIRROR  Debian mirror used at build time (default: the first Debian archive URI
#                        of this machine's own apt configuration, /etc/apt/sources.list and
#                        /etc/apt/sources.list.d/*.list / *.sources)
#   CONNTRACK_VM_BOOT_TIMEOUT  seconds to wait for sshd after starting qemu (default 600: a loaded
#                        2-core machine has taken 220 s to boot the guest under TCG)
#
# The image is never written: `up` gives each run its own sparse copy of the disk (under
# $CONNTRACK_VM_CACHE/runs/), so every `up` starts from the same pristine state while a reboot
# keeps what the guest wrote. Every boot, first or after a reboot, boots the guest's OWN kernel and
# initrd: they are read from the run disk's /boot (debugfs) just before qemu starts, so an
# `update-initramfs` inside the guest decides what the next boot runs, as a bootloader would.
# qemu runs with -no-reboot: a guest reboot ends qemu after systemd's shutdown, and `vm.sh reboot`
# (or the next `vm.sh reboot` after the guest rebooted itself) boots the disk again.
# Its network is qemu user-mode networking with restrict=on: the guest reaches nothing; only the
# host's loopback port forward reaches the guest's sshd.
set -euo pipefail

# Bump to force every cache to rebuild its image (e.g. after changing the package list or setup).
readonly BUILD_VERSION=2
readonly SUITE=bullseye
readonly PACKAGES=(
  linux-image-amd64 initramfs-tools kmod systemd-sysv udev
  openssh-server iptables nftables conntrack iproute2 sudo procps
)

CACHE="${CONNTRACK_VM_CACHE:-/var/cache/pulumi-conntrack/vm}"
RUN="${CONNTRACK_VM_RUN:-/run/pulumi-conntrack-vm}"
PORT="${CONNTRACK_VM_PORT:-2522}"
MIRROR="${CONNTRACK_VM_MIRROR:-}"
BOOT_TIMEOUT="${CONNTRACK_VM_BOOT_TIMEOUT:-600}"
KEY="$CACHE/id_ed25519"
IMAGE_DIR="$CACHE/image"
LOG="$CACHE/build.log"
PIDFILE="$RUN/qemu.pid"
SERIAL="$RUN/serial.log"
KNOWN_HOSTS="$RUN/known_hosts"
INVENTORY="$RUN/inventory.json"
DISK_REF="$RUN/disk-dir"
RUNS_DIR="$CACHE/runs"
CMDLINE="root=/dev/vda rootfstype=ext4 rw console=ttyS0 acpi=off net.ifnames=0 panic=-1 mitigations=off"

log() { printf '[vm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

check_paths() {
  local p
  for p in "$CACHE" "$RUN"; do
    case "$p" in
      /?*/?*) ;;
      *) die "refusing to use '$p' (must be an absolute path at least two levels deep)" ;;
    esac
  done
  if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    die "bad CONNTRACK_VM_PORT '$PORT'"
  fi
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

need_cmds() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]}"
}

# JSON string literal (the values here are paths, keys and kernel releases: escape \ and ").
json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# Read one string field from a flat JSON object written by this script.
json_field() {
  sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1
}

# ---------------------------------------------------------------------------------------------
# build

# Unmount everything below $1, then delete it without crossing into other filesystems.
remove_tree() {
  local dir=$1 m
  [[ -e "$dir" ]] || return 0
  while read -r m; do
    if [[ -n "$m" ]]; then umount -l "$m" 2>/dev/null || true; fi
  done < <(findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r)
  if findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | grep -q .; then
    die "still mounted below $dir; not deleting it"
  fi
  rm -rf --one-file-system "$dir"
}

ensure_key() {
  [[ -s "$KEY" && -s "$KEY.pub" ]] && return 0
  local tmp
  tmp=$(mktemp -d "$CACHE/.key.XXXXXX")
  ssh-keygen -q -t ed25519 -N '' -C pulumi-conntrack-vm -f "$tmp/id_ed25519"
  mv -f "$tmp/id_ed25519.pub" "$KEY.pub"
  mv -f "$tmp/id_ed25519" "$KEY"
  rmdir "$tmp"
  log "generated client key $KEY"
}

# The image is usable when its (atomically renamed) directory is complete, of this BUILD_VERSION,
# and authorizes the current client key.
image_valid() {
  local meta="$IMAGE_DIR/image.json"
  [[ -s "$meta" && -s "$IMAGE_DIR/disk.img" ]] || return 1
  grep -q "\"buildVersion\": *${BUILD_VERSION}[,} ]" "$meta" || return 1
  [[ -s "$KEY" && -s "$KEY.pub" ]] || return 1
  [[ "$(json_field "$meta" clientKey)" == "$(cut -d' ' -f1,2 "$KEY.pub")" ]] || return 1
}

# The Debian archive this machine's apt already uses: the first `deb` source (one-line .list
# format or deb822 .sources) whose URI path ends in /debian, i.e. the main archive, not
# debian-security or a third-party repository. Prints nothing when there is none.
apt_mirror() {
  local f files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  ((${#files[@]} > 0)) || return 0
  awk '
    function consider(uri) {
      sub(/\/+$/, "", uri)
      if (found == "" && uri ~ /^https?:\/\/[^ ]+\/debian$/) found = uri
    }
    function flush(  n, i, u) {
      if (types ~ / deb / && enabled != "no") { n = split(uris, u, " "); for (i = 1; i <= n; i++) consider(u[i]) }
      types = ""; uris = ""; enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 && /^[ \t]*$/ { flush(); next }
    deb822 && /^[ \t]*#/ { next }
    deb822 && tolower($1) == "types:" { types = " "; for (i = 2; i <= NF; i++) types = types $i " " }
    deb822 && tolower($1) == "uris:" { uris = ""; for (i = 2; i <= NF; i++) uris = uris " " $i }
    deb822 && tolower($1) == "enabled:" { enabled = tolower($2) }
    !deb822 && $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      consider($i)
    }
    END { flush(); if (found != "") print found }
  ' "${files[@]}"
}

build() {
  local force=0
  [[ "${1:-}" == --force ]] && force=1
  need_root
  need_cmds debootstrap mkfs.ext4 ssh-keygen chroot findmnt flock
  mkdir -p "$CACHE"
  chmod 700 "$CACHE"
  exec 8>"$CACHE/.lock"
  if ! flock -n 8; then
    log "waiting for another build of $CACHE"
    flock 8
  fi
  if ((force == 0)) && image_valid; then
    log "image cached: $IMAGE_DIR (build version $BUILD_VERSION, kernel $(json_field "$IMAGE_DIR/image.json" kernelRelease))"
    return 0
  fi

  local d
  for d in "$CACHE"/.build.* "$CACHE"/.key.* "$CACHE"/.old.*; do
    [[ -e "$d" ]] && remove_tree "$d"
  done
  ensure_key

  if [[ -z "$MIRROR" ]]; then
    MIRROR=$(apt_mirror)
    [[ -n "$MIRROR" ]] || die "no Debian archive in /etc/apt/sources.list(.d); set CONNTRACK_VM_MIRROR"
    log "mirror from this machine's apt configuration: $MIRROR"
  fi

  local started=$SECONDS tmp root out
  tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
  root="$tmp/rootfs"
  out="$tmp/image"
  mkdir -p "$root" "$out" "$CACHE/debs"
  BUILD_TMP=$tmp
  trap build_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  : >"$LOG"
  log "building $SUITE image (build version $BUILD_VERSION) in $tmp; log: $LOG"

  local include
  include=$(IFS=,; echo "${PACKAGES[*]}")
  step "debootstrap --variant=minbase $SUITE (downloads ~150 packages)" \
    debootstrap --variant=minbase --arch=amd64 --components=main --include="$include" \
    --cache-dir="$CACHE/debs" "$SUITE" "$root" "$MIRROR"

  step "configuring the guest" configure_rootfs "$root"
  step "rebuilding a small initramfs (virtio + ext4 only)" \
    chroot "$root" update-initramfs -u -k all

  local krel
  krel=$(ls "$root/lib/modules")
  [[ $(wc -w <<<"$krel") -eq 1 ]] || die "expected one kernel in the image, found: $krel"
  [[ -f "$root/lib/modules/$krel/kernel/net/netfilter/nf_conntrack.ko" ]] \
    || die "nf_conntrack is not a module in kernel $krel"
  [[ -s "$root/boot/vmlinuz-$krel" && -s "$root/boot/initrd.img-$krel" ]] \
    || die "no /boot/vmlinuz-$krel and initrd.img-$krel in the image"
  cut -d' ' -f1,2 "$root/etc/ssh/ssh_host_ed25519_key.pub" >"$out/ssh_host_ed25519_key.pub"
  local hostkey fp clientkey
  hostkey=$(cat "$out/ssh_host_ed25519_key.pub")
  fp=$(ssh-keygen -l -E sha256 -f "$out/ssh_host_ed25519_key.pub" | awk '{print $2}')
  clientkey=$(cut -d' ' -f1,2 "$KEY.pub")

  step "cleaning the rootfs" clean_rootfs "$root"
  log "rootfs is $(du -sh --one-file-system "$root" | cut -f1)"

  # A fixed feature set that bullseye's kernel and e2fsprogs understand, whatever the host's
  # mke2fs.conf says (newer ones enable orphan_file / metadata_csum_seed).
  cat >"$tmp/mke2fs.conf" <<'EOF'
[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
EOF
  truncate -s 3G "$out/disk.img"
  step "mkfs.ext4 -d (3 GiB sparse raw image)" \
    env MKE2FS_CONFIG="$tmp/mke2fs.conf" mkfs.ext4 -q -F -t ext4 -L ctvm-root -d "$root" "$out/disk.img"

  {
    printf '{\n'
    printf '  "buildVersion": %s,\n' "$BUILD_VERSION"
    printf '  "suite": %s,\n' "$(json_str "$SUITE")"
    printf '  "kernelRelease": %s,\n' "$(json_str "$krel")"
    printf '  "hostKey": %s,\n' "$(json_str "$hostkey")"
    printf '  "hostKeyFingerprint": %s,\n' "$(json_str "$fp")"
    printf '  "clientKey": %s,\n' "$(json_str "$clientkey")"
    printf '  "builtAt": %s\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '}\n'
  } >"$out/image.json"
  remove_tree "$root"

  # Atomic switch: the image dir only ever appears complete.
  local old=""
  if [[ -e "$IMAGE_DIR" ]]; then
    old=$(mktemp -u "$CACHE/.old.XXXXXX")
    mv "$IMAGE_DIR" "$old"
  fi
  mv "$out" "$IMAGE_DIR"
  cp "$IMAGE_DIR/image.json" "$CACHE/image.json.tmp" && mv -f "$CACHE/image.json.tmp" "$CACHE/image.json"
  [[ -n "$old" ]] && remove_tree "$old"
  trap - EXIT INT TERM HUP
  remove_tree "$tmp"
  BUILD_TMP=
  log "image built in $((SECONDS - started)) s: $IMAGE_DIR (kernel $krel, host key $fp)"
}

# Run one build step with its output in the log. Not called from an `if`/`||` context, so
# `set -e` stays in force inside shell functions; a failure ends the script via build_exit.
step() {
  log "$1"
  shift
  "$@" >>"$LOG" 2>&1
}

build_exit() {
  local rc=$?
  if ((rc != 0)); then
    log "build failed (exit $rc); last lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
  fi
  [[ -n "${BUILD_TMP:-}" ]] && remove_tree "$BUILD_TMP"
  exit "$rc"
}

configure_rootfs() {
  local root=$1 unit
  echo ctvm >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tctvm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  # fsck pass 0: every run starts from a copy of the pristine image, and bullseye's e2fsck is older than
  # the mke2fs that made it.
  printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t0\n' >"$root/etc/fstab"
  : >"$root/etc/resolv.conf"

  # DHCP on qemu's user-mode NIC (named eth0 thanks to net.ifnames=0).
  mkdir -p "$root/etc/systemd/network"
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
    >"$root/etc/systemd/network/10-eth0.network"
  chroot "$root" systemctl enable systemd-networkd.service
  chroot "$root" systemctl disable systemd-networkd-wait-online.service || true

  # Nothing may load nf_conntrack at boot: no firewall service, no rules, no modules-load entries.
  for unit in nftables.service netfilter-persistent.service iptables.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
    if [[ -e "$root/lib/systemd/system/$unit" ]]; then
      chroot "$root" systemctl disable "$unit" || true
    fi
  done
  rm -f "$root"/etc/modules-load.d/*.conf
  : >"$root/etc/modules"
  if grep -rqs nf_conntrack "$root/etc/modules-load.d" "$root/etc/modprobe.d" "$root/etc/sysctl.d" "$root/etc/sysctl.conf"; then
    echo "image config mentions nf_conntrack" >&2
    return 1
  fi

  # sshd: root by key only, room for many parallel sessions from the tests.
  mkdir -p "$root/etc/ssh/sshd_config.d"
  cat >"$root/etc/ssh/sshd_config.d/ctvm.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxSessions 64
MaxStartups 64:30:128
EOF
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
  [[ -s "$root/etc/ssh/ssh_host_ed25519_key.pub" ]] || chroot "$root" ssh-keygen -A

  # A small initramfs: only what it takes to mount /dev/vda (the full one is ~30 MB and slow to
  # unpack under TCG). The real root's udev loads every other module.
  sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
  printf 'virtio_pci\nvirtio_blk\next4\n' >>"$root/etc/initramfs-tools/modules"
}

clean_rootfs() {
  local root=$1
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
  # One machine-id for every run is fine: each run starts from a fresh copy of the same image.
}

# ---------------------------------------------------------------------------------------------
# run

qemu_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid=$(<"$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'qemu-system-x86_64.*-name ctvm' || return 1
  echo "$pid"
}

ssh_opts() {
  SSH_OPTS=(
    -F none -i "$KEY" -p "$PORT"
    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o ServerAliveInterval=15 -o ServerAliveCountMax=4
  )
}

write_known_hosts() {
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$(json_field "$IMAGE_DIR/image.json" hostKey)" >"$KNOWN_HOSTS.tmp"
  mv -f "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
}

inventory_json() {
  local meta="$IMAGE_DIR/image.json"
  printf '{"host":"127.0.0.1","port":%s,"user":"root","privateKeyPath":%s,"hostKey":%s,"hostKeyFingerprint":%s,"kernelRelease":%s}\n' \
    "$PORT" "$(json_str "$KEY")" "$(json_str "$(json_field "$meta" hostKey)")" \
    "$(json_str "$(json_field "$meta" hostKeyFingerprint)")" "$(json_str "$(json_field "$meta" kernelRelease)")"
}

write_inventory() {
  inventory_json >"$INVENTORY.tmp"
  mv -f "$INVENTORY.tmp" "$INVENTORY"
}

ssh_ok() {
  ssh_opts
  ssh "${SSH_OPTS[@]}" -n root@127.0.0.1 true >/dev/null 2>&1
}

lock_run() {
  mkdir -p "$RUN"
  chmod 700 "$RUN"
  exec 9>"$RUN/.lock"
  flock 9
}

up() {
  need_root
  need_cmds qemu-system-x86_64 ssh ssh-keygen flock debugfs
  check_paths
  lock_run
  local pid
  if pid=$(qemu_pid); then
    log "already running (pid $pid); waiting for ssh"
    wait_ssh "$pid" "$BOOT_TIMEOUT" $SECONDS
    [[ -s "$INVENTORY" ]] || write_inventory
    return 0
  fi
  image_valid || build
  # Stale run state from a qemu that is gone (its run disk included).
  drop_run_disk
  rm -f "$PIDFILE" "$INVENTORY" "$KNOWN_HOSTS" "$SERIAL"
  if command -v ss >/dev/null && ss -Hltn "sport = :$PORT" | grep -q .; then
    die "port $PORT is already in use (set CONNTRACK_VM_PORT)"
  fi
  write_known_hosts

  local started=$SECONDS disk
  mkdir -p "$RUNS_DIR"
  chmod 700 "$RUNS_DIR"
  disk=$(mktemp -d "$RUNS_DIR/run.XXXXXX")
  printf '%s\n' "$disk" >"$DISK_REF"
  # Sparse copy (a reflink where the filesystem has them): the cached image stays pristine.
  cp --sparse=always --reflink=auto "$IMAGE_DIR/disk.img" "$disk/disk.img"
  log "run disk $disk/disk.img ready in $((SECONDS - started)) s"
  boot_guest "$started"
  write_inventory
  log "up in $((SECONDS - started)) s (pid $(qemu_pid), kernel $(json_field "$IMAGE_DIR/image.json" kernelRelease))"
}

# The run disk of the current run (written by `up`), or nothing.
run_disk_dir() {
  local d
  [[ -s "$DISK_REF" ]] || return 1
  d=$(<"$DISK_REF")
  case "$d" in "$RUNS_DIR"/run.*) ;; *) return 1 ;; esac
  [[ -f "$d/disk.img" ]] || return 1
  echo "$d"
}

drop_run_disk() {
  local d
  if d=$(run_disk_dir); then rm -rf --one-file-system "$d"; fi
  rm -f "$DISK_REF"
}

# What a bootloader does: find the guest's kernel in its own /boot and the initrd that
# update-initramfs wrote for it, then boot those. Exactly one kernel is installed in the image.
extract_boot_files() {
  local disk=$1 dest=$2 kernels krel
  kernels=$(debugfs -R "ls -p /boot" "$disk" 2>/dev/null | awk -F/ '$6 ~ /^vmlinuz-/ { sub(/^vmlinuz-/, "", $6); print $6 }')
  [[ $(wc -w <<<"$kernels") -eq 1 ]] || die "expected one /boot/vmlinuz-* on the guest disk, found: ${kernels:-none}"
  krel=$kernels
  rm -f "$dest/vmlinuz" "$dest/initrd.img"
  debugfs -R "dump /boot/vmlinuz-$krel $dest/vmlinuz" "$disk" >/dev/null 2>&1
  debugfs -R "dump /boot/initrd.img-$krel $dest/initrd.img" "$disk" >/dev/null 2>&1
  [[ -s "$dest/vmlinuz" && -s "$dest/initrd.img" ]] \
    || die "could not read /boot/vmlinuz-$krel and /boot/initrd.img-$krel from $disk"
  BOOT_KREL=$krel
}

# Start qemu on the run disk with the kernel and initrd currently in its /boot; wait for sshd.
boot_guest() {
  local started=$1 disk pid
  disk=$(run_disk_dir) || die "no run disk; run: vm.sh up"
  extract_boot_files "$disk/disk.img" "$disk"
  log "booting the guest's own /boot/vmlinuz-$BOOT_KREL + initrd ($(stat -c %s "$disk/initrd.img") bytes) (TCG, port 127.0.0.1:$PORT, serial log $SERIAL)"
  # restrict=on: the guest can reach nothing outside qemu's user-mode net; hostfwd still works.
  # -no-reboot: a guest reboot ends qemu, so the next boot re-reads /boot (see vm.sh reboot).
  # The serial log is appended to across boots of one run.
  # fds 8/9 are our flock fds: the daemonized qemu must not keep holding the locks.
  qemu-system-x86_64 \
    -name ctvm -machine pc,accel=tcg -m 1024 -smp 2 \
    -nodefaults -no-user-config -display none -vga none -no-reboot \
    -kernel "$disk/vmlinuz" -initrd "$disk/initrd.img" -append "$CMDLINE" \
    -drive "file=$disk/disk.img,if=virtio,format=raw,cache=unsafe" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0 \
    -device virtio-rng-pci \
    -chardev "file,id=s0,path=$SERIAL,append=on" -serial chardev:s0 -monitor none \
    -daemonize -pidfile "$PIDFILE" 8>&- 9>&-
  pid=$(qemu_pid) || die "qemu did not start"
  wait_ssh "$pid" "$BOOT_TIMEOUT" "$started"
}

# A real reboot: the guest's systemd shuts down (services stopped, filesystems unmounted), qemu
# ends at the reset (-no-reboot), and the run disk boots again with whatever kernel and initrd
# are now in its /boot. When the guest already rebooted itself (qemu gone, run disk still
# there), only the boot half runs.
reboot_vm() {
  need_root
  need_cmds qemu-system-x86_64 ssh flock debugfs
  check_paths
  lock_run
  run_disk_dir >/dev/null || die "VM not up; run: vm.sh up"
  local started=$SECONDS pid i down_s
  if pid=$(qemu_pid); then
    ssh_opts
    log "rebooting the guest (systemctl reboot)"
    ssh "${SSH_OPTS[@]}" -n root@127.0.0.1 systemctl reboot >/dev/null 2>&1 || true
    for ((i = 0; i < 1200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "guest did not reach the reset within 120 s; serial log tail:"
      tail -n 40 "$SERIAL" >&2 || true
      die "reboot did not complete (qemu pid $pid still running)"
    fi
  else
    log "qemu is gone (the guest rebooted or powered off itself); booting the run disk again"
  fi
  down_s=$((SECONDS - started))
  rm -f "$PIDFILE"
  boot_guest $SECONDS
  write_inventory
  log "rebooted in $((SECONDS - started)) s (shutdown $down_s s, boot $((SECONDS - started - down_s)) s)"
}

wait_ssh() {
  local pid=$1 timeout=$2 started=$3 next=30
  while ! ssh_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "qemu exited during boot; serial log tail:"
      tail -n 60 "$SERIAL" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if ((SECONDS - started >= timeout)); then
      log "ssh did not answer within ${timeout} s; serial log tail:"
      tail -n 60 "$SERIAL" >&2 || true
      kill "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if ((SECONDS - started >= next)); then
      log "still booting ($((SECONDS - started)) s): $(tail -n 1 "$SERIAL" 2>/dev/null | tr -d '\r' | cut -c1-100)"
      next=$((next + 30))
    fi
    sleep 1
  done
}

down() {
  check_paths
  [[ -d "$RUN" ]] || { log "not running"; return 0; }
  need_root
  lock_run
  local pid i
  if pid=$(qemu_pid); then
    kill "$pid"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  if [[ -s "$SERIAL" && -d "$CACHE" ]]; then cp -f "$SERIAL" "$CACHE/last-serial.log" || true; fi
  drop_run_disk
  rm -f "$PIDFILE" "$SERIAL" "$INVENTORY" "$INVENTORY.tmp" "$KNOWN_HOSTS" "$KNOWN_HOSTS.tmp"
  rm -f "$RUN/.lock"
  rmdir "$RUN" 2>/dev/null || true
}

status() {
  check_paths
  if qemu_pid >/dev/null && [[ -s "$INVENTORY" ]]; then echo up; else echo down; return 3; fi
}

# While up, the run dir's inventory (written at boot) is authoritative: a later `build --force`
# changes the image's host key but not the running guest's.
inventory() {
  check_paths
  if qemu_pid >/dev/null && [[ -s "$INVENTORY" ]]; then
    cat "$INVENTORY"
    return 0
  fi
  [[ -s "$IMAGE_DIR/image.json" ]] || die "no image; run: vm.sh build"
  inventory_json
}

cmd_ssh() {
  check_paths
  qemu_pid >/dev/null || die "VM not up; run: vm.sh up"
  ((${#@} > 0)) || die "usage: vm.sh ssh CMD..."
  ssh_opts
  exec ssh "${SSH_OPTS[@]}" root@127.0.0.1 -- "$@"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  check_paths
  case "$cmd" in
    build) build "$@" ;;
    up) up ;;
    reboot) reboot_vm ;;
    down) down ;;
    status) status ;;
    inventory) inventory ;;
    ssh) cmd_ssh "$@" ;;
    log) cat "$SERIAL" ;;
    *) usage ;;
  esac
}

main "$@"
