DROP TABLE withdraw_batches;
