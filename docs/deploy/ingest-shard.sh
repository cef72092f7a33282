#!/bin/sh
# One shard of a batch ingest. An AWS Batch array job of SHARDS children (or a Kubernetes
# indexed Job) runs it once per child; each takes its share of the source, no two the same:
#   SHARDS=8 ingest-shard.sh s3://old-bucket/identified s3://studies/site-a/archive
# The pseudonym secret is serve's (FRAMEGATE_PSEUDONYM_KEY), so the keys match what it serves.
set -eu
source=$1 destination=$2
index=${AWS_BATCH_JOB_ARRAY_INDEX:-${JOB_COMPLETION_INDEX:?no shard index}}
shards=${SHARDS:?set SHARDS to the number of children}
framegate ingest "$source" --to "$destination" --shard "$index/$shards" \
  --pseudonym-key "$FRAMEGATE_PSEUDONYM_KEY" --manifest "manifest-$index-of-$shards.json"
