#!/usr/bin/env bash
# Installs what `make test` needs beyond Go modules, when it is missing:
#   - the AWS CLI v2 from Debian's package (awscli), at /usr/bin/aws: the tests use it as a real client of the
#     local Lambda Invoke API. Another `aws` (v1) may come first on PATH, so the tests call /usr/bin/aws.
set -euo pipefail

if [ -x /usr/bin/aws ] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2'; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tools/install.sh: the AWS CLI v2 is missing at /usr/bin/aws and apt-get is not available;" >&2
  echo "install AWS CLI v2 so that /usr/bin/aws runs it, then run make test again." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "tools/install.sh: installing the Debian package awscli (AWS CLI v2) ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq awscli >/dev/null
/usr/bin/aws --version
