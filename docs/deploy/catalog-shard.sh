#!/bin/sh
# One shard of the study catalog backfill, after a sharded ingest or for a bucket filled before
# issue 24. Run it as ingest-shard.sh is run (an array job of SHARDS children):
#   SHARDS=8 catalog-shard.sh s3://studies/site-a/archive
# It needs the ingest IAM policy on the prefix; serve stays read-only.
set -eu
prefix=$1
index=${AWS_BATCH_JOB_ARRAY_INDEX:-${JOB_COMPLETION_INDEX:?no shard index}}
shards=${SHARDS:?set SHARDS to the number of children}
framegate catalog "$prefix" --shard "$index/$shards"
