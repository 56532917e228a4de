-- Runs once, when the dev Postgres initialises an empty volume, as the
-- superuser in database "crm" (POSTGRES_DB).
--
-- One role per service that owns one schema (DESIGN.md section 6). The
-- role also needs CREATE on the database: the service runs
-- CREATE SCHEMA IF NOT EXISTS on start, which Postgres checks even when the
-- schema exists. Add a block per new service, with the password used in the
-- <service>-db secret of kustomization.yaml.

CREATE ROLE lead LOGIN PASSWORD 'dev-only-lead-password';
GRANT CONNECT, CREATE ON DATABASE crm TO lead;
CREATE SCHEMA lead AUTHORIZATION lead;

CREATE ROLE account LOGIN PASSWORD 'dev-only-account-password';
GRANT CONNECT, CREATE ON DATABASE crm TO account;
CREATE SCHEMA account AUTHORIZATION account;

CREATE ROLE opportunity LOGIN PASSWORD 'dev-only-opportunity-password';
GRANT CONNECT, CREATE ON DATABASE crm TO opportunity;
CREATE SCHEMA opportunity AUTHORIZATION opportunity;
