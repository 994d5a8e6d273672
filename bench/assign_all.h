// Shared by the plain-librdkafka bench programs (raw_consume.cc,
// passthrough.cc): assigns every partition of `topics` to a group-less
// consumer, from the beginning. Header-only: each program is one file.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <vector>

namespace cx::bench {

// Empty on success, else why it failed.
inline std::string AssignAllFromStart(rd_kafka_t* rk, const std::vector<std::string>& topics) {
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(64);
  std::string why;
  for (const std::string& t : topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, t.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        !md->topics[0].err) {
      for (int p = 0; p < md->topics[0].partition_cnt; ++p)
        rd_kafka_topic_partition_list_add(parts, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    } else if (why.empty()) {
      why = "no metadata for topic " + t;
    }
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }
  if (why.empty() && rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) why = "assign failed";
  rd_kafka_topic_partition_list_destroy(parts);
  return why;
}

}  // namespace cx::bench
