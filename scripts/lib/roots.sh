# Shared by the scripts in scripts/: pristine Debian roots, made once with debootstrap and
# cached, for proving installs on a fresh host and for building other architectures.
#
#   . scripts/lib/setup.sh; . scripts/lib/roots.sh
#   root=$(pristine_root arm64)      # /var/cache/docker-credential-ecr-dev/bookworm-minbase-arm64
#   copy_root "$root" "$work/root"   # a throwaway copy that can reach the network
#
# Environment: FRESH_HOST_CACHE (default /var/cache/docker-credential-ecr-dev) keeps the
# roots; FRESH_HOST_MIRROR (default http://deb.debian.org/debian).

ROOT_SUITE=bookworm
ROOT_VARIANT=minbase
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

# Print the path of a pristine Debian root for architecture $1, making it first if needed.
pristine_root() {
  local arch=$1 mirror=${FRESH_HOST_MIRROR:-http://deb.debian.org/debian}
  local root=$ROOT_CACHE/$ROOT_SUITE-$ROOT_VARIANT-$arch
  if [ ! -e "$root/.complete" ]; then
    enable_foreign "$arch"
    step "making a pristine Debian root: debootstrap --variant=$ROOT_VARIANT $ROOT_SUITE ($arch, $mirror)" >&2
    mkdir -p "$ROOT_CACHE"
    rm -rf "$root.partial"
    debootstrap --variant=$ROOT_VARIANT --arch="$arch" "$ROOT_SUITE" "$root.partial" "$mirror" \
      >"$ROOT_CACHE/debootstrap-$arch.log" 2>&1 ||
      die "debootstrap failed; see $ROOT_CACHE/debootstrap-$arch.log"
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
