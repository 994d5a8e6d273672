#!/usr/bin/env bash
# Creates cxstream's topics (docs/runtime.md#topics): the co-partitioned
# inputs, agents and repartition topic with one partition count, the
# compacted changelog, profile and alert topics, and the other outputs.
# Idempotent (--if-not-exists). Run by the topics Job (topics-job.yaml), by
# hand (README, "Against a real Kafka cluster") and by the test
# runtime_kafka.kafka_readme_recipe.
#   KAFKA        bootstrap servers (required)
#   PARTITIONS   partition count (default 12)
#   REPLICATION  replication factor (default 3); MIN_ISR min.insync.replicas (default 2)
#   APP          kafka.application_id (default cxstream)
#   KAFKA_TOPICS the kafka-topics command (default kafka-topics.sh)
#   KAFKA_ARGS   further arguments to it, such as --command-config client.properties
set -euo pipefail
: "${KAFKA:?set KAFKA to the bootstrap servers}"
PARTITIONS=${PARTITIONS:-12}
REPLICATION=${REPLICATION:-3}
MIN_ISR=${MIN_ISR:-2}
APP=${APP:-cxstream}
read -r -a topics_cmd <<< "${KAFKA_TOPICS:-kafka-topics.sh}"
read -r -a extra <<< "${KAFKA_ARGS:-}"

create() {
  "${topics_cmd[@]}" --bootstrap-server "$KAFKA" "${extra[@]}" --create --if-not-exists --topic "$1" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION" --config "min.insync.replicas=$MIN_ISR" "${@:2}"
}
for t in cx.chat cx.orders cx.aftersales cx.agents; do create "$t"; done
create "$APP-customer-changelog" --config cleanup.policy=compact
create "$APP-staffing-repartition" --config retention.ms=86400000
for t in cx.profiles cx.alerts; do create "$t" --config cleanup.policy=compact; done
for t in cx.sla cx.staffing cx.dlq; do create "$t"; done
