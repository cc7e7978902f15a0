#include "ingest/kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <utility>

#include "common/mutex.h"

namespace iomt::ingest {

namespace {

constexpr std::size_t kErrstrSize = 512;
constexpr std::int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

std::string ErrorText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

// The commit failures that mean "the group moved on under you": the
// generation this consumer committed with is no longer the group's.
bool IsRebalanceError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID: return true;
    default: return false;
  }
}

// Milliseconds for librdkafka's int timeouts: rounded up (so a wait of
// 0.5 ms is not a busy poll) and clamped.
int TimeoutMs(std::chrono::steady_clock::duration d) {
  if (d <= std::chrono::steady_clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::min<std::int64_t>(ms, kMaxTimeoutMs));
}

struct PartitionList {
  explicit PartitionList(int size) : list(rd_kafka_topic_partition_list_new(size)) {}
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  rd_kafka_topic_partition_list_t* list;
};

}  // namespace

// librdkafka's C callbacks; `opaque` is the KafkaSource. All of them run on
// the thread that calls rd_kafka_consumer_poll / rd_kafka_consumer_close,
// because the main and log queues are forwarded to the consumer queue.
struct KafkaCallbacks {
  static void Rebalance(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                        void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->OnRebalance(true, partitions);
    } else {
      // __REVOKE_PARTITIONS, or a rebalance error: either way give up what
      // this consumer holds; the group assigns again.
      if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) self->SetLastError("rebalance failed: " + ErrorText(err));
      self->OnRebalance(false, partitions);
    }
  }

  static void Error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    self->SetLastError(std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason);
  }

  static void Log(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    auto* self = static_cast<KafkaSource*>(rd_kafka_opaque(rk));
    if (self != nullptr && self->options_.log) self->options_.log(level, facility, message);
  }
};

KafkaSource::KafkaSource(KafkaOptions options) : options_(std::move(options)) {}

KafkaSource::~KafkaSource() { Close(); }

Result<std::unique_ptr<KafkaSource>> KafkaSource::Open(const KafkaOptions& options) {
  if (options.brokers.empty()) return InvalidArgument("kafka: no brokers (bootstrap.servers) given");
  if (options.topic.empty()) return InvalidArgument("kafka: no topic given");
  if (options.group.empty()) return InvalidArgument("kafka: no consumer group given");

  std::unique_ptr<KafkaSource> source(new KafkaSource(options));
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, kErrstrSize> errstr{};
  auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK) {
      return InvalidArgument("kafka property " + name + ": " + errstr.data());
    }
    return Status::Ok();
  };
  const std::vector<std::pair<std::string, std::string>> fixed = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group},
      {"client.id", options.client_id},
      // Offsets are committed by Commit only, after processing.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      // Log lines are served by Poll on the caller's thread, not by
      // librdkafka's threads at random times.
      {"log.queue", "true"},
  };
  Status status;
  for (const auto& [name, value] : fixed) {
    status = set(name, value);
    if (!status.ok()) break;
  }
  for (const auto& [name, value] : options.config) {
    if (!status.ok()) break;
    status = set(name, value);
  }
  if (status.ok()) {
    std::array<char, 16> value{};
    std::size_t size = value.size();
    if (rd_kafka_conf_get(conf, "enable.auto.commit", value.data(), &size) == RD_KAFKA_CONF_OK &&
        std::string(value.data()) == "true") {
      status = InvalidArgument("kafka property enable.auto.commit: must stay false (iomt commits after processing)");
    }
  }
  if (!status.ok()) {
    rd_kafka_conf_destroy(conf);
    return status;
  }
  rd_kafka_conf_set_opaque(conf, source.get());
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaCallbacks::Rebalance);
  rd_kafka_conf_set_error_cb(conf, &KafkaCallbacks::Error);
  rd_kafka_conf_set_log_cb(conf, &KafkaCallbacks::Log);

  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return InvalidArgument(std::string("kafka: cannot create the consumer: ") + errstr.data());
  }
  source->rk_ = rk;
  // The main queue (errors, logs, rebalances) is served by consumer_poll.
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_set_log_queue(rk, nullptr);

  PartitionList topics(1);
  rd_kafka_topic_partition_list_add(topics.list, options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return InvalidArgument("kafka: cannot subscribe to " + options.topic + ": " + ErrorText(err));
  }
  return source;
}

void KafkaSource::OnRebalance(bool assign, rd_kafka_topic_partition_list_t* partitions) {
  // Positions and commits start afresh for every partition that comes or
  // goes: a revoked one must never be committed by this consumer again (its
  // new owner may be ahead), and a (re)assigned one starts from the
  // committed offset, which librdkafka fetches.
  for (int i = 0; i < partitions->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = partitions->elems[i];
    if (options_.topic != tp.topic) continue;
    positions_.erase(tp.partition);
    committed_.erase(tp.partition);
  }
  const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk_)) == "COOPERATIVE";
  if (!assign && rd_kafka_assignment_lost(rk_)) {
    SetLastError("partitions lost (session timed out?); their uncommitted messages will be delivered again");
  }
  if (cooperative) {
    rd_kafka_error_t* error =
        assign ? rd_kafka_incremental_assign(rk_, partitions) : rd_kafka_incremental_unassign(rk_, partitions);
    if (error != nullptr) {
      SetLastError(std::string(assign ? "assign: " : "unassign: ") + rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
    return;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk_, assign ? partitions : nullptr);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) SetLastError(std::string(assign ? "assign: " : "unassign: ") + ErrorText(err));
}

void KafkaSource::SetLastError(std::string error) {
  MutexLock lock(error_mu_);
  last_error_ = std::move(error);
}

std::string KafkaSource::last_error() const {
  MutexLock lock(error_mu_);
  return last_error_;
}

Result<std::vector<KafkaMessage>> KafkaSource::Poll(std::size_t max, std::chrono::milliseconds wait) {
  if (rk_ == nullptr) return Unavailable("kafka: the consumer is closed");
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<KafkaMessage> out;
  while (out.size() < max) {
    // Only the first message is waited for.
    const int timeout_ms = out.empty() ? TimeoutMs(deadline - std::chrono::steady_clock::now()) : 0;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
    std::array<char, kErrstrSize> errstr{};
    if (rd_kafka_fatal_error(rk_, errstr.data(), errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m != nullptr) rd_kafka_message_destroy(m);
      return Unavailable(std::string("kafka: fatal error: ") + errstr.data());
    }
    if (m == nullptr) {
      if (timeout_ms == 0) break;
      continue;  // a callback was served, or the timeout passed (checked above next time round)
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Consumer errors (unknown topic, offset out of range, ...) are
      // reported as messages; librdkafka goes on by itself.
      std::string text = ErrorText(m->err);
      if (m->rkt != nullptr) text += " (" + std::string(rd_kafka_topic_name(m->rkt)) + ")";
      if (m->payload != nullptr && m->len > 0) text += ": " + std::string(static_cast<const char*>(m->payload), m->len);
      rd_kafka_message_destroy(m);
      SetLastError(std::move(text));
      continue;
    }
    KafkaMessage& msg = out.emplace_back();
    if (m->payload != nullptr) msg.payload.assign(static_cast<const char*>(m->payload), m->len);
    if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        msg.headers.emplace_back(name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
      }
    }
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ts = rd_kafka_message_timestamp(m, &type);
    msg.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
    msg.partition = m->partition;
    msg.offset = m->offset;
    positions_[m->partition] = m->offset + 1;
    rd_kafka_message_destroy(m);
  }
  return out;
}

std::vector<std::pair<std::int32_t, std::int64_t>> KafkaSource::Positions() const {
  return {positions_.begin(), positions_.end()};
}

Status KafkaSource::Commit() { return Commit(Positions()); }

Status KafkaSource::Commit(const std::vector<std::pair<std::int32_t, std::int64_t>>& upto) {
  if (rk_ == nullptr) return Unavailable("kafka: the consumer is closed");
  PartitionList offsets(static_cast<int>(upto.size()));
  for (const auto& [partition, offset] : upto) {
    // A partition revoked since the position was taken is not ours to
    // commit any more (its new owner may be ahead).
    if (positions_.find(partition) == positions_.end()) continue;
    auto it = committed_.find(partition);
    if (it != committed_.end() && it->second == offset) continue;
    rd_kafka_topic_partition_list_add(offsets.list, options_.topic.c_str(), partition)->offset = offset;
  }
  if (offsets.list->cnt == 0) return Status::Ok();
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, offsets.list, /*async=*/0);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < offsets.list->cnt; ++i) {
      committed_[offsets.list->elems[i].partition] = offsets.list->elems[i].offset;
    }
    return Status::Ok();
  }
  std::string text = "kafka: commit failed: " + ErrorText(err);
  SetLastError(text);
  if (IsRebalanceError(err)) {
    return Conflict(text + " (the group rebalanced; the uncommitted messages will be delivered again)")
        .WithDetail("rebalance");
  }
  return Unavailable(std::move(text));
}

Status KafkaSource::CheckReachable(std::chrono::milliseconds timeout) {
  ReaderLock lock(rk_mu_);
  if (rk_ == nullptr) return Unavailable("kafka: the consumer is closed");
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, options_.topic.c_str(), nullptr);
  if (rkt == nullptr) return Unavailable("kafka: bad topic name " + options_.topic);
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, /*all_topics=*/0, rkt, &metadata, TimeoutMs(timeout));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unavailable("kafka: no answer from " + options_.brokers + ": " + ErrorText(err));
  }
  Status status = Unavailable("kafka: topic " + options_.topic + " not in the metadata");
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[i];
    if (options_.topic != topic.topic) continue;
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = Unavailable("kafka: topic " + options_.topic + ": " + ErrorText(topic.err));
    } else if (topic.partition_cnt == 0) {
      status = Unavailable("kafka: topic " + options_.topic + " has no partitions");
    } else {
      status = Status::Ok();
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return status;
}

std::vector<std::int32_t> KafkaSource::Assignment() {
  ReaderLock lock(rk_mu_);
  std::vector<std::int32_t> partitions;
  if (rk_ == nullptr) return partitions;
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return partitions;
  for (int i = 0; i < list->cnt; ++i) {
    if (options_.topic == list->elems[i].topic) partitions.push_back(list->elems[i].partition);
  }
  rd_kafka_topic_partition_list_destroy(list);
  std::sort(partitions.begin(), partitions.end());
  return partitions;
}

void KafkaSource::Close() {
  WriterLock lock(rk_mu_);
  if (rk_ == nullptr) return;
  // Revokes the assignment through the rebalance callback (on this thread)
  // and sends LeaveGroup, so the others get the partitions without waiting
  // for the session timeout.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) SetLastError("close: " + ErrorText(err));
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
  positions_.clear();
  committed_.clear();
}

}  // namespace iomt::ingest
