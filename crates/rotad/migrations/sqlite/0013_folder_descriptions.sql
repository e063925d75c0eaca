-- Folders carry an optional description (upstream's `description` on folders v2).
ALTER TABLE folders ADD COLUMN description TEXT;
