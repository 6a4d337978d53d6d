//! The schema and every statement the adapter runs.
//!
//! Advisory-lock keys: a lock row's generation is the `bigint` key (`objsubid = 1` in
//! `pg_locks`). The schema installer serialises itself on a two-`int4` key, a separate
//! key space, so it can never collide with a generation. Other applications that take
//! `bigint` advisory locks in the same database could collide with generations: give
//! sessionlock a database (or cluster) of its own, or keep their keys apart.

/// The SQL that creates the sequence and tables if they are missing. Safe to run
/// concurrently. [`PgFs::connect`](super::PgFs::connect) runs it when they are missing;
/// a role that may not create tables needs them created by one that may.
///
/// The lock table is `UNLOGGED`: its rows write no WAL, and a release waits for no
/// flush. Nothing is lost by it: its rows mean something only while their sessions hold
/// advisory locks, and a crash (or failover) ends every session anyway. After a crash
/// the server empties it; after a clean restart the rows stay, each one provably dead.
/// The generation sequence is logged, and a publish flushes its record before the
/// generation is handed out (see `PUBLISH`), so generations never go back. The
/// transcript is the application's data and is logged.
///
/// Upgrades: the first version created the lock table logged. Run again, this SQL
/// makes such a table unlogged, rows and all (as its owner: `ALTER TABLE` needs that);
/// `PgFs::connect` runs it when it finds one, and refuses a role that may not.
pub const SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(1936028012, 1);
CREATE SEQUENCE IF NOT EXISTS sessionlock_generation AS bigint;
CREATE UNLOGGED TABLE IF NOT EXISTS sessionlock_locks (
    path       text PRIMARY KEY,
    generation bigint NOT NULL,
    payload    bytea NOT NULL,
    host       text NOT NULL,
    pid        integer NOT NULL,
    backend    integer NOT NULL,
    created    timestamptz NOT NULL DEFAULT clock_timestamp()
);
DO $$ BEGIN
    IF (SELECT relpersistence FROM pg_class
        WHERE oid = 'sessionlock_locks'::regclass) = 'p' THEN
        ALTER TABLE sessionlock_locks SET UNLOGGED;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS sessionlock_transcript (
    path  text NOT NULL,
    seq   bigserial,
    token bigint NOT NULL,
    line  text NOT NULL,
    at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (path, seq)
);
COMMIT;
";

/// Whether the lock tables all exist, whether this role may use them, and whether the
/// lock table is the first version's (logged), to be upgraded by [`SCHEMA`]. Creating
/// them needs the right to create tables even when they exist (`IF NOT EXISTS` is
/// checked after the privilege), so a role that may only use them looks first.
pub(crate) const SCHEMA_STATE: &str = "
SELECT to_regclass('sessionlock_locks') IS NOT NULL
       AND to_regclass('sessionlock_transcript') IS NOT NULL
       AND to_regclass('sessionlock_generation') IS NOT NULL,
       coalesce(has_table_privilege(to_regclass('sessionlock_locks'), 'SELECT, INSERT, DELETE')
                AND has_sequence_privilege(to_regclass('sessionlock_generation'), 'USAGE')
                AND has_function_privilege(
                        'pg_logical_emit_message(boolean, text, text)', 'EXECUTE'),
                false),
       coalesce((SELECT relpersistence = 'p' FROM pg_class
                 WHERE oid = to_regclass('sessionlock_locks')), false)";

/// Publishes a row already locked, in one statement (so one transaction): a fresh
/// generation, its advisory lock taken by this session, then the row. On a conflict no
/// row is returned, and the fresh generation's lock must be dropped.
///
/// The generation is durable before it is handed out. The sequence writes one WAL
/// record for the next 32 values, and only a transaction that itself wrote WAL flushes
/// it at commit; a transaction that writes only the unlogged lock table commits without
/// a flush. So if the record came from a transaction that aborted (a publish whose
/// client died mid-statement) or committed asynchronously, a crash before the WAL
/// writer's next round would roll the sequence back below generations already handed
/// out, and give them out again: a zombie's fenced write would pass under its
/// successor's lock (INV-8). Hence the publish writes a transactional WAL message (a
/// few bytes, no table) so that its commit flushes the WAL up to itself, the sequence's
/// record included, and turns `synchronous_commit = off` (a database's or role's
/// setting) back on for its own transaction.
pub(crate) const PUBLISH: &str = "
WITH g AS MATERIALIZED (SELECT nextval('sessionlock_generation') AS generation),
     l AS MATERIALIZED (SELECT generation, pg_advisory_lock(generation),
                               pg_logical_emit_message(true, 'sessionlock', ''),
                               CASE WHEN current_setting('synchronous_commit') = 'off'
                                    THEN set_config('synchronous_commit', 'on', true) END
                        FROM g)
INSERT INTO sessionlock_locks (path, generation, payload, host, pid, backend)
SELECT $1, generation, $2, $3, $4, pg_backend_pid() FROM l
ON CONFLICT (path) DO NOTHING
RETURNING generation, (extract(epoch FROM created) * 1000)::bigint";

/// The row at a path: what `open` snapshots.
pub(crate) const OPEN: &str = "
SELECT generation, payload, (extract(epoch FROM created) * 1000)::bigint
FROM sessionlock_locks WHERE path = $1";

/// The generation at a path now.
pub(crate) const PATH_ID: &str = "SELECT generation FROM sessionlock_locks WHERE path = $1";

/// The queue beside a key (`$1` is the key followed by `.q.`): every ticket row's key and
/// generation. The lock table is small (one row per held lock or queued waiter), so a
/// scan costs less than a prefix index would in every publish.
pub(crate) const TICKETS: &str =
    "SELECT path, generation FROM sessionlock_locks WHERE starts_with(path, $1)";

/// The non-waiting probe of a holder.
pub(crate) const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1)";

/// The waiting lock, bounded by the server's `lock_timeout` (`$2`, in milliseconds), set
/// for this statement's transaction only. The subquery runs first (a volatile subquery
/// is not flattened), so the timeout is in force when the wait starts.
pub(crate) const LOCK: &str = "
SELECT pg_advisory_lock($1) FROM (SELECT set_config('lock_timeout', $2, true)) AS t";

/// Compare-and-delete: the row goes only if it still has the judged generation.
pub(crate) const DELETE: &str = "DELETE FROM sessionlock_locks WHERE path = $1 AND generation = $2";

/// Compare-and-delete that also says what the key named: the row goes only if it still
/// has the judged generation (`$2`), and the second column is the generation at the key
/// in the statement's snapshot, taken before the delete. One round trip for
/// `LockFs::unlink_if`, where `PATH_ID` then `DELETE` would be two.
pub(crate) const DELETE_IF: &str = "
WITH d AS (DELETE FROM sessionlock_locks WHERE path = $1 AND generation = $2 RETURNING 1)
SELECT EXISTS (SELECT 1 FROM d), (SELECT generation FROM sessionlock_locks WHERE path = $1)";

/// Every lock row (or those at the keys in `$1`, when not empty), for diagnostics: its
/// holder's host and pid, its age by the server's clock, and whether any session holds
/// its generation's advisory lock now (a read of `pg_locks`: nothing is locked).
pub(crate) const ROWS: &str = "
SELECT l.path, l.generation, l.host, l.pid,
       (extract(epoch FROM clock_timestamp() - l.created) * 1000)::bigint,
       EXISTS (SELECT 1 FROM pg_locks k
               WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
                 AND k.database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())
                 AND ((k.classid::bigint << 32) | k.objid::bigint) = l.generation)
FROM sessionlock_locks l
WHERE cardinality($1::text[]) = 0 OR l.path = ANY($1::text[])
ORDER BY l.path";

/// Drops every advisory lock of the session, before the connection is pooled again.
pub(crate) const UNLOCK_ALL: &str = "SELECT pg_advisory_unlock_all()";

/// The fence: the lock row of a path, share-locked until the writer's commit so that no
/// takeover can delete it in between, and whether the session that published it still
/// holds its generation's advisory lock.
pub(crate) const FENCE: &str = "
SELECT l.generation,
       EXISTS (SELECT 1 FROM pg_locks k
               WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
                 AND k.database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())
                 AND k.pid = l.backend
                 AND ((k.classid::bigint << 32) | k.objid::bigint) = l.generation)
FROM sessionlock_locks l WHERE l.path = $1 FOR SHARE OF l";

/// One transcript line, stamped with the token it was written under.
pub(crate) const APPEND: &str =
    "INSERT INTO sessionlock_transcript (path, token, line) VALUES ($1, $2, $3)";
