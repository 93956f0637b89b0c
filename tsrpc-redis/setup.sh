#!/usr/bin/env bash
# Installs what tsrpc-redis's tests need: Debian's redis-server, whose
# binary the tests start themselves, each on a free port, and stop. The
# package's own service (on port 6379) is never started. Run as root.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
    echo "tsrpc-redis/setup.sh: installing Debian's redis-server"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package from starting its service: tests run their own.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=yes
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi
redis-server --version
