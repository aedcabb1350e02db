#!/bin/bash
# An external writer in bash + curl, as any admin could write one.
# usage: external-writer.sh API_SOCKET NAME MODE DIR
#   MODE answer            answers every event
#        hang-first-freeze does not answer the first freeze (then answers everything)
#        hang-freeze       never answers a freeze
# Writes DIR/id, DIR/streaming once the event stream is open, appends each event name to DIR/events and
# touches DIR/freeze-N when it receives its N-th freeze.
set -u
S=$1; N=$2; MODE=$3; D=$4
api() { curl -sS --unix-socket "$S" "$@"; }
id=$(api -X POST -H 'Content-Type: application/json' -d "{\"name\":\"$N\",\"lease_seconds\":60}" http://sc/v1/writers | jq -r .id)
[ -n "$id" ] && [ "$id" != null ] || { echo "registration failed" >&2; exit 1; }
echo "$id" > "$D/id"
api -N "http://sc/v1/writers/$id/events?stream=1" | while IFS= read -r line; do
  ev=$(jq -r .event <<<"$line")
  case "$ev" in
    registered) touch "$D/streaming"; continue ;;
    heartbeat) continue ;;
  esac
  seq=$(jq -r .seq <<<"$line")
  echo "$ev" >> "$D/events"
  if [ "$ev" = freeze ]; then
    n=$(grep -c '^freeze$' "$D/events")
    touch "$D/freeze-$n"
    if [ "$MODE" = hang-freeze ] || { [ "$MODE" = hang-first-freeze ] && [ "$n" = 1 ]; }; then
      continue
    fi
  fi
  api -X POST -H 'Content-Type: application/json' -d '{"ok":true}' "http://sc/v1/writers/$id/events/$seq" >/dev/null
done
