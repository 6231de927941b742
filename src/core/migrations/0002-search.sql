-- SPDX-License-Identifier: GPL-3.0-or-later
-- Helix schema 2: full-text search over message content and session titles.
--
-- Both indexes are external-content FTS5 tables: they hold only the index, the text
-- stays in its table.
--
-- New messages are indexed by the store's own write path, with one
--   INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages WHERE …
-- per transaction. A per-row AFTER INSERT trigger would run inside each statement's
-- savepoint, and FTS5 flushes its in-memory buffer to a new segment at every savepoint:
-- bulk imports were ten times slower that way. Deletes and edits are rare and use
-- triggers, so every write path keeps the index in step with them.

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

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
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
