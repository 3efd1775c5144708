#!/bin/bash
# Run once by the influxdb:2 image after its initial setup (/docker-entrypoint-initdb.d).
# 1. DBRP mapping: InfluxQL database "$SENTINELLE_INFLUXQL_DB" / retention policy "autogen"
#    -> the Sentinelle bucket, so Grafana's InfluxQL queries work on InfluxDB 2.
# 2. Least-privilege tokens in the shared "tokens" volume: write-only for the agent,
#    read-only for Grafana. The admin token stays in the compose secret only.
set -euo pipefail

db="${SENTINELLE_INFLUXQL_DB:-sentinelle}"
org="${DOCKER_INFLUXDB_INIT_ORG}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID}"
tokens=/run/sentinelle-tokens

influx v1 dbrp create --org "${org}" --bucket-id "${bucket_id}" --db "${db}" --rp autogen --default

umask 0022
make_token() {  # name, permission flag
  local token
  token="$(influx auth create --org "${org}" "$2" "${bucket_id}" --description "$1" --hide-headers | awk '{print $3}')"
  if [ -z "${token}" ]; then
    echo "could not create token $1" >&2
    exit 1
  fi
  printf '%s' "${token}" > "${tokens}/$1.token.tmp"
  chmod 0444 "${tokens}/$1.token.tmp"
  mv "${tokens}/$1.token.tmp" "${tokens}/$1.token"
}
make_token agent-write --write-bucket
make_token grafana-read --read-bucket
echo "sentinelle: DBRP ${db}/autogen -> bucket ${bucket_id}; tokens in ${tokens}"
