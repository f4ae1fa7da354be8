#!/usr/bin/env bash
# One database and one login role per service, as infra/dev up does: each role owns its database and is the only
# role (besides the superuser) that may connect to it. Development passwords only.
set -euo pipefail
for db in inventory payment notification tracker; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE "$db" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$db-dev';
CREATE DATABASE "$db" OWNER "$db";
REVOKE ALL ON DATABASE "$db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "$db" TO "$db";
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -c 'REVOKE CONNECT ON DATABASE postgres FROM PUBLIC'
