#!/bin/sh
# Puts a new signing key first in the keys file and keeps the others, which still verify:
#   rotate-keys.sh /etc/framegate/keys.txt
# framegate reads the file at start-up only: restart every process (rolling-restart.sh) before
# anything signs with the new key, and delete the old line once its last token has expired.
set -eu
keys=$1
new=$(framegate keygen)
{ echo "$new"; grep -v '^[[:space:]]*$' "$keys"; } > "$keys.new"
chmod --reference="$keys" "$keys.new"
chown --reference="$keys" "$keys.new"
mv "$keys.new" "$keys"
echo "${new%%:*}"
