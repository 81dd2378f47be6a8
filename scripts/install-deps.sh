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
)

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
