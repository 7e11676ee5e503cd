//! Access to the provenance database. Writers are the dispatcher (one per cache, under the run
//! lock) and `gc`; readers (`plan`, `why`, `results`) may run at the same time thanks to WAL.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::schema::MIGRATIONS;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("provenance database {path}: {source}")]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error(
        "provenance database {path} has schema version {found}, newer than this sgdnoise ({known}); upgrade sgdnoise"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error(
        "provenance database {path} is read-only and has schema version {found}, older than this sgdnoise's ({known}): run a writing command (`sgdnoise run`) once with write access to upgrade it"
    )]
    ReadOnlyOld { path: PathBuf, found: i64, known: i64 },
}

/// (stage, instance id) → (key, key inputs JSON) of the latest execution.
pub type LatestMap = HashMap<(String, String), (String, String)>;

/// A finished or failed execution.
#[derive(Debug, Clone, Default)]
pub struct ExecutionRow {
    pub id: i64,
    pub key: String,
    pub pipeline: String,
    pub stage: String,
    pub instance: String,
    pub kind: String,
    pub kind_version: u32,
    pub key_inputs: Value,
    pub params: Value,
    pub inputs: Value,
    pub outputs: Option<BTreeMap<String, String>>,
    pub output_hash: Option<String>,
    pub metrics: Value,
    pub env: Value,
    pub host: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    pub status: String,
    pub error: Option<String>,
    /// Set on an execution imported from a bundle: which bundle, when and where it was
    /// imported (`bundle::format::Origin`); `host` and the times stay the original's.
    pub origin: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub key: String,
    pub output_hash: String,
    pub outputs: BTreeMap<String, String>,
    pub execution_id: i64,
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let sql = |source| DbError::Sql { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
        let mut db = Db { conn, path: path.to_owned() };
        db.migrate()?;
        Ok(db)
    }

    /// Opens an existing database for reading only (a read-only cache: a shared results folder,
    /// a mounted snapshot). When even SQLite's shared-memory file cannot be made next to it, the
    /// file is opened as immutable: nothing else may write it meanwhile, which a read-only folder
    /// guarantees.
    pub fn open_read_only(path: &Path) -> Result<Db, DbError> {
        use rusqlite::OpenFlags;
        let sql = |source| DbError::Sql { path: path.to_owned(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let probe = |conn: Connection| -> rusqlite::Result<Connection> {
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?;
            Ok(conn)
        };
        let conn = match Connection::open_with_flags(path, flags).and_then(probe) {
            Ok(c) => c,
            Err(first) => {
                // Immutable ignores the write-ahead log: with one that holds data, what it shows
                // would be out of date. Refused instead.
                let wal = path.with_extension("sqlite-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(DbError::Sql { path: path.to_owned(), source: first });
                }
                let uri = format!("file:{}?immutable=1", uri_path(path));
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI).and_then(probe).map_err(sql)?
            }
        };
        let db = Db { conn, path: path.to_owned() };
        let (found, known) = (db.schema_version(), MIGRATIONS.len() as i64);
        if found > known {
            return Err(DbError::TooNew { path: path.to_owned(), found, known });
        }
        if found < known {
            return Err(DbError::ReadOnlyOld { path: path.to_owned(), found, known });
        }
        Ok(db)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        move |source| DbError::Sql { path: self.path.clone(), source }
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(self.err())?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(DbError::TooNew { path: self.path.clone(), found: version, known });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let path = self.path.clone();
            let tx = self.conn.transaction().map_err(|source| DbError::Sql { path: path.clone(), source })?;
            tx.execute_batch(m).map_err(|source| DbError::Sql { path: path.clone(), source })?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|source| DbError::Sql { path: path.clone(), source })?;
            tx.commit().map_err(|source| DbError::Sql { path, source })?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> i64 {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap_or(0)
    }

    /// Every record, by key (one query: planning 10,000 instances stays fast).
    pub fn records(&self) -> Result<HashMap<String, RecordRow>, DbError> {
        let mut stmt =
            self.conn.prepare("SELECT key, output_hash, outputs, execution_id FROM records").map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                let outputs: String = r.get(2)?;
                Ok(RecordRow {
                    key: r.get(0)?,
                    output_hash: r.get(1)?,
                    outputs: serde_json::from_str(&outputs).unwrap_or_default(),
                    execution_id: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        let mut out = HashMap::new();
        for row in rows {
            let row = row.map_err(self.err())?;
            out.insert(row.key.clone(), row);
        }
        Ok(out)
    }

    /// The key and (unparsed) key inputs of the latest execution of each instance id of a
    /// pipeline; parsing waits until a miss needs explaining.
    pub fn latest(&self, pipeline: &str) -> Result<LatestMap, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT stage, instance, key, key_inputs FROM latest WHERE pipeline = ?1")
            .map_err(self.err())?;
        let rows =
            stmt.query_map([pipeline], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// For each record of an instance of `kind`: its key, key inputs and wall time (the
    /// records another limit may reuse).
    pub fn recorded_of(&self, kind: &str) -> Result<Vec<(String, String, Option<f64>)>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.key, e.key_inputs, json_extract(e.metrics, '$.wall_s') FROM records r \
                 JOIN executions e ON e.id = r.execution_id WHERE e.kind = ?1",
            )
            .map_err(self.err())?;
        let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The error of the last failed execution of each key that has no record.
    pub fn failures(&self) -> Result<HashMap<String, String>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, error FROM executions WHERE status = 'failed' AND key NOT IN (SELECT key FROM records) ORDER BY id")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default())))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Records a successful execution: the execution row, the record and the instance's latest
    /// key, in one transaction.
    pub fn commit_success(&mut self, row: &ExecutionRow) -> Result<i64, DbError> {
        let path = self.path.clone();
        let e = |source| DbError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        let id = insert_execution(&tx, row).map_err(e)?;
        insert_record(&tx, row, id, "INSERT OR REPLACE").map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// Imports executions from a bundle in one transaction: each row is inserted, and those
    /// whose outputs came with it (`record`) get the record and, when the instance has none, its
    /// latest key. Keys that already have a record are left as they are (the caller compares).
    pub fn import(&mut self, rows: &[(ExecutionRow, bool)]) -> Result<usize, DbError> {
        let path = self.path.clone();
        let e = |source| DbError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        let mut inserted = 0;
        for (row, record) in rows {
            let has: bool = tx
                .query_row("SELECT EXISTS(SELECT 1 FROM records WHERE key = ?1)", [&row.key], |r| r.get(0))
                .map_err(e)?;
            let seen: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM executions WHERE key = ?1 AND status = 'ok')",
                    [&row.key],
                    |r| r.get(0),
                )
                .map_err(e)?;
            if has || (seen && !record) {
                continue;
            }
            let id = insert_execution(&tx, row).map_err(e)?;
            inserted += 1;
            if *record {
                // An instance's own latest key (what a change is explained against) is kept.
                insert_record(&tx, row, id, "INSERT OR IGNORE").map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(inserted)
    }

    /// Output hashes of successful executions of `kinds` that have no record: what rebuilding
    /// them is expected to give (outputs left out of a bundle, rebuilt from keyed raw files).
    pub fn unrecorded_outputs(&self, kinds: &[&str]) -> Result<HashMap<String, String>, DbError> {
        let mut out = HashMap::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, output_hash FROM executions WHERE status = 'ok' AND kind = ?1 \
                 AND output_hash IS NOT NULL AND key NOT IN (SELECT key FROM records) ORDER BY id",
            )
            .map_err(self.err())?;
        for kind in kinds {
            let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.err())?;
            for row in rows {
                let (k, h): (String, String) = row.map_err(self.err())?;
                out.insert(k, h);
            }
        }
        Ok(out)
    }

    /// Records a failed or cancelled execution (no record).
    pub fn record_failure(&mut self, row: &ExecutionRow) -> Result<i64, DbError> {
        insert_execution(&self.conn, row).map_err(self.err())
    }

    /// Notes the key of a fresh instance (a renamed stage or another pipeline reusing a record),
    /// so the next change is explained against it.
    pub fn touch_latest(
        &mut self,
        pipeline: &str,
        stage: &str,
        instance: &str,
        key: &str,
        key_inputs: &Value,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO latest (pipeline, stage, instance, key, key_inputs) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![pipeline, stage, instance, key, key_inputs.to_string()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Many `touch_latest` in one transaction.
    pub fn touch_latest_many(
        &mut self,
        pipeline: &str,
        rows: &[(String, String, String, Value)],
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let e = |source| DbError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut stmt = tx
                .prepare("INSERT OR REPLACE INTO latest (pipeline, stage, instance, key, key_inputs) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(e)?;
            for (stage, instance, key, ki) in rows {
                stmt.execute(params![pipeline, stage, instance, key, ki.to_string()]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    pub fn execution(&self, id: i64) -> Result<Option<ExecutionRow>, DbError> {
        self.conn
            .query_row(&format!("{SELECT_EXEC} WHERE id = ?1"), [id], read_execution)
            .optional()
            .map_err(self.err())
    }

    /// The execution that produced the record of `key`; without a record (an output left out
    /// of a bundle, a record dropped by `verify --repair`), its latest successful execution.
    pub fn execution_for_key(&self, key: &str) -> Result<Option<ExecutionRow>, DbError> {
        self.conn
            .query_row(
                &format!(
                    "{SELECT_EXEC} WHERE id = COALESCE((SELECT execution_id FROM records WHERE key = ?1), \
                     (SELECT MAX(id) FROM executions WHERE key = ?1 AND status = 'ok'))"
                ),
                [key],
                read_execution,
            )
            .optional()
            .map_err(self.err())
    }

    /// Keys whose record starts with `prefix` (keys) or whose outputs contain an object or output
    /// hash starting with it.
    pub fn find_keys(&self, prefix: &str) -> Result<Vec<String>, DbError> {
        let like = format!("{prefix}%");
        let mut stmt = self
            .conn
            .prepare("SELECT key FROM records WHERE key LIKE ?1 OR output_hash LIKE ?1 OR outputs LIKE ?2 ORDER BY key")
            .map_err(self.err())?;
        let rows = stmt.query_map(params![like, format!("%\"{prefix}%")], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The record key of an instance id (`stage[params]`) in the latest table.
    pub fn key_of_instance(&self, instance: &str) -> Result<Vec<(String, String)>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT pipeline, key FROM latest WHERE instance = ?1 ORDER BY pipeline")
            .map_err(self.err())?;
        let rows = stmt.query_map([instance], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// `PRAGMA integrity_check`: the lines it printed when the file is damaged, none when `ok`.
    pub fn integrity_check(&self) -> Result<Vec<String>, DbError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(self.err())?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(self.err())?;
        let lines: Vec<String> = rows.collect::<Result<_, _>>().map_err(self.err())?;
        Ok(if lines == ["ok"] { Vec::new() } else { lines })
    }

    pub fn delete_record(&mut self, key: &str) -> Result<(), DbError> {
        self.conn.execute("DELETE FROM records WHERE key = ?1", [key]).map_err(self.err())?;
        Ok(())
    }

    /// Mean duration of successful executions per kind, for ETAs.
    pub fn mean_durations(&self) -> Result<HashMap<String, f64>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, AVG(duration_s) FROM executions WHERE status = 'ok' GROUP BY kind")
            .map_err(self.err())?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<f64>>(1)?.unwrap_or(0.0)))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// (kind, params as JSON, seconds) of every successful execution, for the cost model.
    pub fn durations(&self) -> Result<Vec<(String, String, f64)>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, params, duration_s FROM executions WHERE status = 'ok' AND duration_s IS NOT NULL")
            .map_err(self.err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Cached sha256 of a file, valid while its size and mtime are unchanged.
    pub fn cached_file_hash(&self, path: &str, size: i64, mtime_ns: i64) -> Option<String> {
        self.conn
            .query_row(
                "SELECT sha256 FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![path, size, mtime_ns],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
    }

    pub fn store_file_hash(&self, path: &str, size: i64, mtime_ns: i64, sha: &str) {
        let _ = self.conn.execute(
            "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)",
            params![path, size, mtime_ns, sha],
        );
    }
}

const SELECT_EXEC: &str =
    "SELECT id, key, pipeline, stage, instance, kind, kind_version, key_inputs, params, inputs, outputs, \
     output_hash, metrics, env, host, started_at, finished_at, duration_s, status, error, origin FROM executions";

/// A path as a `file:` URI path: percent-encoding for the characters URIs reserve.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn read_execution(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRow> {
    let json = |i: usize| -> rusqlite::Result<Value> {
        Ok(r.get::<_, Option<String>>(i)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null))
    };
    Ok(ExecutionRow {
        id: r.get(0)?,
        key: r.get(1)?,
        pipeline: r.get(2)?,
        stage: r.get(3)?,
        instance: r.get(4)?,
        kind: r.get(5)?,
        kind_version: r.get(6)?,
        key_inputs: json(7)?,
        params: json(8)?,
        inputs: json(9)?,
        outputs: r.get::<_, Option<String>>(10)?.and_then(|s| serde_json::from_str(&s).ok()),
        output_hash: r.get(11)?,
        metrics: json(12)?,
        env: json(13)?,
        host: r.get(14)?,
        started_at: r.get(15)?,
        finished_at: r.get(16)?,
        duration_s: r.get(17)?,
        status: r.get(18)?,
        error: r.get(19)?,
        origin: r.get::<_, Option<String>>(20)?.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// The record of a successful execution `id`, and the instance's latest key: `verb` is
/// `INSERT OR REPLACE` for one that ran here, `INSERT OR IGNORE` for an import (the record is
/// absent, and the latest key stays the instance's own).
fn insert_record(conn: &Connection, row: &ExecutionRow, id: i64, verb: &str) -> rusqlite::Result<()> {
    let outputs = serde_json::to_string(&row.outputs).expect("outputs serialise");
    conn.execute(
        &format!(
            "{verb} INTO records (key, output_hash, outputs, execution_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        ),
        params![row.key, row.output_hash, outputs, id, row.finished_at],
    )?;
    conn.execute(
        &format!("{verb} INTO latest (pipeline, stage, instance, key, key_inputs) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![row.pipeline, row.stage, row.instance, row.key, row.key_inputs.to_string()],
    )?;
    Ok(())
}

fn insert_execution(conn: &Connection, row: &ExecutionRow) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO executions (key, pipeline, stage, instance, kind, kind_version, key_inputs, params, inputs, outputs, \
         output_hash, metrics, env, host, started_at, finished_at, duration_s, status, error, origin) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        params![
            row.key,
            row.pipeline,
            row.stage,
            row.instance,
            row.kind,
            row.kind_version,
            row.key_inputs.to_string(),
            row.params.to_string(),
            row.inputs.to_string(),
            row.outputs.as_ref().map(|o| serde_json::to_string(o).expect("outputs serialise")),
            row.output_hash,
            row.metrics.to_string(),
            row.env.to_string(),
            row.host,
            row.started_at,
            row.finished_at,
            row.duration_s,
            row.status,
            row.error,
            row.origin.as_ref().map(Value::to_string),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}
