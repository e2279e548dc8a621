#!/usr/bin/env bash
# Make a local PostgreSQL available to the test suite: install Debian's package when missing,
# start the cluster, create the tradeloop role and test database, and print the URL to use.
# Run by .ci/run; safe to run again.
set -euo pipefail
log() { echo "postgres: $*" >&2; }
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    pg_lsclusters -h | grep -q . || pg_createcluster "$version" main >&2
    pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q" && break
    sleep 1
done
su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='tradeloop') THEN CREATE ROLE tradeloop LOGIN SUPERUSER PASSWORD 'tradeloop'; END IF; END\\\$\\\$;\"" >&2
if ! su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='tradeloop_test'\"" | grep -q 1; then
    su postgres -c "createdb -O tradeloop tradeloop_test" >&2
fi
echo "postgresql+psycopg://tradeloop:tradeloop@127.0.0.1:5432/tradeloop_test"
