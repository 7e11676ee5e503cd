//! The schema, as an ordered list of migrations. The database stores its version in
//! `PRAGMA user_version`; opening applies the missing migrations in one transaction each.

pub const MIGRATIONS: &[&str] = &[
    // 1: executions, records, the latest key of each instance id, hashed raw files.
    r#"
    CREATE TABLE executions (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        stage TEXT NOT NULL,
        instance TEXT NOT NULL,
        kind TEXT NOT NULL,
        kind_version INTEGER NOT NULL,
        key_inputs TEXT NOT NULL,
        params TEXT NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT,
        output_hash TEXT,
        metrics TEXT,
        env TEXT NOT NULL,
        host TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        duration_s REAL,
        status TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX executions_key ON executions(key);
    CREATE INDEX executions_output ON executions(output_hash);
    CREATE TABLE records (
        key TEXT PRIMARY KEY,
        output_hash TEXT NOT NULL,
        outputs TEXT NOT NULL,
        execution_id INTEGER NOT NULL REFERENCES executions(id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX records_output ON records(output_hash);
    CREATE TABLE latest (
        pipeline TEXT NOT NULL,
        stage TEXT NOT NULL,
        instance TEXT NOT NULL,
        key TEXT NOT NULL,
        key_inputs TEXT NOT NULL,
        PRIMARY KEY (pipeline, stage, instance)
    );
    CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL
    );
    "#,
    // 2: where an imported execution came from (a bundle); null for one that ran here.
    r#"
    ALTER TABLE executions ADD COLUMN origin TEXT;
    "#,
];
