#!/bin/sh
# Uploads one file or ZIP (a CD export) into PREFIX through the upload route and prints the
# manifest; fails when a file was refused or failed (HTTP 422) or the upload was not taken.
#   upload.sh https://viewer.example.org uploads export.zip
set -eu
base=$1 prefix=$2 file=$3
token=$(framegate sign --keys-file "${FRAMEGATE_KEYS_FILE:-/etc/framegate/keys.txt}" --ttl 600 --purpose upload "$prefix")
curl --silent --show-error --fail-with-body -H 'Content-Type: application/zip' \
  --data-binary @"$file" "$base/v1/$token/$prefix/-/upload"
