#!/usr/bin/env bash
# Refresh deploy/advisories (the vendored PyPA advisory snapshot the dependency audit reads)
# from the newest commit of the database: a shallow bare clone kept in the cache, updated in
# place, then deploy/tools/dependency_audit.py copies the advisories of the locked packages.
# Needs GitHub (or ADVISORY_DB_URL pointing at another clone of the database).
#
#   bash deploy/tools/refresh-advisories.sh .venv/bin/python .cache/advisory-database
set -euo pipefail
python=${1:?usage: refresh-advisories.sh PYTHON CLONE_DIR}
clone=${2:?usage: refresh-advisories.sh PYTHON CLONE_DIR}
url=${ADVISORY_DB_URL:-https://github.com/pypa/advisory-database}
cd "$(dirname "$0")/../.."
if [ -d "$clone" ]; then
  git -C "$clone" fetch -q --depth 1 "$url" "+HEAD:refs/heads/snapshot"
else
  git clone -q --bare --depth 1 "$url" "$clone"
  git -C "$clone" update-ref refs/heads/snapshot HEAD
fi
"$python" deploy/tools/dependency_audit.py refresh --repository "$clone" --revision snapshot
# The range evaluation against every record's own versions list, on the whole database.
"$python" deploy/tools/dependency_audit.py crosscheck --repository "$clone" --revision snapshot
