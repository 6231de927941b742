-- SPDX-License-Identifier: GPL-3.0-or-later
-- Helix schema 2: full-text search over message content and session titles.
--
-- Both indexes are external-content FTS5 tables: they hold only the index, the text
-- stays in its table.
--
-- Messages are indexed by the store's own write path, not by a per-row trigger: a
-- trigger runs inside each statement's savepoint, and FTS5 flushes its buffer to a new
-- segment at every savepoint, which made bulk imports ten times slower. The store
-- indexes in batches, with one
--   INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages WHERE id > ?
-- per batch: an import indexes what it wrote before it commits; single messages are
-- indexed a few dozen at a time, and always before a search runs. Every message whose
-- id is at most store_meta's 'fts-indexed-upto' is in the index; the ones after it are
-- not yet. Deletes and edits are rare and use triggers, which touch the index only for
-- rows it holds.

CREATE VIRTUAL TABLE messages_fts USING fts5 (
  content,
  content = 'messages',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

-- Merge segments when 16 (not 4) of a level have accumulated: every single append adds
-- a small segment, and merging less often keeps the slowest appends fast. Searches stay
-- well under a millisecond with the extra segments.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT CAST (value AS INTEGER) FROM store_meta WHERE key = 'fts-indexed-upto')
BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.id <= (SELECT CAST (value AS INTEGER) FROM store_meta WHERE key = 'fts-indexed-upto')
BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE VIRTUAL TABLE sessions_fts USING fts5 (
  title,
  content = 'sessions',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER sessions_fts_insert AFTER INSERT ON sessions BEGIN
  INSERT INTO sessions_fts (rowid, title) VALUES (new.id, new.title);
END;

CREATE TRIGGER sessions_fts_delete AFTER DELETE ON sessions BEGIN
  INSERT INTO sessions_fts (sessions_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;

CREATE TRIGGER sessions_fts_update AFTER UPDATE OF title ON sessions BEGIN
  INSERT INTO sessions_fts (sessions_fts, rowid, title) VALUES ('delete', old.id, old.title);
  INSERT INTO sessions_fts (rowid, title) VALUES (new.id, new.title);
END;

-- Index whatever schema 1 already held.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
INSERT INTO sessions_fts (sessions_fts) VALUES ('rebuild');
INSERT OR REPLACE INTO store_meta (key, value)
  VALUES ('fts-indexed-upto', (SELECT coalesce (max (id), 0) FROM messages));
