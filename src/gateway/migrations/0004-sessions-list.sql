-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 4: the list of a user's sessions from one index.
--
-- GET /api/v1/sessions, which every device asks when it starts, reads a
-- user's live sessions newest first. Through (user, deleted, updated_us) it
-- looked each row up in sync_sessions by its primary key; this index holds
-- every column the list shows, so the table is not read. uuid comes right
-- after updated_us: the order (updated_us DESC, uuid DESC) is the index's
-- own, with no sort.

DROP INDEX sync_sessions_updated;

CREATE INDEX sync_sessions_list
  ON sync_sessions (user, deleted, updated_us, uuid, created_us, pinned, archived, title);
