// A connector of `iomt serve`: one device mapping and one FHIR destination
// mapping, the events that reach it, and the workers that carry them into
// the FHIR service (docs/ARCHITECTURE.md, "The service"). This class only
// assembles and runs the parts, each of which lives with its stage:
//
//   sources        HTTP (ingest/http), MQTT (ingest/mqtt) -> the durable
//                  event log (pipeline/event_log); Kafka (ingest/kafka) is
//                  its own durable queue (pipeline/kafka_batch_source.h)
//   workers        pipeline::BatchWorker, one per source, each with its own
//                  pipeline::Pipeline
//   mappings       checked by pipeline::CheckMappings, swapped whole
//   dead letters   pipeline::SharedDeadLetterFile
//
// What it promises:
// - An event accepted (HTTP 202, an MQTT message handed over, a Kafka offset
//   committed) is written or dead-lettered, also across a crash: the queue
//   and Kafka offsets move on only after the batch's writes and dead letters
//   are durable. Writes are idempotent, so what a crash makes run twice
//   changes nothing.
// - Mappings are swapped only for valid ones (Reload); a connector whose
//   mappings are not valid keeps its events queued and reports a Critical
//   error, while the other connectors go on.
// - Thread-safe: ingestion, status and reload may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/status.h"
#include "ingest/envelope.h"
#include "pipeline/mappings.h"
#include "server/config.h"
#include "server/metrics.h"
#include "store/fhir_client.h"

namespace iomt::pipeline {
class BatchSource;
class EventLog;
class EventLogSource;
class KafkaBatchSource;
class SharedDeadLetterFile;
class Pipeline;
}  // namespace iomt::pipeline
namespace iomt::ingest {
class MqttSource;
}
namespace iomt::store {
class RemoteFhirClient;
}

namespace iomt::server {

struct ConnectorEnv {
  std::string state_dir;        // the connector's queue and dead letters
  store::FhirClient* embedded;  // the service's store, when the config names no FHIR URL
  ConnectorMetrics* metrics;
};

// What an ingestion request gets.
struct IngestOutcome {
  int status = 202;  // 202, 400, 429, 503
  std::int64_t accepted = 0;
  std::string error_code;  // for a JSON error body
  std::string message;
  int retry_after_seconds = 0;
};

class Connector {
 public:
  // Opens the queue and the FHIR destination and loads the mappings. Fails
  // only for what makes the connector unusable (its state directory, a
  // remote FHIR service that cannot be used); invalid mappings leave it
  // paused with a Critical error instead (see Reload).
  static Result<std::unique_ptr<Connector>> Open(ConnectorConfig config, ConnectorEnv env);
  ~Connector();
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Starts the workers and the Kafka and MQTT sources.
  Status Start();

  // HTTP ingestion: `body` is one message, or NDJSON when `ndjson`; each
  // becomes an event with these properties and the receipt time.
  IngestOutcome Ingest(std::string_view body, bool ndjson,
                       const std::vector<std::pair<std::string, std::string>>& properties,
                       const std::string& request_id);
  // Whether `key` may ingest (always, when the connector has no keys).
  [[nodiscard]] bool Authorized(std::string_view key) const;
  [[nodiscard]] bool HasIngestKeys() const;

  // Reads the mapping files again and swaps them in when both are valid
  // (cross-check findings are warnings); else keeps the running mappings,
  // records the problem as a Critical error and returns it.
  Status Reload() IOMT_EXCLUDES(mu_);
  // Swaps in these mappings when both are valid (a provisioning update);
  // else keeps the running ones and returns why (kInvalidArgument, with the
  // error name of the mapping at fault).
  Status ReplaceMappings(std::string device_text, std::string fhir_text) IOMT_EXCLUDES(mu_);

  // The dead letters (docs/formats.md), oldest first: the last `limit`
  // records and how many there are.
  Status DeadLetters(std::size_t limit, std::vector<std::string>* records, std::int64_t* total);
  // Queues every dead-lettered event again (after the mapping was fixed);
  // the ones that fail again are dead-lettered again. Returns how many.
  Result<std::int64_t> ReplayDeadLetters() IOMT_EXCLUDES(replay_mu_);

  // Ready: valid mappings, its sources reachable, its FHIR service usable.
  bool Ready(std::string* why) const IOMT_EXCLUDES(mu_);
  // A source that was asked for and is not there (not a reason to be
  // unready: HTTP ingestion goes on); empty when none.
  [[nodiscard]] const std::string& source_warning() const { return config_.source_warning; }
  // A JSON object: state, sources, queue, counters, recent errors
  // (connector_status.cc).
  std::string StatusJson() const IOMT_EXCLUDES(mu_);
  // The mapping texts in use ({"deviceMapping":..., "fhirMapping":...}).
  std::string MappingsJson() const;
  [[nodiscard]] const std::string& name() const { return config_.name; }
  // What the mapping tools need to look things up as this connector would
  // (reads only; the client is thread-safe and lives as long as the
  // connector).
  [[nodiscard]] store::FhirClient* fhir_client() const { return client_; }
  [[nodiscard]] const std::string& resolution() const { return config_.resolution; }
  [[nodiscard]] const std::string& device_system() const { return config_.device_system; }

  // Stops the sources, then lets the workers write what is queued for up to
  // `drain` (what is left stays queued durably for the next start).
  void Stop(std::chrono::milliseconds drain);

 private:
  Connector(ConnectorConfig config, ConnectorEnv env);
  Status LoadMappings(bool initial) IOMT_EXCLUDES(mu_);
  // Checks the texts and swaps them in, or records why not.
  Status UseMappings(std::optional<std::string> device_text, std::optional<std::string> fhir_text, bool initial)
      IOMT_EXCLUDES(mu_);
  std::shared_ptr<const pipeline::MappingSet> mappings() const IOMT_EXCLUDES(mu_);
  // Records an error of this connector (now); returns its message.
  std::string ReportError(ErrorName name, std::string message) IOMT_EXCLUDES(mu_);
  // Whose error a record is: an event's (its text may quote the message) or
  // the connector's own (its mappings, its FHIR service).
  enum class ErrorOf { kEvent, kConnector };
  void RecordError(const ErrorRecord& record, ErrorOf of) IOMT_EXCLUDES(mu_);
  void LogError(const ErrorRecord& record, ErrorOf of);
  // What a worker needs: the mappings, a pipeline for them, and where its
  // counts and problems go.
  std::unique_ptr<pipeline::Pipeline> MakePipeline(const pipeline::MappingSet& mappings);
  // A worker thread that carries `source`'s batches through pipelines.
  void StartWorker(pipeline::BatchSource* source, std::function<void()> on_turn, std::thread* thread);
  Status AppendBlocking(const std::vector<ingest::ReceivedEvent>& events);
  // The remote FHIR client's retries since the last call, into the metrics.
  void PublishRemoteRetries() IOMT_EXCLUDES(retries_mu_);
  Status ResumeReplay();

  ConnectorConfig config_;
  ConnectorEnv env_;
  std::unique_ptr<store::RemoteFhirClient> remote_;
  store::FhirClient* client_ = nullptr;
  std::unique_ptr<pipeline::EventLog> log_;
  std::unique_ptr<pipeline::EventLogSource> log_source_;
  std::unique_ptr<pipeline::SharedDeadLetterFile> dead_letters_;
  std::unique_ptr<pipeline::KafkaBatchSource> kafka_;
  std::unique_ptr<ingest::MqttSource> mqtt_;

  mutable Mutex mu_;
  std::shared_ptr<const pipeline::MappingSet> mappings_ IOMT_GUARDED_BY(mu_);
  // The Critical error while the mappings are not valid.
  std::string mapping_problem_ IOMT_GUARDED_BY(mu_);
  // What the running mappings' cross-checks found (a type without a FHIR
  // template, a value no template reads): shown in the status.
  std::vector<std::string> mapping_warnings_ IOMT_GUARDED_BY(mu_);
  std::deque<std::string> recent_errors_ IOMT_GUARDED_BY(mu_);  // error records, newest last
  log::RateLimit log_limit_{10, 50};  // the log lines of events' errors: 50 at once, then 10 a second
  // The connector's own problems: a source that cannot be read is reported
  // every second while it lasts; its log says so 10 times, then every 10 s.
  log::RateLimit problem_log_limit_{0.1, 10};
  // The events' failures since start, by error name (each failure once).
  std::map<std::string, std::int64_t> errors_by_name_ IOMT_GUARDED_BY(mu_);
  // Why a worker holds its batch (the FHIR service or the store cannot be
  // used); empty when none does.
  std::string held_problem_ IOMT_GUARDED_BY(mu_);

  Mutex replay_mu_;  // one replay at a time
  Mutex retries_mu_;
  std::vector<std::int64_t> remote_retries_ IOMT_GUARDED_BY(retries_mu_);  // by RetryReason, published
  std::atomic<bool> stopping_{false};
  std::atomic<bool> sources_stopped_{false};
  std::atomic<std::chrono::steady_clock::time_point> drain_deadline_{};
  std::thread queue_worker_;
  std::thread kafka_worker_;
  std::atomic<std::uint64_t> mapping_generation_{0};

  // Counters for the status (the metrics have the same, per label).
  std::atomic<std::int64_t> incoming_{0};
  std::atomic<std::int64_t> events_{0};
  std::atomic<std::int64_t> measurements_{0};
  std::atomic<std::int64_t> created_{0};
  std::atomic<std::int64_t> updated_{0};
  std::atomic<std::int64_t> unchanged_{0};
  std::atomic<std::int64_t> dead_lettered_{0};
  std::atomic<std::int64_t> rejected_{0};
};

}  // namespace iomt::server
