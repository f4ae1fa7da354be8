-- What the consumer runner handed the batch preparation: one row per batch, with the sequences of its new pings.
CREATE TABLE testbed_batches (
    id         bigserial PRIMARY KEY,
    sequences  integer[] NOT NULL
);
