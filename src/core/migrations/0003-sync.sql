-- SPDX-License-Identifier: GPL-3.0-or-later
-- Helix schema 3: the desktop side of sync (src/sync/PROTOCOL.md).
--
-- Session fields and optional message members are last-writer-wins by HLC, each with
-- its own HLC, exactly like the gateway. NULL means "never set": it loses to any HLC.
-- The `hlc` column of sessions stays the HLC of the latest change; the one of messages
-- is the HLC of their content and status.

ALTER TABLE sessions ADD COLUMN title_hlc TEXT;
ALTER TABLE sessions ADD COLUMN pinned_hlc TEXT;
ALTER TABLE sessions ADD COLUMN archived_hlc TEXT;
ALTER TABLE sessions ADD COLUMN deleted_hlc TEXT;

UPDATE sessions SET title_hlc = hlc, pinned_hlc = hlc, archived_hlc = hlc,
                    deleted_hlc = CASE WHEN deleted = 1 THEN hlc END;

ALTER TABLE messages ADD COLUMN model_hlc TEXT;
ALTER TABLE messages ADD COLUMN provider_hlc TEXT;
ALTER TABLE messages ADD COLUMN tokens_in_hlc TEXT;
ALTER TABLE messages ADD COLUMN tokens_out_hlc TEXT;
ALTER TABLE messages ADD COLUMN cost_hlc TEXT;
ALTER TABLE messages ADD COLUMN created_hlc TEXT;

UPDATE messages SET model_hlc = CASE WHEN model IS NOT NULL THEN hlc END,
                    provider_hlc = CASE WHEN provider IS NOT NULL THEN hlc END,
                    tokens_in_hlc = CASE WHEN tokens_in IS NOT NULL THEN hlc END,
                    tokens_out_hlc = CASE WHEN tokens_out IS NOT NULL THEN hlc END,
                    cost_hlc = CASE WHEN cost IS NOT NULL THEN hlc END,
                    created_hlc = hlc;

-- Local changes not yet acknowledged by the gateway, in the order they were made. `data`
-- is the op's data object as JSON text (NULL for session.delete).
CREATE TABLE outbox (
  id       INTEGER PRIMARY KEY,
  op       TEXT    NOT NULL UNIQUE CHECK (length (op) = 36),
  kind     TEXT    NOT NULL CHECK (kind = 'session.put' OR kind = 'message.put' OR
                                   kind = 'session.delete'),
  entity   TEXT    NOT NULL CHECK (length (entity) = 36),
  session  TEXT    CHECK (session IS NULL OR length (session) = 36),
  hlc      TEXT    NOT NULL,
  data     TEXT
);

-- The highest seq applied from the gateway.
-- Local messages are not copied into the outbox: a message.put is read from the
-- message itself. Those still to push are the local ones (remote = 0) after
-- 'push-acked-upto', in rowid order; messages from before this version stay local, like
-- the sessions they belong to.
ALTER TABLE messages ADD COLUMN remote INTEGER NOT NULL DEFAULT 0 CHECK (remote = 0 OR remote = 1);

INSERT OR REPLACE INTO store_meta (key, value) VALUES ('sync-cursor', '0');
INSERT OR REPLACE INTO store_meta (key, value)
  VALUES ('push-acked-upto', (SELECT coalesce (max (id), 0) FROM messages));
