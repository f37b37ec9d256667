# shellcheck shell=bash
# Shared by the scripts in scripts/: pristine Debian roots, made once with debootstrap and
# cached, for proving installs on a fresh host and for building other architectures.
#
#   . scripts/lib/setup.sh; . scripts/lib/roots.sh
#   root=$(pristine_root arm64)      # /var/cache/docker-credential-ecr-dev/bookworm-minbase-arm64
#   root=$(pristine_root amd64 default)   # debootstrap's default variant: systemd from the start
#   copy_root "$root" "$work/root"   # a throwaway copy that can reach the network
#
# Environment: FRESH_HOST_CACHE (default /var/cache/docker-credential-ecr-dev) keeps the
# roots; FRESH_HOST_MIRROR (default: the Debian archive in this host's apt sources).

ROOT_SUITE=bookworm
# minbase unless a caller asks for another: the smallest root, so the one whose missing
# packages a script most needs to install for itself.
ROOT_VARIANT=minbase
ROOT_VARIANTS="minbase default"
ROOT_CACHE=${FRESH_HOST_CACHE:-/var/cache/docker-credential-ecr-dev}

# The architectures whose roots a script needs (ensure roots): this one's by default.
ROOT_ARCHES=${ROOT_ARCHES:-$(dpkg --print-architecture)}

missing_roots() {
  have debootstrap || echo debootstrap
  have unshare || echo util-linux
  local arch
  for arch in $ROOT_ARCHES; do
    [ "$arch" = "$(dpkg --print-architecture)" ] && continue
    # Another architecture's programs run through qemu, registered with binfmt_misc.
    have update-binfmts || echo binfmt-support
    [ -e "/usr/libexec/qemu-binfmt/$(qemu_name "$arch")-binfmt-P" ] || echo qemu-user-static
  done
}

qemu_name() {
  case $1 in
    arm64) echo aarch64 ;;
    amd64) echo x86_64 ;;
    *) die "no qemu name known for $1" ;;
  esac
}

# Make sure this kernel runs $1's programs (qemu-user-static registers them on install,
# but binfmt_misc is not always mounted, e.g. in a container).
enable_foreign() {
  local arch=$1 name
  [ "$arch" = "$(dpkg --print-architecture)" ] && return
  name=$(qemu_name "$arch")
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$name" ] || update-binfmts --enable "qemu-$name"
  grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$name" ||
    die "binfmt_misc has qemu-$name switched off; turn it on with: update-binfmts --enable qemu-$name"
}

# The Debian archive this host's apt already uses (apt-get indextargets reads its sources
# and, once apt-get update has run, the Release files), so that a root is made from the
# same mirror, near or local, as the host's own packages.  Printed without the final /.
host_mirror() {
  local uri
  # Debian's main archive (Label Debian: not Debian-Security), for this suite first; then
  # any suite of it; then, if the Release files were never fetched, a source naming this suite.
  uri=$(host_source "Origin: Debian" "Label: Debian" "Codename: $ROOT_SUITE")
  [ -n "$uri" ] || uri=$(host_source "Origin: Debian" "Label: Debian")
  [ -n "$uri" ] || uri=$(host_source "Release: $ROOT_SUITE")
  [ -n "$uri" ] ||
    die "this host's apt sources name no Debian archive to make a $ROOT_SUITE root from; set FRESH_HOST_MIRROR"
  echo "${uri%/}"
}

# The first of this host's apt sources for binary packages of main matching fields $@.
host_source() {
  # shellcheck disable=SC2016  # $(REPO_URI) is apt's field, not a command
  { apt-get indextargets --format '$(REPO_URI)' "Target-Of: deb" "Component: main" \
    "Identifier: Packages" "$@" 2>/dev/null || true; } | sed -n 1p
}

# Print the path of a pristine Debian root for architecture $1, of debootstrap variant $2
# (minbase, or default: debootstrap's own, with systemd and the other important packages),
# making it first if needed.  Each variant is cached apart.
pristine_root() {
  local arch=$1 variant=${2:-$ROOT_VARIANT} mirror
  local root=$ROOT_CACHE/$ROOT_SUITE-$variant-$arch log=$ROOT_CACHE/debootstrap-$variant-$arch.log
  local options=(--arch="$arch")
  case $variant in
    minbase) options+=(--variant=minbase) ;;
    default) ;;
    *) die "no debootstrap variant $variant (known: $ROOT_VARIANTS)" ;;
  esac
  if [ ! -e "$root/.complete" ]; then
    mirror=${FRESH_HOST_MIRROR:-$(host_mirror)}
    enable_foreign "$arch"
    step "making a pristine Debian root: debootstrap ${options[*]} $ROOT_SUITE ($mirror)" >&2
    mkdir -p "$ROOT_CACHE"
    rm -rf "$root.partial"
    debootstrap "${options[@]}" "$ROOT_SUITE" "$root.partial" "$mirror" >"$log" 2>&1 ||
      die "debootstrap failed; see $log"
    date -u +%FT%TZ >"$root.partial/.complete"
    rm -rf "$root"
    mv "$root.partial" "$root"
  fi
  echo "$root"
}

# Give root $1 what a real host has and a debootstrap root lacks: name resolution, a
# hosts file, and this machine's extra certificate authorities.
connect_root() {
  local root=$1
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  # This machine reaches the internet through a proxy whose certificate authority its own
  # trust store adds to Debian's; a host on the open internet needs nothing like this.
  # The root gets those extra anchors as local ones, which count once ca-certificates is
  # installed there, as it must be anyway.
  python3 scripts/lib/extra_anchors.py "$root/usr/local/share/ca-certificates"
}

# Copy pristine root $1 to $2 (which must not exist) and connect it.
copy_root() {
  cp -a "$1" "$2"
  rm -f "$2/.complete"
  connect_root "$2"
}
