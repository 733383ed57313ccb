#!/usr/bin/env bash
# Machine set-up for `npm run demo` and `npm test` on a fresh Debian/Ubuntu machine, as root.
#
#   bash scripts/setup-machine.sh demo   what the demo needs: the lab's tools, the Pulumi CLI
#   bash scripts/setup-machine.sh test   the same, plus the VM tier's tools (unless CONNTRACK_VM_SKIP=1)
#
# 1. Debian packages: finds the commands that are missing, says which packages provide them and why
#    they are needed, then installs only those (`apt-get install`). Nothing is installed when every
#    command is there. Not root, or no apt-get: says what is missing and goes on (the lab and VM
#    tiers then skip, and the demo stops with the same list).
# 2. The pinned Pulumi CLI: built from its Go module when this machine has none
#    (scripts/pulumi-cli.sh); without Go it says so and goes on (the real-engine tests then skip).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHAT="${1:-test}"

say() { printf 'setup: %s\n' "$*" >&2; }

# command  package  why
NEEDS=(
  "ip iproute2 lab: network namespaces and the lab bridge"
  "nsenter util-linux lab: entering a host's namespaces"
  "unshare util-linux lab: private mounts per host"
  "setsid util-linux lab: daemonized sshd per host"
  "flock util-linux lab: locks"
  "ssh-keygen openssh-client lab: the lab's keys and known_hosts"
  "/usr/sbin/sshd openssh-server lab: the real sshd each host runs"
  "nft nftables lab: native nftables hosts"
  "conntrack conntrack lab: conntrack table checks"
  "iptables-legacy iptables lab: iptables hosts (legacy backend)"
  "iptables-nft iptables lab: iptables hosts (nf_tables backend)"
  "ip6tables-legacy iptables lab: IPv6 rules (legacy)"
  "ip6tables-nft iptables lab: IPv6 rules (nf_tables)"
  "update-alternatives dpkg lab: switching a host's iptables backend"
  "useradd passwd lab: the non-root ssh user"
  "visudo sudo lab: the non-root user's passwordless sudo"
  "sysctl procps lab: per-namespace sysctls"
  "modprobe kmod provider: module checks on hosts"
  "flock util-linux scripts/pulumi-cli.sh: one CLI build at a time"
)
if [[ ${WHAT} == test && ${CONNTRACK_VM_SKIP:-0} != 1 ]]; then
  NEEDS+=(
    "qemu-system-x86_64 qemu-system-x86 vm tier: the Debian 5.10 guest under qemu"
    "qemu-img qemu-utils vm tier: the guest's disk image"
    "debootstrap debootstrap vm tier: building the guest's root file system"
    "mkfs.ext4 e2fsprogs vm tier: the guest's file system"
    "update-ca-certificates ca-certificates vm tier: debootstrap over https mirrors"
  )
fi

missing_pkgs=()
declare -A why=()
for n in "${NEEDS[@]}"; do
  read -r cmd pkg reason <<<"${n}"
  command -v "${cmd}" >/dev/null 2>&1 && continue
  [[ " ${missing_pkgs[*]-} " == *" ${pkg} "* ]] || missing_pkgs+=("${pkg}")
  why[${pkg}]="${why[${pkg}]:+${why[${pkg}]}; }${cmd} (${reason})"
done

if ((${#missing_pkgs[@]})); then
  say "missing Debian packages: ${missing_pkgs[*]}"
  for p in "${missing_pkgs[@]}"; do say "  ${p}: for ${why[${p}]}"; done
  if [[ $(id -u) -ne 0 ]]; then
    say "not root: not installing them (the lab and VM tiers need root anyway and will skip)"
  elif ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get on this machine: install them with the system's package manager"
  else
    say "installing them now: apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists of a fresh image are often empty: update once, quietly.
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >/dev/null
    say "installed: ${missing_pkgs[*]}"
  fi
else
  say "Debian packages: everything the ${WHAT} needs is installed"
fi

# The Pulumi CLI (the demo and the real-engine tests run it).
if cli="$(bash "${REPO}/scripts/pulumi-cli.sh" --check)"; then
  say "Pulumi CLI: ${cli} ($("${cli}" version))"
elif cli="$(bash "${REPO}/scripts/pulumi-cli.sh")"; then
  say "Pulumi CLI: ${cli}"
else
  rc=$?
  if [[ ${rc} -eq 3 ]]; then
    say "Pulumi CLI: no Go toolchain on this machine, so the CLI cannot be built (the real-engine tests will skip)"
  else
    say "Pulumi CLI: the build failed (exit ${rc}); see the output above"
    exit "${rc}"
  fi
fi
