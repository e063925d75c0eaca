-- Lookups that run after every rotation (a rotation's queued revocations) and on every sweep
-- (the rotations of one connection), found missing by the benchmarks.
CREATE INDEX revocations_rotation ON revocations(rotation_id);
CREATE INDEX secret_rotations_connection ON secret_rotations(connection_id);
