# Shared by the scripts: install what is missing from Debian's packages.
# shellcheck shell=bash

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

_apt_updated=
# need_pkg COMMAND PACKAGE...: install PACKAGE... unless COMMAND exists.
need_pkg() {
    command -v "$1" >/dev/null 2>&1 && return
    shift
    if [ -z "$_apt_updated" ]; then as_root apt-get update -qq; _apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A Rust toolchain: rustup's if there is one, else Debian's.
need_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    need_pkg cargo cargo rustc
}
