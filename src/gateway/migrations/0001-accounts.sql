-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gateway schema 1: accounts, their devices, and the devices' tokens.
--
-- Times are microseconds since the Unix epoch (UTC). Every row belongs to a user:
-- deleting a user deletes their devices and tokens. Passwords are stored only as
-- argon2id strings (libsodium crypto_pwhash_str), tokens only as SHA-256 hashes.

PRAGMA application_id = 1212962887; -- 'HLXG'

CREATE TABLE users (
  id             INTEGER PRIMARY KEY,
  name           TEXT    NOT NULL UNIQUE CHECK (length (name) BETWEEN 1 AND 64),
  password_hash  TEXT    NOT NULL,
  is_admin       INTEGER NOT NULL DEFAULT 0 CHECK (is_admin = 0 OR is_admin = 1),
  disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled = 0 OR disabled = 1),
  created_us     INTEGER NOT NULL
);

CREATE TABLE devices (
  id             INTEGER PRIMARY KEY,
  uuid           TEXT    NOT NULL UNIQUE CHECK (length (uuid) = 36),
  user           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name           TEXT    NOT NULL CHECK (length (CAST (name AS BLOB)) <= 128),
  created_us     INTEGER NOT NULL,
  last_seen_us   INTEGER NOT NULL,
  revoked_us     INTEGER
);

CREATE INDEX devices_user ON devices (user);

CREATE TABLE tokens (
  hash           BLOB    PRIMARY KEY CHECK (length (hash) = 32),
  device         INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  created_us     INTEGER NOT NULL,
  revoked_us     INTEGER
) WITHOUT ROWID;

CREATE INDEX tokens_device ON tokens (device);
