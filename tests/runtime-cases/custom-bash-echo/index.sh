main_handler () {
  EVENT_DATA=$1
  echo "{\"event\": $EVENT_DATA, \"request_id\": \"$2\", \"memory_limit_in_mb\": \"$3\", \"time_limit_in_ms\": \"$4\"}"
}
