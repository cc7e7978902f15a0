#include "server/connector.h"

#include <openssl/crypto.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/json/document.h"
#include "common/log.h"
#include "ingest/http/http_ingest.h"
#include "ingest/mqtt/mqtt_envelope.h"
#include "ingest/mqtt/mqtt_source.h"
#include "pipeline/dead_letters.h"
#include "pipeline/event_log/event_log.h"
#include "pipeline/event_log/event_log_source.h"
#include "pipeline/kafka_batch_source.h"
#include "pipeline/pipeline.h"
#include "pipeline/worker.h"
#include "store/remote/remote_client.h"

namespace iomt::server {
namespace {

constexpr std::size_t kRecentErrors = 20;

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ingest::KafkaOptions KafkaOptionsFor(const ConnectorConfig& config) {
  ingest::KafkaOptions options;
  options.brokers = config.kafka->brokers;
  options.topic = config.kafka->topic;
  options.group = config.kafka->group;
  options.client_id = "iomt-" + config.name;
  options.config = config.kafka->properties;
  // librdkafka's own lines (syslog levels): its errors and warnings at the
  // service's, the rest at debug. They name brokers and topics, never
  // message contents.
  options.log = [name = config.name](int level, std::string_view facility, std::string_view message) {
    const log::Level at = level <= 3 ? log::Level::kError : level == 4 ? log::Level::kWarn : log::Level::kDebug;
    if (log::Enabled(at)) {
      log::Write(at, message, {{log::kConnector, name}, {log::kStage, "ingest"}, {"kafka", facility}});
    }
  };
  return options;
}

}  // namespace

Connector::Connector(ConnectorConfig config, ConnectorEnv env) : config_(std::move(config)), env_(std::move(env)) {}

Connector::~Connector() { Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Connector>> Connector::Open(ConnectorConfig config, ConnectorEnv env) {
  std::unique_ptr<Connector> c(new Connector(std::move(config), std::move(env)));
  ::mkdir(c->env_.state_dir.c_str(), 0700);
  struct stat st {};
  if (::stat(c->env_.state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IoError("cannot create the connector's directory " + c->env_.state_dir);
  }
  pipeline::EventLogOptions log_options;
  log_options.max_pending_records = c->config_.queue.max_events;
  log_options.max_pending_bytes = c->config_.queue.max_bytes;
  IOMT_ASSIGN_OR_RETURN(c->log_, pipeline::EventLog::Open(c->env_.state_dir + "/queue", log_options));
  c->log_source_ = std::make_unique<pipeline::EventLogSource>(c->log_.get());
  c->dead_letters_ = std::make_unique<pipeline::SharedDeadLetterFile>(c->env_.state_dir + "/deadletters.ndjson");

  if (c->config_.fhir.url.empty()) {
    c->client_ = c->env_.embedded;
  } else {
    IOMT_ASSIGN_OR_RETURN(c->remote_, store::RemoteFhirClient::Connect(RemoteOptionsFor(c->config_.fhir)));
    c->client_ = c->remote_.get();
  }
  (void)c->LoadMappings(true);
  return c;
}

Status Connector::LoadMappings(bool initial) {
  if (config_.device_mapping_text || config_.fhir_mapping_text) {
    // Mappings that came with the connector (the provisioning API): nothing
    // to read again; updates come through ReplaceMappings.
    if (!initial) return Status::Ok();
    return UseMappings(config_.device_mapping_text, config_.fhir_mapping_text, initial);
  }
  return UseMappings(ReadFile(config_.device_mapping), ReadFile(config_.fhir_mapping), initial);
}

Status Connector::UseMappings(std::optional<std::string> device_text, std::optional<std::string> fhir_text,
                              bool initial) {
  const std::int64_t now = NowTicks();
  auto critical = [&](ErrorName name, std::string message) {
    ErrorRecord record;
    record.time_ticks = now;
    record.name = name;
    record.message = std::move(message);
    RecordError(record, ErrorOf::kConnector);
    bool healthy = false;
    {
      MutexLock lock(mu_);
      if (initial || !mappings_) mapping_problem_ = record.message;
      healthy = mappings_ != nullptr;
    }
    env_.metrics->Healthy(healthy && (!kafka_ || kafka_->Problem().empty()));
    return Status(StatusCode::kInvalidArgument, record.message).WithError(name);
  };
  if (!device_text) {
    return critical(ErrorName::kDeviceTemplateNotFound, "The device mapping " + config_.device_mapping +
                                                            " cannot be read: the connector has no device mapping.");
  }
  if (!fhir_text) {
    return critical(ErrorName::kFhirTemplateNotFound,
                    "The FHIR mapping " + config_.fhir_mapping + " cannot be read: the connector has no FHIR mapping.");
  }
  pipeline::MappingCheck check = pipeline::CheckMappings(device_text, fhir_text);
  if (std::string invalid = check.InvalidMessage(pipeline::MappingFile::kDevice); !invalid.empty()) {
    return critical(ErrorName::kInvalidDeviceTemplate, std::move(invalid));
  }
  if (std::string invalid = check.InvalidMessage(pipeline::MappingFile::kFhir); !invalid.empty()) {
    return critical(ErrorName::kInvalidFhirTemplate, std::move(invalid));
  }
  // A device type without a FHIR template, or a value no FHIR template
  // reads, is a warning, as in Azure's service and `iomt validate`: the
  // connector runs, and only that type's messages fail (each with
  // TemplateNotFoundException, dead-lettered for a replay once the mapping
  // has the template).
  std::vector<std::string> warnings;
  for (const pipeline::Finding& w : check.warnings)
    warnings.push_back(w.message);
  auto loaded =
      pipeline::MakeMappingSet(std::move(check), std::move(*device_text), std::move(*fhir_text), ++mapping_generation_);
  {
    MutexLock lock(mu_);
    mappings_ = std::move(loaded);
    mapping_problem_.clear();
    mapping_warnings_ = std::move(warnings);
  }
  env_.metrics->Healthy(!kafka_ || kafka_->Problem().empty());
  return Status::Ok();
}

Status Connector::Reload() { return LoadMappings(false); }

Status Connector::ReplaceMappings(std::string device_text, std::string fhir_text) {
  // Checked first: an invalid update is refused without a Critical error,
  // since the running mappings stay (the caller reports the refusal).
  pipeline::MappingCheck check = pipeline::CheckMappings(device_text, fhir_text);
  if (std::string invalid = check.InvalidMessage(pipeline::MappingFile::kDevice); !invalid.empty()) {
    return InvalidArgument(std::move(invalid)).WithError(ErrorName::kInvalidDeviceTemplate);
  }
  if (std::string invalid = check.InvalidMessage(pipeline::MappingFile::kFhir); !invalid.empty()) {
    return InvalidArgument(std::move(invalid)).WithError(ErrorName::kInvalidFhirTemplate);
  }
  return UseMappings(std::move(device_text), std::move(fhir_text), false);
}

std::shared_ptr<const pipeline::MappingSet> Connector::mappings() const {
  MutexLock lock(mu_);
  return mappings_;
}

std::string Connector::ReportError(ErrorName name, std::string message) {
  ErrorRecord record;
  record.time_ticks = NowTicks();
  record.name = name;
  record.message = std::move(message);
  RecordError(record, ErrorOf::kConnector);
  return std::move(record.message);
}

void Connector::RecordError(const ErrorRecord& record, ErrorOf of) {
  env_.metrics->Error(record);
  LogError(record, of);
  std::string json;
  AppendErrorRecordJson(&json, record);
  MutexLock lock(mu_);
  recent_errors_.push_back(std::move(json));
  if (recent_errors_.size() > kRecentErrors) recent_errors_.pop_front();
}

void Connector::LogError(const ErrorRecord& record, ErrorOf of) {
  const ErrorStage stage = StageOf(record);
  // An event's error (the mappings could not carry it) can repeat for every
  // message of a flood: rate limited, and its text, which may quote the
  // message, only at debug. The connector's own problems (its mappings, the
  // FHIR service) say why at every level.
  const bool per_event = of == ErrorOf::kEvent;
  const log::Level level = per_event ? log::Level::kWarn : log::Level::kError;
  if (!log::Enabled(level)) return;
  std::int64_t suppressed = 0;
  if (!(per_event ? log_limit_ : problem_log_limit_).Allow(&suppressed)) return;
  const bool reason = !per_event || log::Enabled(log::Level::kDebug);
  const InputLocation& in = record.input;
  std::string offset;
  std::string held_back;
  std::vector<log::Field> fields = {
      {log::kConnector, config_.name}, {log::kStage, ToString(stage)}, {log::kError, Describe(record.name).name}};
  if (!in.request_id.empty()) fields.push_back({log::kRequestId, in.request_id});
  if (!in.partition.empty()) fields.push_back({"partition", in.partition});
  if (in.offset >= 0) fields.push_back(log::Number("offset", in.offset, &offset));
  if (record.template_name) fields.push_back({"template", *record.template_name});
  if (suppressed > 0) fields.push_back(log::Number("suppressed", suppressed, &held_back));
  // The connector's problems can quote a request that named a patient
  // (a FHIR search): their URLs' queries are left out.
  std::string text;
  if (reason) {
    text = per_event ? record.message : log::WithoutQueries(record.message);
    fields.push_back({"reason", text});
  }
  log::Write(level, per_event ? "event not carried through" : "connector problem", fields);
}

std::unique_ptr<pipeline::Pipeline> Connector::MakePipeline(const pipeline::MappingSet& mappings) {
  pipeline::PipelineOptions options;
  auto mode = identity::ParseMode(config_.resolution);  // checked with the config
  options.resolver.mode = mode.ok() ? *mode : identity::Mode::kCreate;
  options.resolver.device_system = config_.device_system;
  options.batch_events = config_.flush.max_events;
  options.commit = [this]() -> Status {
    IOMT_RETURN_IF_ERROR(client_->Flush());
    return dead_letters_->Sync();
  };
  options.on_error = [this](const ErrorRecord& record) { RecordError(record, ErrorOf::kEvent); };
  return std::make_unique<pipeline::Pipeline>(&mappings.device, mappings.fhir, client_, dead_letters_.get(),
                                              std::move(options));
}

void Connector::StartWorker(pipeline::BatchSource* source, std::function<void()> on_turn, std::thread* thread) {
  pipeline::WorkerHooks hooks;
  hooks.mappings = [this] { return mappings(); };
  hooks.make_pipeline = [this](const pipeline::MappingSet& m) { return MakePipeline(m); };
  hooks.on_batch = [this](const pipeline::BatchReport& r) {
    env_.metrics->Batch(r);
    PublishRemoteRetries();
    events_ += r.counted.events;
    measurements_ += r.counted.measurements;
    created_ += r.counted.created;
    updated_ += r.counted.updated;
    unchanged_ += r.counted.unchanged;
    dead_lettered_ += r.counted.dead_lettered;
    if (!r.counted.errors.empty()) {
      MutexLock lock(mu_);
      for (const auto& [name, count] : r.counted.errors)
        errors_by_name_[name] += count;
    }
  };
  hooks.on_problem = [this](ErrorName name, const std::string& message) { ReportError(name, message); };
  hooks.on_held = [this](const Status& why) {
    // Once per outage, for the connector (not per event), at Setup: the
    // batch stays queued and nothing is dead-lettered for it.
    std::string problem = "The FHIR service or the store cannot be used (" + why.message() +
                          "): the connector holds its queue and tries again.";
    ErrorRecord record;
    record.time_ticks = NowTicks();
    record.name = why.error().value_or(ErrorName::kFhirService);
    record.stage = ErrorStage::kSetup;
    record.message = problem;
    RecordError(record, ErrorOf::kConnector);
    {
      MutexLock lock(mu_);
      held_problem_ = std::move(problem);
    }
    env_.metrics->Healthy(false);
  };
  hooks.on_retry = [this] {
    env_.metrics->Retried(kRetryBatch, 1);
    PublishRemoteRetries();
  };
  hooks.on_resumed = [this] {
    {
      MutexLock lock(mu_);
      held_problem_.clear();
    }
    env_.metrics->Healthy(true);
    log::Info("connector resumed: the FHIR service or the store can be used again", {{log::kConnector, config_.name}});
  };
  hooks.on_turn = std::move(on_turn);
  pipeline::WorkerOptions options{config_.flush.max_events, std::chrono::milliseconds(config_.flush.window_ms)};
  *thread = std::thread([this, source, options, hooks = std::move(hooks)]() mutable {
    pipeline::BatchWorker(source, options, std::move(hooks)).Run(stopping_, drain_deadline_);
  });
}

void Connector::PublishRemoteRetries() {
  if (!remote_) return;
  const store::RemoteStats now = remote_->stats();
  MutexLock lock(retries_mu_);
  remote_retries_.resize(store::kRetryReasons.size(), 0);
  for (store::RetryReason reason : store::kRetryReasons) {
    const auto i = static_cast<std::size_t>(reason);
    env_.metrics->Retried(store::ToString(reason), static_cast<double>(now.retried_for(reason) - remote_retries_[i]));
    remote_retries_[i] = now.retried_for(reason);
  }
}

Status Connector::Start() {
  IOMT_RETURN_IF_ERROR(ResumeReplay());
  StartWorker(
      log_source_.get(), [this] { env_.metrics->QueueDepth(static_cast<double>(log_->pending_records())); },
      &queue_worker_);
  if (config_.kafka) {
    IOMT_ASSIGN_OR_RETURN(kafka_, pipeline::KafkaBatchSource::Open(KafkaOptionsFor(config_), [this](std::size_t n) {
                            incoming_ += static_cast<std::int64_t>(n);
                            env_.metrics->Incoming("kafka", static_cast<double>(n));
                          }));
    StartWorker(kafka_.get(), nullptr, &kafka_worker_);
  }
  if (config_.mqtt) {
    ingest::MqttOptions options;
    options.url = config_.mqtt->url;
    options.topic = config_.mqtt->topic;
    options.qos = config_.mqtt->qos;
    options.client_id = config_.mqtt->client_id.empty() ? "iomt-" + config_.name : config_.mqtt->client_id;
    options.username = config_.mqtt->username;
    options.password = config_.mqtt->password;
    options.ca_file = config_.mqtt->ca_file;
    options.client_cert_file = config_.mqtt->client_cert_file;
    options.client_key_file = config_.mqtt->client_key_file;
    auto source = ingest::MqttSource::Start(options, [this](ingest::MqttMessage&& m) -> Status {
      thread_local json::Document scratch;
      Status st = AppendBlocking({ingest::MqttEvent(std::move(m), &scratch)});
      if (st.ok()) {
        ++incoming_;
        env_.metrics->Incoming("mqtt", 1);
      }
      return st;
    });
    if (!source.ok()) return source.status();
    mqtt_ = std::move(*source);
  }
  return Status::Ok();
}

// Appends, waiting while the queue is full (MQTT and replays have nobody to
// answer 429 to: waiting is their backpressure). Fails when stopping.
Status Connector::AppendBlocking(const std::vector<ingest::ReceivedEvent>& events) {
  while (true) {
    Status st = pipeline::AppendEvents(log_.get(), events);
    if (st.code() != StatusCode::kOutOfRange || stopping_) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

IngestOutcome Connector::Ingest(std::string_view body, bool ndjson,
                                const std::vector<std::pair<std::string, std::string>>& properties,
                                const std::string& request_id) {
  IngestOutcome out;
  ingest::HttpMessageBody request{body, ndjson, properties, request_id, NowTicks()};
  auto events = ingest::HttpEvents(request);
  if (!events.ok()) {
    out.status = 400;
    out.error_code = events.status().detail();
    out.message = events.status().message();
    return out;
  }
  Status st = pipeline::AppendEvents(log_.get(), *events);
  if (st.code() == StatusCode::kOutOfRange) {
    rejected_ += static_cast<std::int64_t>(events->size());
    env_.metrics->Rejected("queue_full", static_cast<double>(events->size()));
    out.status = 429;
    out.error_code = "QueueFull";
    out.message = "The connector's queue is full; send again after Retry-After seconds.";
    out.retry_after_seconds = 1;
    return out;
  }
  if (!st.ok()) {
    out.status = 503;
    out.error_code = stopping_ ? "Stopping" : "QueueUnavailable";
    out.message = stopping_ ? "The service is stopping." : st.message();
    out.retry_after_seconds = 1;
    return out;
  }
  out.accepted = static_cast<std::int64_t>(events->size());
  incoming_ += out.accepted;
  env_.metrics->Incoming("http", static_cast<double>(out.accepted));
  return out;
}

bool Connector::Authorized(std::string_view key) const {
  if (config_.ingest_keys.empty()) return true;
  // Every key is compared, each in constant time: how long the answer takes
  // says nothing about which key, or how much of one, was right.
  bool found = false;
  for (const std::string& k : config_.ingest_keys) {
    found = (k.size() == key.size() && CRYPTO_memcmp(k.data(), key.data(), k.size()) == 0) || found;
  }
  return found;
}

bool Connector::HasIngestKeys() const { return !config_.ingest_keys.empty(); }

Status Connector::ResumeReplay() {
  const std::string replaying = env_.state_dir + "/deadletters.replaying.ndjson";
  if (::access(replaying.c_str(), F_OK) != 0) return Status::Ok();
  std::ifstream in(replaying);
  std::vector<ingest::ReceivedEvent> events;
  std::string line;
  const std::int64_t now = NowTicks();
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ingest::ReceivedEvent& e = events.emplace_back();
    e.text = std::move(line);
    e.location.request_id = "replay";
    e.ingestion_ticks = now;
    if (events.size() >= 1000) {
      IOMT_RETURN_IF_ERROR(AppendBlocking(events));
      events.clear();
    }
  }
  if (!events.empty()) IOMT_RETURN_IF_ERROR(AppendBlocking(events));
  // Everything is queued durably: the file is done with.
  std::remove(replaying.c_str());
  return Status::Ok();
}

Result<std::int64_t> Connector::ReplayDeadLetters() {
  MutexLock lock(replay_mu_);
  const std::string replaying = env_.state_dir + "/deadletters.replaying.ndjson";
  std::int64_t count = 0;
  if (::access(replaying.c_str(), F_OK) != 0) {
    Status moved = dead_letters_->MoveTo(replaying);
    if (moved.code() == StatusCode::kNotFound) return std::int64_t{0};
    IOMT_RETURN_IF_ERROR(moved);
  }
  {
    std::ifstream in(replaying);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) ++count;
    }
  }
  IOMT_RETURN_IF_ERROR(ResumeReplay());
  return count;
}

Status Connector::DeadLetters(std::size_t limit, std::vector<std::string>* records, std::int64_t* total) {
  return dead_letters_->ReadLast(limit, records, total);
}

void Connector::Stop(std::chrono::milliseconds drain) {
  if (sources_stopped_.exchange(true)) {
    if (queue_worker_.joinable()) queue_worker_.join();
    if (kafka_worker_.joinable()) kafka_worker_.join();
    return;
  }
  drain_deadline_ = std::chrono::steady_clock::now() + drain;
  stopping_ = true;  // first: an MQTT handler waiting for queue space gives up
  if (mqtt_) mqtt_->Stop();
  // No more appends; the queue worker writes what is left until the deadline.
  if (log_) log_->Close();
  if (kafka_worker_.joinable()) kafka_worker_.join();
  if (kafka_) kafka_->Close();
  if (queue_worker_.joinable()) queue_worker_.join();
  // (Open may have failed half way: only what was made is there.)
  if (dead_letters_) (void)dead_letters_->Sync();
  if (client_ != nullptr) (void)client_->Flush();
}

}  // namespace iomt::server
