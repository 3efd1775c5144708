#!/bin/sh
# Create the secrets deploy/docker-compose.yml reads (once, before the first `up`).
# The directory is private to its owner (0700); the files inside are 0644 because compose
# bind-mounts them into containers whose processes run as other users (grafana, influxdb).
# Nothing is printed except the file names.
set -eu
cd "$(dirname "$0")/secrets"
chmod 0700 .
umask 022
for name in influxdb-admin-password influxdb-admin-token grafana-admin-password; do
  if [ -s "$name" ]; then
    echo "exists: deploy/secrets/$name"
  else
    head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-40 > "$name"
    echo "created: deploy/secrets/$name"
  fi
done
