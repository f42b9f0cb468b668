#!/usr/bin/env bash
# The tests start their own redis-server (shared rate limits); install it once when missing.
set -euo pipefail
command -v redis-server >/dev/null && exit 0
echo "installing redis-server (needed by the tests of shared state)"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q redis-server >/dev/null
