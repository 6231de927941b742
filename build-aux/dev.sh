#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# One entry point for developers and CI on Debian 12.
#
#   build-aux/dev.sh run [ARGS…]          install build dependencies, build, run the desktop app
#   build-aux/dev.sh run --headless […]   … or the gateway (same binary, no display needed)
#   build-aux/dev.sh test [MESON ARGS…]   build with warnings as errors and run the whole suite
#                                         under Xvfb and a private D-Bus session
#   build-aux/dev.sh asan [MESON ARGS…]   the same under AddressSanitizer + UBSan
#   build-aux/dev.sh bench                release build, then `meson test --benchmark`
#   build-aux/dev.sh deps                 only install the Debian packages
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

# Debian 12 packages: build, run, and test.
build_deps=(
  meson ninja-build pkg-config gcc gettext
  libglib2.0-dev libglib2.0-bin libjson-glib-dev libsqlite3-dev libsoup-3.0-dev
  libsodium-dev libssl-dev libgtk-4-dev libadwaita-1-dev libsecret-1-dev
  libmd4c-dev libgtksourceview-5-dev
)
test_deps=(
  xvfb xauth dbus dbus-x11 desktop-file-utils appstream-util sqlite3
  glib-networking openssl
  gnome-keyring
)

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }

install_deps() {
  local wanted=("$@") missing=()
  for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  say "Installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# configure DIR [MESON OPTIONS…]: set up DIR once, re-applying the options each time.
configure() {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
}

# Runs a command with a display and a session bus of its own.
with_session() {
  xvfb-run -a -s "-screen 0 1280x1024x24" dbus-run-session -- "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift

case "$cmd" in
  deps)
    install_deps "${build_deps[@]}" "${test_deps[@]}"
    ;;

  run)
    headless=0
    for arg in "$@"; do [ "$arg" = "--headless" ] && headless=1; done
    if [ $headless = 1 ]; then
      install_deps meson ninja-build pkg-config gcc gettext libglib2.0-dev libglib2.0-bin \
                   libjson-glib-dev libsqlite3-dev libsoup-3.0-dev libsodium-dev libssl-dev \
                   glib-networking
      configure _build-gateway -Dgui=false
      ninja -C _build-gateway
      exec _build-gateway/src/helix "$@"
    fi
    install_deps "${build_deps[@]}"
    configure _build -Ddevelopment=true
    ninja -C _build
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      echo "No display: run this from a desktop session, or use “$0 run --headless” for the gateway." >&2
      exit 1
    fi
    # Run from the build tree: schemas come from the build directory.
    export GSETTINGS_SCHEMA_DIR="$top/_build/data"
    exec _build/src/helix "$@"
    ;;

  test)
    install_deps "${build_deps[@]}" "${test_deps[@]}"
    configure _build -Dwerror=true
    ninja -C _build
    with_session meson test -C _build --print-errorlogs --num-processes 2 "$@"
    ;;

  asan)
    install_deps "${build_deps[@]}" "${test_deps[@]}"
    configure _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
    ninja -C _build-asan
    with_session meson test -C _build-asan --setup=asan --print-errorlogs --num-processes 2 "$@"
    ;;

  bench)
    install_deps "${build_deps[@]}" "${test_deps[@]}"
    configure _build-release -Dbuildtype=release
    ninja -C _build-release
    with_session meson test -C _build-release --benchmark --verbose "$@"
    ;;

  *)
    sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
