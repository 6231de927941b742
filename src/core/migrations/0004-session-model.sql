-- SPDX-License-Identifier: GPL-3.0-or-later
-- Helix schema 4: the model a user pinned for a session.
--
-- `model` is the model every answer of the session asks for; NULL (or '', as a
-- session.put with "model":"" stores it) means automatic: the router chooses. It is
-- last-writer-wins by HLC like the other session fields (src/sync/PROTOCOL.md);
-- `model_hlc` NULL means never set.

ALTER TABLE sessions ADD COLUMN model TEXT CHECK (model IS NULL OR length (model) <= 256);
ALTER TABLE sessions ADD COLUMN model_hlc TEXT;
