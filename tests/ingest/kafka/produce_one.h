// One message to librdkafka's producer through rd_kafka_produceva: the same
// call as rd_kafka_producev(RD_KAFKA_V_...), whose macros are GNU statement
// expressions that clang's -Wpedantic warns about. For the Kafka test tools.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string_view>

namespace iomt::testing {

struct KafkaMessageOut {
  const char* topic = nullptr;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;
  std::string_view value;
  std::string_view key;                   // empty: no key
  rd_kafka_headers_t* headers = nullptr;  // owned by librdkafka once produced
  std::int64_t timestamp_ms = 0;          // 0: the producer's clock
};

// RD_KAFKA_RESP_ERR_NO_ERROR, or why not (e.g. _QUEUE_FULL: poll and retry).
// On an error the headers are still the caller's.
inline rd_kafka_resp_err_t ProduceOne(rd_kafka_t* rk, const KafkaMessageOut& m) {
  rd_kafka_vu_t vus[7] = {};
  std::size_t n = 0;
  vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[n++].u.cstr = m.topic;
  vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[n++].u.i32 = m.partition;
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = const_cast<char*>(m.value.data());  // copied (F_COPY), never written
  vus[n++].u.mem.size = m.value.size();
  if (!m.key.empty()) {
    vus[n].vtype = RD_KAFKA_VTYPE_KEY;
    vus[n].u.mem.ptr = const_cast<char*>(m.key.data());
    vus[n++].u.mem.size = m.key.size();
  }
  if (m.headers != nullptr) {
    vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[n++].u.headers = m.headers;
  }
  if (m.timestamp_ms != 0) {
    vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vus[n++].u.i64 = m.timestamp_ms;
  }
  rd_kafka_error_t* error = rd_kafka_produceva(rk, vus, n);
  if (error == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  return code;
}

}  // namespace iomt::testing
