# shellcheck shell=bash
# Shared by the scripts in scripts/: install what a step needs on a Debian host.
#
#   . scripts/lib/setup.sh
#   ensure python build        # installs whatever these needs are missing, then returns
#
# Each need is a function `missing_<need>` that prints the Debian packages it still
# lacks, judged by what is on the host *now*.  `ensure` asks again after every install,
# because some checks can only be made once an earlier package is there (which shared
# libpython a python3 needs, where gcc looks for libz.a), so nothing depends on the order
# in which a fresh host happens to have things.

have() { command -v "$1" >/dev/null 2>&1; }

step() { printf '== %s\n' "$*"; }

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

py() { python3 -c "$@" 2>/dev/null; }

missing_python() {
  if ! have python3; then
    echo python3 python3-venv ca-certificates
    return
  fi
  py 'import venv, ensurepip' || echo python3-venv
  # pip checks PyPI's certificate against the system's trust store.
  [ -s /etc/ssl/certs/ca-certificates.crt ] || echo ca-certificates
}

missing_build() {
  have gcc || echo gcc libc6-dev
  have patchelf || echo patchelf
  if have gcc; then
    [ -e "$(gcc -print-file-name=libz.a)" ] || echo zlib1g-dev
  fi
  # PyInstaller bundles the shared libpython, which Debian ships apart from python3.
  if have python3 && ! py 'import os, sys, sysconfig as s
sys.exit(not os.path.exists(os.path.join(s.get_config_var("LIBDIR"), s.get_config_var("INSTSONAME"))))'; then
    if [ "$(readlink -f "$(command -v python3)")" = "$(readlink -f /usr/bin/python3)" ]; then
      py 'import sys; print("libpython%d.%d" % sys.version_info[:2])'
    else
      die "$(command -v python3) has no shared libpython; PyInstaller needs a Python built with --enable-shared"
    fi
  fi
}

# Building from a git checkout: what is copied into a build root is what git tracks.
missing_checkout() {
  have git || echo git
}

# Signed repositories (scripts/release, scripts/lib/repos) and what tests them.
missing_repos() {
  have reprepro || echo reprepro
  have createrepo_c || echo createrepo-c
  have rpmsign || echo rpm
  have gpg || echo gpg
  # gpg makes and uses secret keys only through its agent, which minbase lacks.
  have gpg-agent || echo gpg-agent
  have dnf || echo dnf
}

missing_test() {
  have openssl || echo openssl
  # The gates: pre-commit reads the files git tracks; shellcheck, clang-tidy and clang-format are Debian's.
  have git || echo git
  have shellcheck || echo shellcheck
  have clang-tidy || echo clang-tidy
  have clang-format || echo clang-format
  have setpriv || echo util-linux
  # The clock-jump tests preload libfaketime.
  compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || echo faketime
  # The systemd units are checked with systemd-analyze verify (nothing is started).
  have systemd-analyze || echo systemd
  # The forwarding proxy the proxy tests tunnel through (tests/test_proxy.py).
  { [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ]; } || echo tinyproxy
  # promtool checks the metrics and unit-tests the shipped alert rules; node_exporter scrapes them.
  have promtool || echo prometheus
  [ -x /usr/bin/prometheus-node-exporter ] || echo prometheus-node-exporter
  # The end-to-end tests (pytest -m e2e) need these; they skip without root.
  if [ "$(id -u)" = 0 ]; then
    { [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ]; } || echo docker.io
    [ -x /usr/bin/docker-registry ] || echo docker-registry
    have skopeo || echo skopeo
    # configure --containers, tried with the clients that read auth.json.
    have podman || echo podman
    have buildah || echo buildah
    have htpasswd || echo apache2-utils
    have ip || echo iproute2
    have nsenter || echo util-linux
  fi
}

missing_bench() {
  have hyperfine || echo hyperfine
  have valgrind || echo valgrind
  have git || echo git
  have docker-credential-ecr-login || echo amazon-ecr-credential-helper
  have openssl || echo openssl
  have ip || echo iproute2
  [ -x /usr/bin/time ] || echo time
}

# Install Debian packages, naming them first and showing each as it is set up.
apt_install() {
  step "installing from Debian: $*"
  [ "$(id -u)" = 0 ] || die "these Debian packages are missing: $* (run as root, or install them)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$@" |
    { grep -E '^Setting up ' || true; } | sed 's/^/   /'
}

ensure() {
  local round wanted
  for round in 1 2 3; do
    wanted=$(for need in "$@"; do "missing_$need"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
    wanted=${wanted% }
    [ -n "$wanted" ] || break
    [ "$round" -lt 3 ] || die "still missing after installing them: $wanted"
    # shellcheck disable=SC2086  # one word per package
    apt_install $wanted
  done
  if [[ " $* " == *" python "* ]]; then
    py 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "Python 3.11 or later is needed; $(command -v python3) is $(python3 --version 2>&1)"
  fi
}

# pip install into a venv, naming each download from PyPI and what was installed.
pip_install() {
  local venv=$1
  shift
  "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@" |
    { grep -E '^(Downloading|Successfully installed)' || true; } | sed 's/^/   /'
}

# A venv at $1 made by the python3 on PATH; remade if that python3 changed since.
make_venv() {
  local venv=$1 want
  want=$(py 'import sys; print(sys.executable)')
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.made-by" 2>/dev/null)" = "$want" ]; then
    return
  fi
  step "creating $venv with $(python3 --version) ($want)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  echo "$want" >"$venv/.made-by"
}

# .venv-build: the pinned build dependencies (packaging/requirements-build.txt) and this
# package, for building the executable, its manual page and the packages.
build_venv() {
  make_venv .venv-build
  step "installing the pinned build dependencies (packaging/requirements-build.txt) from PyPI"
  pip_install .venv-build -r packaging/requirements-build.txt
  # With the pinned setuptools: no isolated build environment to set up each time.
  pip_install .venv-build -q --no-deps --no-build-isolation --force-reinstall .
}

# .venv-sbom: what makes the bill of materials (packaging/requirements-sbom.txt).
sbom_venv() {
  make_venv .venv-sbom
  step "installing the pinned SBOM tools (packaging/requirements-sbom.txt) from PyPI"
  pip_install .venv-sbom -r packaging/requirements-sbom.txt -c packaging/requirements-build.txt
}

# Run packaging/sbom.py ($@) in .venv-sbom, reading the distributions' metadata (and
# PyInstaller's archive reader) from .venv-build: the build's own, found first.
sbom() {
  local site
  site=$(.venv-build/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  PYTHONPATH=$site .venv-sbom/bin/python packaging/sbom.py "$@"
}

# The version being built, read (not imported: a fresh host may not have python3 yet).
project_version() {
  local version
  version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' helper/docker_credential_ecr/__init__.py)
  [ -n "$version" ] || die "no __version__ in helper/docker_credential_ecr/__init__.py"
  echo "$version"
}

# The time the artifacts carry (their files' times, the dates of the manual page and the
# changelogs, the .rpm's build time): $SOURCE_DATE_EPOCH if set, else the time of the
# commit being built, so that two builds of one commit give the same bytes whenever they
# run.  Without git history of this folder's own (a copy of the source), a fixed time.
source_date_epoch() {
  local epoch=${SOURCE_DATE_EPOCH:-}
  if [ -z "$epoch" ] && have git &&
    [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]; then
    epoch=$(git log -1 --format=%ct 2>/dev/null || true)
  fi
  [[ "$epoch" =~ ^[0-9]+$ ]] || epoch=1700000000
  echo "$epoch"
}

# .venv: this package, editable, and the test tools (versions in tests/constraints.txt).
test_venv() {
  make_venv .venv
  step "installing the package and its test tools (versions in tests/constraints.txt) from PyPI"
  pip_install .venv -c tests/constraints.txt -e '.[dev]'
}
