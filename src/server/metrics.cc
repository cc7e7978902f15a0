#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <iterator>

#include "common/datetime.h"
#include "common/mutex.h"
#include "store/remote/remote_client.h"

namespace iomt::server {

namespace {

// From a millisecond to five minutes (Azure's batching interval).
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

// The FHIR resources a batch can save, by type and outcome (Azure's
// FhirResourceSaved), with the PipelineStats count of each.
struct SavedSeries {
  std::string_view type;
  std::string_view outcome;
  std::int64_t pipeline::PipelineStats::*count;
};
constexpr SavedSeries kSaved[] = {
    {"Observation", "Created", &pipeline::PipelineStats::created},
    {"Observation", "Updated", &pipeline::PipelineStats::updated},
    {"Observation", "NoOperation", &pipeline::PipelineStats::unchanged},
    {"Patient", "Created", &pipeline::PipelineStats::patients_created},
    {"Device", "Created", &pipeline::PipelineStats::devices_created},
};

constexpr std::string_view kSources[] = {kSourceHttp, kSourceKafka, kSourceMqtt};
constexpr std::string_view kRejectReasons[] = {kRejectQueueFull};

// Azure's TotalErrors dimensions, with their names, so that alerts written
// for Azure carry over (docs/metrics.md).
prometheus::Labels ErrorLabels(const std::string& connector, ErrorName name, ErrorStage stage) {
  const ErrorInfo& info = Describe(name);
  return {{"connector", connector},
          {"Name", std::string(info.name)},
          {"Operation", std::string(ToString(stage))},
          {"ErrorType", std::string(ToString(info.type))},
          {"ErrorSeverity", std::string(ToString(info.severity))}};
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  incoming_ = &prometheus::BuildCounter()
                   .Name("iomt_incoming_messages_total")
                   .Help("Device messages received (Azure: Number of Incoming Messages), by source")
                   .Register(r);
  rejected_ = &prometheus::BuildCounter()
                   .Name("iomt_ingestion_rejected_total")
                   .Help("Device messages refused at ingestion (queue_full answers 429), by reason")
                   .Register(r);
  retries_ = &prometheus::BuildCounter()
                  .Name("iomt_retries_total")
                  .Help(
                      "Requests to the FHIR service sent again (http_429, http_5xx, timeout, connection, "
                      "token_refresh) and batches processed again (batch), by reason")
                  .Register(r);
  normalized_ = &prometheus::BuildCounter()
                     .Name("iomt_normalized_messages_total")
                     .Help("Measurements produced by normalization (Azure: Number of Normalized Messages)")
                     .Register(r);
  groups_ = &prometheus::BuildCounter()
                 .Name("iomt_message_groups_total")
                 .Help("Measurement groups converted (Azure: Number of Message Groups)")
                 .Register(r);
  measurements_ = &prometheus::BuildCounter()
                       .Name("iomt_measurements_total")
                       .Help("Measurements in the groups converted (Azure: Number of Measurements)")
                       .Register(r);
  saved_ = &prometheus::BuildCounter()
                .Name("iomt_fhir_resources_saved_total")
                .Help("FHIR resources saved, by resource type and outcome (Created, Updated, NoOperation)")
                .Register(r);
  errors_ = &prometheus::BuildCounter()
                 .Name("iomt_errors_total")
                 .Help(
                     "Errors (Azure: TotalErrors) by Name, Operation (the stage), ErrorType and ErrorSeverity "
                     "(docs/errors.md)")
                 .Register(r);
  dead_letters_ =
      &prometheus::BuildCounter().Name("iomt_dead_letters_total").Help("Events dead-lettered (each once)").Register(r);
  normalize_latency_ = &prometheus::BuildHistogram()
                            .Name("iomt_normalize_latency_seconds")
                            .Help("From ingestion to normalization, per event")
                            .Register(r);
  write_latency_ = &prometheus::BuildHistogram()
                        .Name("iomt_fhir_write_latency_seconds")
                        .Help("One batch's FHIR writes and commit")
                        .Register(r);
  end_to_end_latency_ = &prometheus::BuildHistogram()
                             .Name("iomt_end_to_end_latency_seconds")
                             .Help("From ingestion to the FHIR write committed (readable), per event")
                             .Register(r);
  queue_depth_ =
      &prometheus::BuildGauge().Name("iomt_queue_events").Help("Events queued durably and not yet written").Register(r);
  healthy_ = &prometheus::BuildGauge()
                  .Name("iomt_connector_healthy")
                  .Help(
                      "1 when the connector runs with valid mappings and reaches its source and FHIR service "
                      "(Azure: IotConnector Health Status)")
                  .Register(r);
  subscriptions_active_ = &prometheus::BuildGauge()
                               .Name("iomt_fhir_subscriptions_active")
                               .Help("FHIR Subscriptions being served (status active)")
                               .Register(r)
                               .Add({});
  auto& notifications = prometheus::BuildCounter()
                            .Name("iomt_fhir_subscription_notifications_total")
                            .Help(
                                "Subscription notifications by outcome: sent (pings, POSTs, PUTs), failed (rest-hook "
                                "attempts that failed), dropped (a full queue)")
                            .Register(r);
  notifications_ = {&notifications.Add({{"outcome", "sent"}}), &notifications.Add({{"outcome", "failed"}}),
                    &notifications.Add({{"outcome", "dropped"}})};
}

Metrics::~Metrics() = default;

ConnectorMetrics* Metrics::ForConnector(const std::string& name) {
  MutexLock lock(mu_);
  auto& slot = connectors_[name];
  if (!slot) slot.reset(new ConnectorMetrics(this, name));
  return slot.get();
}

void Metrics::Subscriptions(std::int64_t active, std::int64_t sent, std::int64_t failed, std::int64_t dropped) {
  subscriptions_active_->Set(static_cast<double>(active));
  // Counters only go up: each gets what it lacks of the total.
  const std::array<std::int64_t, 3> totals = {sent, failed, dropped};
  MutexLock lock(mu_);
  for (std::size_t i = 0; i < totals.size(); ++i) {
    const double missing = static_cast<double>(totals[i]) - notifications_[i]->Value();
    if (missing > 0) notifications_[i]->Increment(missing);
  }
}

std::string Metrics::Text() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

ConnectorMetrics::ConnectorMetrics(Metrics* metrics, std::string name) : metrics_(metrics), name_(std::move(name)) {
  const prometheus::Labels labels{{"connector", name_}};
  static_assert(std::size(kSaved) == std::tuple_size_v<decltype(saved_)>);
  // Every labelled series at zero (Family::Add creates it once).
  for (std::string_view source : kSources)
    metrics->incoming_->Add({{"connector", name_}, {"source", std::string(source)}});
  for (std::string_view reason : kRejectReasons)
    metrics->rejected_->Add({{"connector", name_}, {"reason", std::string(reason)}});
  for (store::RetryReason reason : store::kRetryReasons)
    metrics->retries_->Add({{"connector", name_}, {"reason", std::string(store::ToString(reason))}});
  metrics->retries_->Add({{"connector", name_}, {"reason", std::string(kRetryBatch)}});
  for (int e = 0; e <= static_cast<int>(ErrorName::kEventSource); ++e) {
    const auto error = static_cast<ErrorName>(e);
    const ErrorInfo& info = Describe(error);
    metrics->errors_->Add(ErrorLabels(name_, error, info.stage));
    // An outage of the FHIR service is reported for the connector at Setup
    // (ErrorRecord::stage), whatever the name's own stage.
    if (info.type == ErrorType::kFHIRServerError && info.stage != ErrorStage::kSetup) {
      metrics->errors_->Add(ErrorLabels(name_, error, ErrorStage::kSetup));
    }
  }
  for (std::size_t i = 0; i < std::size(kSaved); ++i) {
    saved_[i] = &metrics->saved_->Add({{"connector", name_},
                                       {"resource_type", std::string(kSaved[i].type)},
                                       {"outcome", std::string(kSaved[i].outcome)}});
  }
  normalized_ = &metrics->normalized_->Add(labels);
  groups_ = &metrics->groups_->Add(labels);
  measurements_ = &metrics->measurements_->Add(labels);
  dead_letters_ = &metrics->dead_letters_->Add(labels);
  normalize_latency_ = &metrics->normalize_latency_->Add(labels, LatencyBuckets());
  write_latency_ = &metrics->write_latency_->Add(labels, LatencyBuckets());
  end_to_end_latency_ = &metrics->end_to_end_latency_->Add(labels, LatencyBuckets());
  queue_depth_ = &metrics->queue_depth_->Add(labels);
  healthy_ = &metrics->healthy_->Add(labels);
}

// Family::Add returns the series that already has these labels, so the
// labelled counters are looked up on each call (errors, rejections and
// retries are rare; sources are few).
void ConnectorMetrics::Incoming(std::string_view source, double n) {
  metrics_->incoming_->Add({{"connector", name_}, {"source", std::string(source)}}).Increment(n);
}
void ConnectorMetrics::Rejected(std::string_view reason, double n) {
  metrics_->rejected_->Add({{"connector", name_}, {"reason", std::string(reason)}}).Increment(n);
}
void ConnectorMetrics::Retried(std::string_view reason, double n) {
  if (n <= 0) return;  // a counter only grows
  metrics_->retries_->Add({{"connector", name_}, {"reason", std::string(reason)}}).Increment(n);
}
void ConnectorMetrics::Error(const ErrorRecord& record) {
  metrics_->errors_->Add(ErrorLabels(name_, record.name, StageOf(record))).Increment();
}
void ConnectorMetrics::Batch(const pipeline::BatchReport& report) {
  const auto seconds = [](std::int64_t ticks) { return static_cast<double>(ticks) / datetime::kTicksPerSecond; };
  for (std::int64_t ingestion : report.ingestion_ticks) {
    normalize_latency_->Observe(seconds(report.start_ticks - ingestion));
    end_to_end_latency_->Observe(seconds(report.done_ticks - ingestion));
  }
  write_latency_->Observe(report.write_seconds);
  const pipeline::PipelineStats& c = report.counted;
  const auto n = [](std::int64_t v) { return static_cast<double>(v); };
  normalized_->Increment(n(c.measurements));
  groups_->Increment(n(c.groups));
  measurements_->Increment(n(c.measurements));
  for (std::size_t i = 0; i < std::size(kSaved); ++i)
    saved_[i]->Increment(n(c.*kSaved[i].count));
  dead_letters_->Increment(n(c.dead_lettered));
}
void ConnectorMetrics::QueueDepth(double events) { queue_depth_->Set(events); }
void ConnectorMetrics::Healthy(bool healthy) { healthy_->Set(healthy ? 1 : 0); }

}  // namespace iomt::server
