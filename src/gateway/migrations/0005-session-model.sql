-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 5: the model a user pinned for a session (session.put "model",
-- src/sync/PROTOCOL.md), last-writer-wins by HLC like the other session fields.
-- '' means automatic; NULL (with model_hlc NULL) means never set.

ALTER TABLE sync_sessions ADD COLUMN model TEXT CHECK (model IS NULL OR length (model) <= 256);
ALTER TABLE sync_sessions ADD COLUMN model_hlc TEXT;
