-- The reference server's tables, the same on SQLite and PostgreSQL. Every row belongs to a
-- workspace; table names, keys and payloads are data in columns, never identifiers.
CREATE TABLE IF NOT EXISTS sl_workspaces (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,          -- the server version counter: rises with every applied op
    floor BIGINT NOT NULL             -- the retention floor: the highest purged version
);
CREATE TABLE IF NOT EXISTS sl_records (
    workspace TEXT NOT NULL,
    table_name TEXT NOT NULL,
    pk TEXT NOT NULL,
    op TEXT NOT NULL,                 -- 'put' or 'delete'
    payload TEXT,                     -- the record as JSON (puts only)
    clock BIGINT NOT NULL,
    hlc TEXT NOT NULL,
    device_id TEXT NOT NULL,
    op_id TEXT NOT NULL,
    server_version BIGINT NOT NULL,
    stored_at BIGINT NOT NULL,        -- Unix ms
    purged BOOLEAN NOT NULL DEFAULT FALSE, -- a purged tombstone: its stamp only, out of the log
    PRIMARY KEY (workspace, table_name, pk)
);
-- The change log: the latest version of each record, by server version.
CREATE INDEX IF NOT EXISTS sl_records_log ON sl_records (workspace, server_version) WHERE NOT purged;
CREATE TABLE IF NOT EXISTS sl_ops (
    workspace TEXT NOT NULL,
    op_id TEXT NOT NULL,
    applied_at BIGINT,                -- NULL: superseded
    PRIMARY KEY (workspace, op_id)
);
CREATE TABLE IF NOT EXISTS sl_devices (
    workspace TEXT NOT NULL,
    device_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, device_id)
);
-- Facts about the database itself. `epoch` names its data set: drawn when the database is
-- created and sent in every pull page, so a device that synced with an earlier database (one
-- since deleted or replaced) knows that versions it counted there mean nothing here.
CREATE TABLE IF NOT EXISTS sl_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
