"""The team store's schema on PostgreSQL, versioned and migrated by overseer.

Everything lives in the ``overseer`` schema. ``MIGRATIONS[i]`` takes a store
from version ``i`` to ``i + 1``; ``migrate`` applies what is missing under an
advisory lock (two clients meeting a new database do not both create it),
and refuses a store newer than this client.

What the database itself enforces, whatever the client (docs/teams.md):

- ``events`` follow their chain: CHECK constraints (schema v2) recompute
  each row's payload hash and chain hash as it is inserted, and an AFTER
  STATEMENT trigger over the rows just inserted checks each one's link to
  the previous event (seq - 1, or the genesis hash at seq 1) and that its
  session exists. One set-based query per statement, so a COPY of
  thousands of rows pays for one check, not a PL/pgSQL call per row. A shipper cannot rewrite
  history here: a changed event does not hash, a dropped one breaks the link.
- ``events``, ``attestations``, ``blobs`` and ``messages`` are append-only:
  UPDATE, DELETE and TRUNCATE raise (triggers, which only the owner can
  drop; the roles overseer uses are granted neither UPDATE nor DELETE).
- ``blobs`` and ``messages`` are content-addressed: a CHECK recomputes the hash.
- an inbox row notifies ``overseer_inbox`` with its session id, which a
  runner LISTENs on.
"""

from __future__ import annotations

from typing import Any

from ..canonical import GENESIS
from ..errors import LogError
from .fts import INDEXED

CHANNEL = "overseer_inbox"


def _search_words_sql() -> str:
    """``overseer.search_words(kind, payload)``: an event's searchable text,
    from the same fields as the local FTS5 index (overseer.log.fts.INDEXED),
    with every run of non-alphanumerics made a space, as FTS5's unicode61
    tokenizer splits (so ``src/app.py`` is three words in both)."""
    cases = []
    for kind, paths in INDEXED.items():
        parts = " || ' ' || ".join(
            "coalesce(p #>> '{" + ",".join(path.removeprefix("$.").split(".")) + "}', '')"
            for path in paths
        )
        cases.append(f"WHEN '{kind}' THEN {parts}")
    return f"""
CREATE FUNCTION overseer.search_words(kind text, payload text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE p jsonb;
BEGIN
  BEGIN
    p := payload::jsonb;
  EXCEPTION WHEN others THEN
    RETURN '';  -- text jsonb refuses (a lone surrogate escape) is not searchable
  END;
  RETURN regexp_replace(CASE kind {" ".join(cases)} ELSE '' END, '[^[:alnum:]]+', ' ', 'g');
END
$fn$;
"""


# canonical.event_body and canonical.chain_hash, in SQL, over a row ``n``.
_PAYLOAD_HASH_SQL = (
    "encode(sha256(convert_to('{\"kind\":' || to_json(n.kind)::text || ',\"payload\":' || n.payload"
    " || ',\"session_id\":' || to_json(n.session_id)::text || ',\"ts\":' || n.ts::text || '}',"
    " 'UTF8')), 'hex')"
)
_CHAIN_HASH_SQL = (
    "encode(sha256(convert_to(n.prev_hash || ':' || n.seq::text || ':' || n.payload_hash, 'UTF8')),"
    " 'hex')"
)

_V1 = f"""
CREATE SCHEMA IF NOT EXISTS overseer;

CREATE TABLE overseer.meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE overseer.sessions (
  id text PRIMARY KEY,
  task text, agent text, model text, workspace text,
  started text, ended text, status text, policy text,
  host text,
  first_shipped timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE overseer.events (
  id bigserial PRIMARY KEY,
  session_id text NOT NULL,  -- its session must exist: checked by events_check_chain
  seq bigint NOT NULL CHECK (seq > 0),
  ts bigint NOT NULL,
  kind text NOT NULL,
  payload text NOT NULL,
  payload_hash text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  received timestamptz NOT NULL DEFAULT now(),
  UNIQUE (session_id, seq)
);

-- Seals, signed checkpoints: records kept beside a chain that vouch for its
-- head. Stored as their exact text, so whoever holds the key can check them.
CREATE TABLE overseer.attestations (
  id bigserial PRIMARY KEY,
  session_id text,
  kind text NOT NULL,
  seq bigint,
  body text NOT NULL,
  body_hash text NOT NULL CHECK (body_hash = encode(sha256(convert_to(body, 'UTF8')), 'hex')),
  received timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, body_hash)
);
CREATE INDEX attestations_session ON overseer.attestations (session_id, kind);

CREATE TABLE overseer.blobs (
  hash text PRIMARY KEY CHECK (hash = encode(sha256(data), 'hex')),
  size bigint NOT NULL,
  data bytea NOT NULL
);

CREATE TABLE overseer.messages (
  hash text PRIMARY KEY CHECK (hash = encode(sha256(convert_to(data, 'UTF8')), 'hex')),
  data text NOT NULL
);

CREATE TABLE overseer.inbox (
  id bigserial PRIMARY KEY,
  session_id text NOT NULL,
  kind text NOT NULL,
  payload text NOT NULL,
  by text NOT NULL,
  created bigint NOT NULL,
  taken bigint
);
CREATE INDEX inbox_untaken ON overseer.inbox (session_id) WHERE taken IS NULL;

-- Filled lazily by searches (as the local FTS5 index is): indexing on the
-- way in would slow every shipper for the sake of an occasional query.
CREATE TABLE overseer.search_terms (
  event_id bigint PRIMARY KEY REFERENCES overseer.events (id),
  tsv tsvector NOT NULL
);
CREATE INDEX search_terms_tsv ON overseer.search_terms USING gin (tsv);

CREATE FUNCTION overseer.events_check_chain() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE bad record; bad_hash record; link_broken boolean; hash_broken boolean;
BEGIN
  -- Links. Each row's predecessor is the previous row of the same statement
  -- when there is one (a window over the narrow columns only: sorting the
  -- payloads too cost more than all the hashing), else the stored event.
  SELECT n.session_id, n.seq, CASE
      WHEN n.link IS NULL THEN 'seq_gap: the store has no event ' || (n.seq - 1) || ' to link to'
      WHEN n.seq = 1 THEN 'broken_link: the first event must link to the genesis hash'
      ELSE 'broken_link: prev_hash is not the hash of event ' || (n.seq - 1)
    END AS why INTO bad
  FROM (
    SELECT m.session_id, m.seq, m.prev_hash, CASE
        WHEN m.seq = 1 THEN '{GENESIS}'
        WHEN m.before_seq = m.seq - 1 THEN m.before_hash
        WHEN m.before_seq IS NULL THEN (SELECT p.hash FROM overseer.events p
                                        WHERE p.session_id = m.session_id AND p.seq = m.seq - 1)
      END AS link
    FROM (
      SELECT r.session_id, r.seq, r.prev_hash,
             lag(r.seq) OVER w AS before_seq, lag(r.hash) OVER w AS before_hash
      FROM new_rows r WINDOW w AS (PARTITION BY r.session_id ORDER BY r.seq)
    ) m
  ) n
  WHERE n.prev_hash IS DISTINCT FROM n.link
  ORDER BY n.session_id, n.seq
  LIMIT 1;
  link_broken := FOUND;
  -- Hashes, in one scan with no sort: the content must hash to payload_hash
  -- and the row's hash must follow the chain formula.
  SELECT n.session_id, n.seq, CASE
      WHEN n.payload_hash <> {_PAYLOAD_HASH_SQL}
        THEN 'hash_mismatch: the content does not hash to payload_hash'
      ELSE 'hash_mismatch: hash does not follow the chain formula'
    END AS why INTO bad_hash
  FROM new_rows n
  WHERE n.payload_hash <> {_PAYLOAD_HASH_SQL} OR n.hash <> {_CHAIN_HASH_SQL}
  ORDER BY n.session_id, n.seq
  LIMIT 1;
  hash_broken := FOUND;
  -- The first bad row of the statement (a row's link before its hashes).
  IF hash_broken AND (NOT link_broken
      OR (bad_hash.session_id, bad_hash.seq) < (bad.session_id, bad.seq)) THEN
    bad := bad_hash;
  END IF;
  IF link_broken OR hash_broken THEN
    RAISE EXCEPTION 'overseer store refuses event % of session %: %', bad.seq, bad.session_id, bad.why
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  -- A foreign key, once per statement instead of once per row.
  SELECT n.session_id INTO bad FROM (SELECT DISTINCT session_id FROM new_rows) n
  WHERE NOT EXISTS (SELECT 1 FROM overseer.sessions s WHERE s.id = n.session_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'overseer store refuses events of session %: no such session', bad.session_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER events_check_chain AFTER INSERT ON overseer.events
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION overseer.events_check_chain();

CREATE FUNCTION overseer.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'overseer store: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE FUNCTION overseer.inbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('{CHANNEL}', NEW.session_id);
  RETURN NULL;
END
$fn$;

CREATE TRIGGER inbox_notify AFTER INSERT ON overseer.inbox
  FOR EACH ROW EXECUTE FUNCTION overseer.inbox_notify();

CREATE FUNCTION overseer.is_json(doc text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  PERFORM doc::json;
  RETURN true;
EXCEPTION WHEN others THEN
  RETURN false;
END
$fn$;
""" + _search_words_sql()

APPEND_ONLY_TABLES = ("events", "attestations", "blobs", "messages")

_V1 += "".join(
    f"""
CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON overseer.{t}
  FOR EACH ROW EXECUTE FUNCTION overseer.refuse_change();
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON overseer.{t}
  FOR EACH STATEMENT EXECUTE FUNCTION overseer.refuse_change();
"""
    for t in APPEND_ONLY_TABLES
)

# The triggers `verify --log URL` expects to find enabled: a store whose
# owner switched one off can no longer vouch for what was added since.
GUARD_TRIGGERS = ("events_check_chain",) + tuple(
    f"{t}_{what}" for t in APPEND_ONLY_TABLES for what in ("append_only", "no_truncate")
)

# Schema v2: the per-row hash checks move out of the statement trigger into
# CHECK constraints, evaluated by the executor as each row arrives (while the
# client is still streaming the COPY) instead of in a rescan of the
# statement's transition table after it; the trigger keeps what needs other
# rows: the links and the sessions. tests/bench/ship.py measured ~9 µs less
# backend CPU an event. A batch is still refused whole; its reason is now
# the first row whose hashes are wrong if there is one (a CHECK stops the
# COPY there), else the first broken link. The constraints are part of the
# table, so `verify --log URL` reports one missing the way it reports a
# switched-off trigger (GUARD_CONSTRAINTS).
#
# An existing v1 store adds them NOT VALID: every row it holds was checked
# by the v1 trigger as it arrived, and validating would rehash the whole
# table inside the migration's transaction, which holds the ACCESS
# EXCLUSIVE lock ADD CONSTRAINT takes (every shipper waits that long: ~8 µs
# an event, minutes for a big store). New rows are checked either way, and
# `verify --log URL` rehashes every stored event. A fresh store validates
# them at once (``migrate``: its table is empty).
HASH_CONSTRAINTS = {
    "events_payload_hash": f"payload_hash = {_PAYLOAD_HASH_SQL.replace('n.', '')}",
    "events_chain_hash": f"hash = {_CHAIN_HASH_SQL.replace('n.', '')}",
}
_V2 = (
    "".join(
        f"ALTER TABLE overseer.events ADD CONSTRAINT {name} CHECK ({expr}) NOT VALID;\n"
        for name, expr in HASH_CONSTRAINTS.items()
    )
    + f"""
CREATE OR REPLACE FUNCTION overseer.events_check_chain() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE bad record;
BEGIN
  -- Links (the hashes are checked row by row, by the events_payload_hash
  -- and events_chain_hash constraints). Each row's predecessor is the
  -- previous row of the same statement when there is one (a window over the
  -- narrow columns only), else the stored event.
  SELECT n.session_id, n.seq, CASE
      WHEN n.link IS NULL THEN 'seq_gap: the store has no event ' || (n.seq - 1) || ' to link to'
      WHEN n.seq = 1 THEN 'broken_link: the first event must link to the genesis hash'
      ELSE 'broken_link: prev_hash is not the hash of event ' || (n.seq - 1)
    END AS why INTO bad
  FROM (
    SELECT m.session_id, m.seq, m.prev_hash, CASE
        WHEN m.seq = 1 THEN '{GENESIS}'
        WHEN m.before_seq = m.seq - 1 THEN m.before_hash
        WHEN m.before_seq IS NULL THEN (SELECT p.hash FROM overseer.events p
                                        WHERE p.session_id = m.session_id AND p.seq = m.seq - 1)
      END AS link
    FROM (
      SELECT r.session_id, r.seq, r.prev_hash,
             lag(r.seq) OVER w AS before_seq, lag(r.hash) OVER w AS before_hash
      FROM new_rows r WINDOW w AS (PARTITION BY r.session_id ORDER BY r.seq)
    ) m
  ) n
  WHERE n.prev_hash IS DISTINCT FROM n.link
  ORDER BY n.session_id, n.seq
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'overseer store refuses event % of session %: %', bad.seq, bad.session_id, bad.why
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  -- A foreign key, once per statement instead of once per row.
  SELECT n.session_id INTO bad FROM (SELECT DISTINCT session_id FROM new_rows) n
  WHERE NOT EXISTS (SELECT 1 FROM overseer.sessions s WHERE s.id = n.session_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'overseer store refuses events of session %: no such session', bad.session_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$fn$;
"""
)

MIGRATIONS: tuple[str, ...] = (_V1, _V2)

# The CHECK constraints `verify --log URL` expects on overseer.events.
GUARD_CONSTRAINTS = tuple(HASH_CONSTRAINTS)
SCHEMA_VERSION = len(MIGRATIONS)

_LOCK_KEY = 0x6F76657273656572  # "overseer": serialises creation and migration


class StoreSchemaError(LogError):
    """The store's schema cannot be used by this client."""


def current_version(conn: Any) -> int:
    row = conn.execute("SELECT to_regclass('overseer.meta') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    row = conn.execute("SELECT value FROM overseer.meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: Any, where: str) -> int:
    """Bring the store to ``SCHEMA_VERSION``; returns the version found.

    ``conn`` is a psycopg connection in autocommit mode."""
    found = current_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"the team store {where} has schema version {found}, newer than this overseer "
            f"understands ({SCHEMA_VERSION}); upgrade overseer to use it"
        )
    if found == SCHEMA_VERSION:
        return found
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        found = current_version(conn)  # another client may have migrated meanwhile
        fresh = found == 0
        for version in range(found, SCHEMA_VERSION):
            conn.execute(MIGRATIONS[version])
        if fresh:  # nothing to rehash yet: validated at no cost
            for name in GUARD_CONSTRAINTS:
                conn.execute(f"ALTER TABLE overseer.events VALIDATE CONSTRAINT {name}")
        conn.execute(
            "INSERT INTO overseer.meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (str(SCHEMA_VERSION),),
        )
    return found
