// The service's metrics, in Prometheus text at GET /metrics (prometheus-cpp).
// The names follow what Azure's IoT connector shows (incoming messages,
// normalized messages, measurements, message groups, FHIR resources saved,
// errors, latencies; docs/metrics.md), with a
// `connector` label on each. Thread-safe: counters and histograms are
// updated from the connectors' workers and HTTP threads.
#pragma once

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

class Metrics;

// One connector's series. Obtained from Metrics::ForConnector; lives as long
// as the Metrics.
class ConnectorMetrics {
 public:
  void Incoming(std::string_view source, double n);  // device messages received, by source
  void Rejected(std::string_view reason, double n);  // ingestion refused (queue_full, too_large, ...)
  void Error(const ErrorRecord& record);             // by errorName, errorType, severity, stage
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
  void Saved(std::string_view type, std::string_view outcome, double n);  // Created / Updated / NoOperation
  Metrics* metrics_;
  std::string name_;
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
  // The exposition text (text/plain; version=0.0.4).
  std::string Text() const;

 private:
  friend class ConnectorMetrics;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* incoming_;
  prometheus::Family<prometheus::Counter>* rejected_;
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
  Mutex mu_;
  std::map<std::string, std::unique_ptr<ConnectorMetrics>> connectors_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::server
