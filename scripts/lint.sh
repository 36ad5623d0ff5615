#!/usr/bin/env bash
# Checks `make test` runs before building: the database has one owner, and the code keeps Hummingbird's format.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

# One owner of the database: only LotseStorage imports GRDB or writes SQL (a second engine has one place to go).
grdb=$(grep -rlE '^[[:space:]]*(@[A-Za-z_()]+[[:space:]]+)*import[[:space:]]+(GRDB|GRDBSQLite)\b' Sources | grep -v '^Sources/LotseStorage/' || true)
if [ -n "$grdb" ]; then
    echo "lint: only LotseStorage may import GRDB; these do too:"
    echo "$grdb" | sed 's/^/  /'
    status=1
fi
sql=$(grep -rnE '(sql:|"(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA) )' Sources | grep -v '^Sources/LotseStorage/' || true)
if [ -n "$sql" ]; then
    echo "lint: SQL outside LotseStorage:"
    echo "$sql" | sed 's/^/  /'
    status=1
fi
# Hummingbird's format (.swift-format: line length 150, one statement per line, ordered imports); the toolchain's
# swift-format, so nothing is installed for it. `swift-format format -i -r Sources Tests Package.swift` fixes most.
if ! swift-format lint --strict -r Sources Tests Package.swift; then
    echo "lint: the code is not in the project's format (.swift-format); run: swift-format format -i -r Sources Tests Package.swift"
    status=1
fi
exit $status
