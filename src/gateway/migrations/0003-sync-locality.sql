-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 3: the indexes every pushed op writes to, keyed so that a
-- group commit changes few pages.
--
-- Helix devices make time-ordered ids (UUID version 7). Keyed by the id
-- first, an index takes the new ops of every user at one place, its right
-- edge; keyed by the user first, it took them at one place per user, and a
-- commit of the ops of 100 users rewrote a page per user in each such index
-- (4 KiB of write-ahead log each). The same goes for the index of ops by
-- device (one place per device), which nothing reads: the device of an op
-- is kept for the record. Deleting a device row, which the gateway never
-- does (it revokes devices), would now read the log to clear that column.
--
-- The tables are rebuilt (SQLite changes no key in place): ops with
-- UNIQUE (op, user) for UNIQUE (user, op), and sync_messages with the
-- primary key (uuid, user) for (user, uuid). Lookups name both columns of
-- each, so they use them as before.

CREATE TABLE ops_new (
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
  UNIQUE (op, user)
);

INSERT INTO ops_new (id, user, seq, op, kind, entity, session, hlc, canonical, hash, device,
                     received_us)
  SELECT id, user, seq, op, kind, entity, session, hlc, canonical, hash, device, received_us
  FROM ops ORDER BY id;

DROP TABLE ops;
ALTER TABLE ops_new RENAME TO ops;

CREATE TABLE sync_messages_new (
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
  PRIMARY KEY (uuid, user)
) WITHOUT ROWID;

INSERT INTO sync_messages_new SELECT * FROM sync_messages;

DROP TABLE sync_messages;
ALTER TABLE sync_messages_new RENAME TO sync_messages;

CREATE INDEX sync_messages_session ON sync_messages (user, session, seq);
