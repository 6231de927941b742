-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 2: each user's operation log and the state it materializes.
--
-- Every row belongs to a user and is deleted with them. The op log is what
-- devices sync from: (user, seq) orders it, (user, op) makes pushes
-- idempotent. HLCs are stored in their text form and compared in C
-- (helix_hlc_compare), never by SQL: text order is not HLC order.
-- CHECK constraints spell alternatives with OR: SQLite 3.40 builds a
-- temporary table per row for an IN list in a CHECK.

ALTER TABLE users ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0 CHECK (head_seq >= 0);

CREATE TABLE ops (
  id             INTEGER PRIMARY KEY,
  user           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  seq            INTEGER NOT NULL CHECK (seq >= 1),
  op             TEXT    NOT NULL CHECK (length (op) = 36),
  kind           TEXT    NOT NULL CHECK (kind = 'session.put' OR kind = 'message.put' OR
                                         kind = 'session.delete'),
  entity         TEXT    NOT NULL CHECK (length (entity) = 36),
  session        TEXT    CHECK (session IS NULL OR length (session) = 36),
  hlc            TEXT    NOT NULL,
  canonical      TEXT    NOT NULL,
  hash           BLOB    NOT NULL CHECK (length (hash) = 32),
  device         INTEGER REFERENCES devices (id) ON DELETE SET NULL,
  received_us    INTEGER NOT NULL,
  UNIQUE (user, seq),
  UNIQUE (user, op)
);

CREATE INDEX ops_device ON ops (device);

-- One row per session a user's devices ever named. A deleted session stays as
-- a tombstone (deleted = 1) with its fields cleared, forever.
CREATE TABLE sync_sessions (
  user           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  uuid           TEXT    NOT NULL CHECK (length (uuid) = 36),
  title          TEXT    NOT NULL DEFAULT '' CHECK (length (CAST (title AS BLOB)) <= 1024),
  title_hlc      TEXT,
  pinned         INTEGER NOT NULL DEFAULT 0 CHECK (pinned = 0 OR pinned = 1),
  pinned_hlc     TEXT,
  archived       INTEGER NOT NULL DEFAULT 0 CHECK (archived = 0 OR archived = 1),
  archived_hlc   TEXT,
  deleted        INTEGER NOT NULL DEFAULT 0 CHECK (deleted = 0 OR deleted = 1),
  deleted_hlc    TEXT,
  created_us     INTEGER NOT NULL,
  updated_us     INTEGER NOT NULL,
  PRIMARY KEY (user, uuid)
) WITHOUT ROWID;

CREATE INDEX sync_sessions_updated ON sync_sessions (user, deleted, updated_us);

-- Messages are append-only. `hlc` is the HLC of `content` and `status` (always
-- sent together); each optional member has its own.
CREATE TABLE sync_messages (
  user           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  uuid           TEXT    NOT NULL CHECK (length (uuid) = 36),
  session        TEXT    NOT NULL CHECK (length (session) = 36),
  role           TEXT    NOT NULL CHECK (role = 'user' OR role = 'assistant' OR
                                         role = 'system' OR role = 'tool'),
  content        TEXT    NOT NULL,
  status         TEXT    NOT NULL CHECK (status = 'pending' OR status = 'streaming' OR
                                         status = 'done' OR status = 'error'),
  model          TEXT,
  model_hlc      TEXT,
  provider       TEXT,
  provider_hlc   TEXT,
  tokens_in      INTEGER,
  tokens_in_hlc  TEXT,
  tokens_out     INTEGER,
  tokens_out_hlc TEXT,
  cost           REAL,
  cost_hlc       TEXT,
  created_us     INTEGER NOT NULL,
  created_hlc    TEXT,
  hlc            TEXT    NOT NULL,
  seq            INTEGER NOT NULL,
  PRIMARY KEY (user, uuid)
) WITHOUT ROWID;

CREATE INDEX sync_messages_session ON sync_messages (user, session, seq);
