#!/usr/bin/env bash
# Installs what `make test` needs beyond Go modules, when it is missing:
#   - the AWS CLI v2 from Debian's package (awscli), at /usr/bin/aws: the tests use it as a real client of the
#     local Lambda Invoke API. Another `aws` (v1) may come first on PATH, so the tests call /usr/bin/aws.
#   - the Node.js tools pinned by tools/npm/package-lock.json (the Amazon States Language validator, the AWS API
#     emulators, and the Powertools and ajv anchors of make bench), installed with `npm ci` into
#     tools/npm/node_modules; Node.js and npm from Debian's packages if missing.
#   - moto, the Python emulator of SQS and DynamoDB, which the machine's Python carries.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "tools/install.sh: $* missing and apt-get is not available; install $* and run make test again." >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  echo "tools/install.sh: installing the Debian package(s) $* ..."
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Node.js tools: reinstalled when the lockfile changed since the last install.
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
stamp=tools/npm/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ tools/npm/package-lock.json -nt "$stamp" ]; then
  echo "tools/install.sh: npm ci in tools/npm ..."
  npm ci --prefix tools/npm --no-audit --no-fund --loglevel=error
fi

# moto (the SQS and DynamoDB emulator) comes with the machine's Python; try pip when it is missing.
if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
  echo "tools/install.sh: moto is missing; trying pip install 'moto[server]==5.2.1' ..."
  python3 -m pip install --quiet 'moto[server]==5.2.1' || {
    echo "tools/install.sh: could not install moto; the emulator tests need python3 -m moto.server" >&2
    exit 1
  }
fi

# Debian's Chromium, for the dashboard's browser test.
if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi

if [ -x /usr/bin/aws ] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2'; then
  exit 0
fi
apt_install awscli
/usr/bin/aws --version
