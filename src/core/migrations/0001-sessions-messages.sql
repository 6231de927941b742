-- SPDX-License-Identifier: GPL-3.0-or-later
-- Helix schema 1: sessions and their messages.
--
-- Times are microseconds since the Unix epoch (UTC). Ids shared with other devices are
-- UUIDs as text; the integer primary keys never leave this file.

PRAGMA application_id = 1212962865; -- 'HLX1'

CREATE TABLE sessions (
  id          INTEGER PRIMARY KEY,
  uuid        TEXT    NOT NULL UNIQUE CHECK (length (uuid) = 36),
  title       TEXT    NOT NULL DEFAULT '',
  created_us  INTEGER NOT NULL,
  updated_us  INTEGER NOT NULL,
  pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned = 0 OR pinned = 1),
  archived    INTEGER NOT NULL DEFAULT 0 CHECK (archived = 0 OR archived = 1),
  deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted = 0 OR deleted = 1),
  hlc         TEXT    NOT NULL,
  n_messages  INTEGER NOT NULL DEFAULT 0
);


-- Messages are append-only: position is the message's place in its session, 0-based,
-- so that a view can fetch any page with one index lookup.
CREATE TABLE messages (
  id          INTEGER PRIMARY KEY,
  uuid        TEXT    NOT NULL UNIQUE CHECK (length (uuid) = 36),
  session     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  -- Spelled out with OR: SQLite 3.40 builds a temporary table per row for IN (…).
  role        TEXT    NOT NULL CHECK (role = 'user' OR role = 'assistant' OR
                                      role = 'system' OR role = 'tool'),
  content     TEXT    NOT NULL,
  created_us  INTEGER NOT NULL,
  status      TEXT    NOT NULL DEFAULT 'done'
                      CHECK (status = 'pending' OR status = 'streaming' OR
                             status = 'done' OR status = 'error'),
  model       TEXT,
  provider    TEXT,
  tokens_in   INTEGER,
  tokens_out  INTEGER,
  cost        REAL,
  metadata    TEXT    CHECK (metadata IS NULL OR json_valid (metadata)),
  hlc         TEXT    NOT NULL,
  UNIQUE (session, position)
);

-- Key/value pairs the store itself keeps (device id, …).
CREATE TABLE store_meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) WITHOUT ROWID;
