#!/bin/sh
# Installs iicp-relay-toolkit from its packed tarball (npm pack) with runtime dependencies only,
# then checks that the three CLIs start. The container image (deploy/Dockerfile) and the tarball
# install test (test/ops/tarball-install.ts) run this very script.
#
#   deploy/install.sh [--prefix DIR] TARBALL
#
# Result: DIR/bin/iicp-relay, DIR/bin/iicp-worker, DIR/bin/iicp-nat (DIR defaults to /opt/iicp-relay)
# and the package under DIR/lib/node_modules/iicp-relay-toolkit. Needs node >= 22.12 and npm on PATH.
set -eu

prefix=/opt/iicp-relay
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: install.sh [--prefix DIR] TARBALL" >&2; exit 2; }
tarball="$1"
[ -f "$tarball" ] || { echo "install.sh: no such tarball: $tarball" >&2; exit 2; }

# Node >= 22.12 (Debian 12's own nodejs is 18: see deploy/runbook.md §1 for getting Node 24).
node -e '
  const [major, minor] = process.versions.node.split(".").map(Number)
  if (major < 22 || (major === 22 && minor < 12)) {
    console.error(`install.sh: node ${process.version} is too old; iicp-relay-toolkit needs >= 22.12 (deploy/runbook.md §1)`)
    process.exit(1)
  }' || exit 1

# A global install into a prefix never installs devDependencies and links the bins into DIR/bin.
npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund --loglevel=error "$tarball"

for cli in iicp-relay iicp-worker iicp-nat; do
  "$prefix/bin/$cli" --version >/dev/null || { echo "install.sh: $prefix/bin/$cli --version failed" >&2; exit 1; }
done
echo "installed $("$prefix/bin/iicp-relay" --version) into $prefix (bins in $prefix/bin)"
