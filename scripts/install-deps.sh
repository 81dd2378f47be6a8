#!/usr/bin/env bash
# Installs every Debian package that building and testing Atrium needs.
# Idempotent: packages already present are skipped. Uses sudo only when not root.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libsqlite3-dev sqlite3
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
  libicu-dev libopencc-dev opencc libsodium-dev
  libxml2-dev libzip-dev libpoppler-glib-dev
  libldap-dev slapd ldap-utils
  python3 zip poppler-utils wrk
  # the web portal's browser tests (tests/web): Debian's Chromium, driven by
  # playwright-core from web/node_modules; CJK and emoji fonts for readable screenshots
  chromium fonts-noto-cjk fonts-noto-color-emoji
)

# Node.js builds the web portal (make web). Vite 7 needs Node >= 20.19, newer
# than Debian 12's nodejs (18), so it is not installed from Debian here: a
# missing or old node is reported (NodeSource's nodejs, which brings npm, works).
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! node_ok; then
  echo "install-deps: warning: Node.js >= 20.19 with npm is needed to build the web portal (make web)" >&2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
