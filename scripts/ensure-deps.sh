#!/usr/bin/env bash
# Installs what the project needs and is missing: npm packages, and the system
# tools its tests and local stack run (redis-server, tesseract-ocr with English and
# Simplified Chinese, Chromium for the playground's browser test), and GNU Unifont,
# which the reference model pack draws text with.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

missing_apt=()
command -v redis-server >/dev/null 2>&1 || missing_apt+=(redis-server)
command -v tesseract >/dev/null 2>&1 || missing_apt+=(tesseract-ocr tesseract-ocr-eng)
{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx chi_sim; } ||
  missing_apt+=(tesseract-ocr-chi-sim)
[ -f /usr/share/unifont/unifont.hex ] || missing_apt+=(unifont)
# The playground's browser test drives Debian's Chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || missing_apt+=(chromium)
if [ ${#missing_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${missing_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

# npm ci is skipped when the lockfile has not changed since the last install.
stamp=node_modules/.install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
