#!/bin/sh
# A MEW agent in busybox sh. mew provides MEW_GATEWAY, MEW_SPACE, MEW_PARTICIPANT_ID, MEW_TOKEN.
# Sends through the gateway's HTTP API; receives through its output_log file.
set -u
base="http://${MEW_GATEWAY#ws://}"
me="$MEW_PARTICIPANT_ID"
log="./logs/$me.jsonl"

post() {
  wget -q -O /dev/null \
    --header "Authorization: Bearer $MEW_TOKEN" \
    --header "Content-Type: application/json" \
    --post-data "$1" "$base/participants/$me/messages?space=$MEW_SPACE"
}

# The first post also makes the gateway start writing our deliveries to the log.
until post '{"kind":"chat","payload":{"text":"shell agent ready"}}'; do sleep 1; done
touch "$log"
tail -n 0 -F "$log" | while IFS= read -r line; do
  case "$line" in *'"kind":"chat"'*) ;; *) continue ;; esac
  from=$(printf '%s' "$line" | sed -n 's/.*"from":"\([^"]*\)".*/\1/p')
  [ -z "$from" ] || [ "$from" = "$me" ] && continue
  text=$(printf '%s' "$line" | sed -n 's/.*"text":"\([^"\\]*\)".*/\1/p')
  post "{\"kind\":\"chat\",\"to\":[\"$from\"],\"payload\":{\"text\":\"sh heard: $text\"}}"
done
