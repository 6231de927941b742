-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 5: full-text search over each user's messages and session
-- titles (GET /api/v1/search).
--
-- What is searched is a document per message and per titled session, in
-- search_docs, owned by a user like every other row; search_fts is its
-- FTS5 index (external content: the text is in search_docs only, and the
-- triggers below keep the index in step with it). sync_messages cannot be
-- the content table itself: FTS5 needs an integer rowid, and the table is
-- WITHOUT ROWID (schema 3). The text is a copy: FTS5 removes a document
-- with the very text it indexed, and by the time the index learns of a
-- change, sync_messages holds only the new text.
--
-- Pushes do not index (helix_gateway_db_apply_ops() stays as it was, and
-- so does the cost of a group commit). Each user's ops up to
-- users.search_seq are in the index; a search first indexes the caller's
-- ops after it, from the op log, in one transaction that also moves it
-- (helix_gateway_db_search()). A session.delete drops its session's
-- documents; a search also skips any document whose session is deleted
-- or not (yet) there, as GET /api/v1/sessions/{id}/messages does.

ALTER TABLE users ADD COLUMN search_seq INTEGER NOT NULL DEFAULT 0 CHECK (search_seq >= 0);

-- kind 0: a message (uuid = the message, session its session);
-- kind 1: a session's title (uuid = session = the session).
--
-- A document's id is (user << 41) | ((2^40 - 1 - seq) << 1) | kind, seq
-- that of the op that made it (for a message, sync_messages.seq): each
-- user's documents are one range of ids, newest first, and no two
-- documents share one (an op makes one document). FTS5 seeks to the start
-- of a range of rowids and reads it forwards: a search reads the caller's
-- newest documents only, however many other users have with the same
-- words (backwards, FTS5 reads every document of a word). The CHECK
-- refuses an id outside its user's range (user ids below 2^22, seqs
-- below 2^40).
CREATE TABLE search_docs (
  id             INTEGER PRIMARY KEY CHECK (id >> 41 = user),
  user           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind           INTEGER NOT NULL CHECK (kind = 0 OR kind = 1),
  uuid           TEXT    NOT NULL CHECK (length (uuid) = 36),
  session        TEXT    NOT NULL CHECK (length (session) = 36),
  text           TEXT    NOT NULL,
  UNIQUE (user, uuid, kind)
);

CREATE INDEX search_docs_session ON search_docs (user, session);

-- What schema 4 already held: every message and title of a live session.
-- Which op made a title is not kept: the titles get the seqs 1, 2, … in
-- the order of their sessions, below the user's head seq (each came with
-- an op of its own), so below every seq to come.
INSERT INTO search_docs (id, user, kind, uuid, session, text)
  SELECT (m.user << 41) | ((1099511627775 - m.seq) << 1), m.user, 0, m.uuid, m.session, m.content
  FROM sync_messages m
  JOIN sync_sessions s ON s.user = m.user AND s.uuid = m.session AND s.deleted = 0
  ORDER BY m.user, m.seq;

INSERT INTO search_docs (id, user, kind, uuid, session, text)
  SELECT (user << 41) | ((1099511627775 -
          row_number () OVER (PARTITION BY user ORDER BY created_us, uuid)) << 1) | 1,
         user, 1, uuid, uuid, title
  FROM sync_sessions
  WHERE deleted = 0 AND title <> ''
  ORDER BY user, created_us, uuid;

UPDATE users SET search_seq = head_seq;

CREATE VIRTUAL TABLE search_fts USING fts5 (
  text,
  content = 'search_docs',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

-- As the desktop store's: fewer merges while documents arrive a few at a time.
INSERT INTO search_fts (search_fts, rank) VALUES ('automerge', 16);
INSERT INTO search_fts (search_fts) VALUES ('rebuild');

CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
  INSERT INTO search_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
  INSERT INTO search_fts (search_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER search_docs_update AFTER UPDATE OF text ON search_docs BEGIN
  INSERT INTO search_fts (search_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO search_fts (rowid, text) VALUES (new.id, new.text);
END;
