// The service's metrics, in Prometheus text at GET /metrics (prometheus-cpp).
// Each of Azure's MedTech service metrics (incoming messages, normalized
// messages, measurements, message groups, FHIR resources saved, errors with
// Azure's dimensions, latencies, health) has its series, with a `connector`
// label on each; docs/metrics.md maps one to the other and lists every
// series. Every labelled series a connector can produce exists from
// ForConnector on, at zero: alerts on rate() or absent() and dashboards need
// the series before the first event. Thread-safe: counters and histograms
// are updated from the connectors' workers and HTTP threads.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/errors.h"
#include "common/mutex.h"
#include "pipeline/worker.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace iomt::server {

// The `source` values of iomt_incoming_messages_total.
inline constexpr std::string_view kSourceHttp = "http";
inline constexpr std::string_view kSourceKafka = "kafka";
inline constexpr std::string_view kSourceMqtt = "mqtt";
// The `reason` of iomt_ingestion_rejected_total: the connector's queue is
// full (HTTP 429 with Retry-After).
inline constexpr std::string_view kRejectQueueFull = "queue_full";
// The `reason` of iomt_retries_total that is the worker's own, not the
// remote FHIR client's (store::RetryReason, "http_429", "http_5xx",
// "timeout", "connection", "token_refresh"): a batch that could not be
// committed, held and processed again after a pause.
inline constexpr std::string_view kRetryBatch = "batch";

class Metrics;

// One connector's series. Obtained from Metrics::ForConnector; lives as long
// as the Metrics.
class ConnectorMetrics {
 public:
  void Incoming(std::string_view source, double n);  // device messages received, by source (kSource*)
  void Rejected(std::string_view reason, double n);  // ingestion refused (kRejectQueueFull)
  // Requests or batches sent again, by reason: ToString(store::RetryReason)
  // for the remote FHIR client's, kRetryBatch for the worker's.
  void Retried(std::string_view reason, double n);
  // By Azure's TotalErrors dimensions: Name, Operation (the stage),
  // ErrorType, ErrorSeverity.
  void Error(const ErrorRecord& record);
  // A committed batch: measurements normalized, message groups, FHIR
  // resources saved by type and outcome, dead letters, and the latencies —
  // ingestion -> normalized and ingestion -> written and committed (readable)
  // per event, and the batch's FHIR write and commit.
  void Batch(const pipeline::BatchReport& report);
  void QueueDepth(double events);
  void Healthy(bool healthy);  // "IotConnector Health Status"

 private:
  friend class Metrics;
  ConnectorMetrics(Metrics* metrics, std::string name);
  Metrics* metrics_;
  std::string name_;
  // FHIR resources saved, by type and outcome (metrics.cc, kSaved).
  std::array<prometheus::Counter*, 5> saved_{};
  prometheus::Counter* normalized_;
  prometheus::Counter* groups_;
  prometheus::Counter* measurements_;
  prometheus::Counter* dead_letters_;
  prometheus::Histogram* normalize_latency_;
  prometheus::Histogram* write_latency_;
  prometheus::Histogram* end_to_end_latency_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* healthy_;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  ConnectorMetrics* ForConnector(const std::string& name);
  // The Subscriptions' counts (subscriptions.h) as they are now: active
  // ones, and notifications sent, failed (rest-hook attempts) and dropped
  // (full queues) since the start. Called before each scrape.
  void Subscriptions(std::int64_t active, std::int64_t sent, std::int64_t failed, std::int64_t dropped);
  // The exposition text (text/plain; version=0.0.4).
  std::string Text() const;

 private:
  friend class ConnectorMetrics;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* incoming_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Counter>* normalized_;
  prometheus::Family<prometheus::Counter>* groups_;
  prometheus::Family<prometheus::Counter>* measurements_;
  prometheus::Family<prometheus::Counter>* saved_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Counter>* dead_letters_;
  prometheus::Family<prometheus::Histogram>* normalize_latency_;
  prometheus::Family<prometheus::Histogram>* write_latency_;
  prometheus::Family<prometheus::Histogram>* end_to_end_latency_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Gauge>* healthy_;
  prometheus::Gauge* subscriptions_active_;
  // sent, failed, dropped
  std::array<prometheus::Counter*, 3> notifications_{};
  Mutex mu_;
  std::map<std::string, std::unique_ptr<ConnectorMetrics>> connectors_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::server
