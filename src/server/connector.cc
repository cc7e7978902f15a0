#include "server/connector.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/datetime.h"
#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "fhir/fhir_mapping.h"
#include "fhir/observation_writer.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "ingest/kafka/kafka_source.h"
#include "ingest/mqtt/mqtt_source.h"
#include "normalize/device_mapping.h"
#include "pipeline/normalize_stream.h"
#include "pipeline/queue/event_log.h"
#include "pipeline/run.h"
#include "store/remote/remote_client.h"

namespace iomt::server {

// The mappings a connector runs with; replaced whole by Reload.
struct LoadedMappings {
  normalize::DeviceMapping device;
  fhir::FhirMapping fhir;
  std::string device_text;
  std::string fhir_text;
  std::uint64_t generation = 0;
};

namespace {

constexpr std::size_t kRecentErrors = 20;
constexpr std::size_t kMaxBatchBytes = 64u << 20;

std::int64_t UnixMsToTicks(std::int64_t ms) { return ms * datetime::kTicksPerMillisecond; }

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "<ingestion ticks> <request id>\n<event text>": what a queue record holds.
std::string EncodeRecord(std::int64_t ticks, std::string_view request_id, std::string_view event_text) {
  std::string out = std::to_string(ticks);
  out.push_back(' ');
  out.append(request_id);
  out.push_back('\n');
  out.append(event_text);
  return out;
}

bool DecodeRecord(std::string_view record, std::int64_t* ticks, std::string_view* request_id, std::string_view* text) {
  const std::size_t newline = record.find('\n');
  const std::size_t space = record.find(' ');
  if (newline == std::string_view::npos || space == std::string_view::npos || space > newline) return false;
  std::int64_t value = 0;
  bool negative = false;
  std::size_t i = 0;
  if (i < space && record[i] == '-') {
    negative = true;
    ++i;
  }
  for (; i < space; ++i) {
    if (record[i] < '0' || record[i] > '9') return false;
    value = value * 10 + (record[i] - '0');
  }
  *ticks = negative ? -value : value;
  *request_id = record.substr(space + 1, newline - space - 1);
  *text = record.substr(newline + 1);
  return true;
}

ingest::KafkaOptions KafkaOptionsFor(const ConnectorConfig& config) {
  ingest::KafkaOptions options;
  options.brokers = config.kafka->brokers;
  options.topic = config.kafka->topic;
  options.group = config.kafka->group;
  options.client_id = "iomt-" + config.name;
  options.config = config.kafka->properties;
  return options;
}

std::string MappingErrorsText(const std::vector<MappingError>& errors) {
  std::string out;
  for (const MappingError& e : errors) {
    if (!out.empty()) out.append("; ");
    out.append(e.ToIomtFhirString());
  }
  return out;
}

}  // namespace

// The connector's dead-letter file (formats.md): pipeline::DeadLetterFile,
// shared by its workers, listed by the API and moved away for a replay.
class DeadLetterStore : public pipeline::DeadLetters {
 public:
  explicit DeadLetterStore(std::string path) : file_(std::move(path)) {}

  Status Write(std::string_view record_json) override {
    MutexLock lock(mu_);
    return file_.Write(record_json);
  }

  Status Sync() {
    MutexLock lock(mu_);
    return file_.Sync();
  }

  // Moves the file to `to` (for a replay); new dead letters start a new file.
  Status MoveTo(const std::string& to) {
    MutexLock lock(mu_);
    IOMT_RETURN_IF_ERROR(file_.Close());
    const std::string& path = file_.path();
    if (::access(path.c_str(), F_OK) != 0) return NotFound("no dead letters");
    if (std::rename(path.c_str(), to.c_str()) != 0) return IoError("cannot move " + path + " to " + to);
    return Status::Ok();
  }

  // The last `limit` records, and how many there are.
  Status ReadAll(std::size_t limit, std::vector<std::string>* records, std::int64_t* total) {
    MutexLock lock(mu_);
    IOMT_RETURN_IF_ERROR(file_.Sync());  // what the workers wrote is in the file
    std::ifstream in(file_.path());
    std::deque<std::string> last;
    *total = 0;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      ++*total;
      last.push_back(std::move(line));
      if (last.size() > limit) last.pop_front();
    }
    records->assign(std::make_move_iterator(last.begin()), std::make_move_iterator(last.end()));
    return Status::Ok();
  }

 private:
  Mutex mu_;
  pipeline::DeadLetterFile file_ IOMT_GUARDED_BY(mu_);
};

// One event of a batch, as a worker hands it to the pipeline.
struct BatchEvent {
  std::string_view text;
  InputLocation location;
  std::int64_t ingestion = 0;
};

// A worker's pipeline: normalize, group, resolve, build or merge, write,
// for one generation of the mappings. Rebuilt when they change, or after
// the FHIR service was unreachable (the converter then stops trying).
class Worker {
 public:
  Worker(Connector* connector, std::shared_ptr<const LoadedMappings> mappings)
      : connector_(connector), mappings_(std::move(mappings)) {
    identity::ResolverOptions resolver_options;
    auto mode = identity::ParseMode(connector->config_.resolution);  // checked with the config
    resolver_options.mode = mode.ok() ? *mode : identity::Mode::kCreate;
    resolver_options.device_system = connector->config_.device_system;
    resolver_ = std::make_unique<identity::IdentityResolver>(connector->client_, resolver_options);
    writer_ = std::make_unique<fhir::ObservationWriter>(connector->client_);
    converter_ = std::make_unique<pipeline::GroupConverter>(mappings_->fhir, resolver_.get(), writer_.get());
    options_.envelope = ingest::EnvelopeMode::kAuto;
    options_.batch_events = connector->config_.flush.max_events;
    options_.commit = [this]() -> Status {
      IOMT_RETURN_IF_ERROR(connector_->client_->Flush());
      return connector_->dead_letters_->Sync();
    };
    options_.on_error = [this](const ErrorRecord& record) { connector_->RecordError(record); };
    processor_ = std::make_unique<pipeline::EventProcessor>(mappings_->device, converter_.get(), *resolver_,
                                                            connector->dead_letters_.get(), options_, &summary_);
  }

  [[nodiscard]] std::uint64_t generation() const { return mappings_->generation; }
  [[nodiscard]] bool unavailable() const { return converter_->unavailable(); }

  // Carries a batch through and commits it; then counts it.
  Status Process(const std::vector<BatchEvent>& events) {
    ConnectorMetrics* metrics = connector_->env_.metrics;
    const pipeline::RunSummary before = summary_;
    const pipeline::ConvertStats stats_before = converter_->stats();
    const std::int64_t start_ticks = pipeline::NowTicks();
    for (const BatchEvent& e : events) {
      pipeline::EventInput input;
      input.text = e.text;
      input.location = e.location;
      input.ingestion_ticks = e.ingestion;
      IOMT_RETURN_IF_ERROR(processor_->Accept(input));
      metrics->NormalizeLatency(static_cast<double>(start_ticks - e.ingestion) / datetime::kTicksPerSecond);
    }
    auto write_start = std::chrono::steady_clock::now();
    IOMT_RETURN_IF_ERROR(processor_->Flush());
    metrics->WriteLatency(std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count());
    // Committed: readable through /fhir from now on.
    const std::int64_t done = pipeline::NowTicks();
    for (const BatchEvent& e : events)
      metrics->EndToEndLatency(static_cast<double>(done - e.ingestion) / datetime::kTicksPerSecond);

    const pipeline::ConvertStats& stats = converter_->stats();
    const auto delta = [](std::int64_t now, std::int64_t then) { return static_cast<double>(now - then); };
    metrics->Normalized(delta(summary_.measurements, before.measurements));
    metrics->Grouped(delta(stats.groups, stats_before.groups), delta(stats.measurements, stats_before.measurements));
    metrics->Saved("Observation", "Created", delta(summary_.created, before.created));
    metrics->Saved("Observation", "Updated", delta(summary_.updated, before.updated));
    metrics->Saved("Observation", "NoOperation", delta(summary_.unchanged, before.unchanged));
    metrics->Saved("Patient", "Created", delta(summary_.patients_created, before.patients_created));
    metrics->Saved("Device", "Created", delta(summary_.devices_created, before.devices_created));
    metrics->DeadLettered(delta(summary_.dead_lettered, before.dead_lettered));
    connector_->events_ += summary_.events - before.events;
    connector_->measurements_ += summary_.measurements - before.measurements;
    connector_->created_ += summary_.created - before.created;
    connector_->updated_ += summary_.updated - before.updated;
    connector_->unchanged_ += summary_.unchanged - before.unchanged;
    connector_->dead_lettered_ += summary_.dead_lettered - before.dead_lettered;
    return Status::Ok();
  }

 private:
  Connector* connector_;
  std::shared_ptr<const LoadedMappings> mappings_;
  std::unique_ptr<identity::IdentityResolver> resolver_;
  std::unique_ptr<fhir::ObservationWriter> writer_;
  std::unique_ptr<pipeline::GroupConverter> converter_;
  pipeline::RunOptions options_;
  pipeline::RunSummary summary_;
  std::unique_ptr<pipeline::EventProcessor> processor_;
};

Connector::Connector(ConnectorConfig config, ConnectorEnv env) : config_(std::move(config)), env_(std::move(env)) {}

Connector::~Connector() { Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Connector>> Connector::Open(ConnectorConfig config, ConnectorEnv env) {
  std::unique_ptr<Connector> c(new Connector(std::move(config), std::move(env)));
  ::mkdir(c->env_.state_dir.c_str(), 0755);
  struct stat st {};
  if (::stat(c->env_.state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IoError("cannot create the connector's directory " + c->env_.state_dir);
  }
  queue::EventLogOptions log_options;
  log_options.max_pending_records = c->config_.queue.max_events;
  log_options.max_pending_bytes = c->config_.queue.max_bytes;
  auto log = queue::EventLog::Open(c->env_.state_dir + "/queue", log_options);
  if (!log.ok()) return log.status();
  c->log_ = std::move(*log);
  c->dead_letters_ = std::make_unique<DeadLetterStore>(c->env_.state_dir + "/deadletters.ndjson");

  if (c->config_.fhir.url.empty()) {
    c->client_ = c->env_.embedded;
  } else {
    store::RemoteOptions options;
    options.base_url = c->config_.fhir.url;
    options.bearer_token = c->config_.fhir.token;
    options.oauth.token_url = c->config_.fhir.oauth_token_url;
    options.oauth.client_id = c->config_.fhir.oauth_client_id;
    options.oauth.client_secret = c->config_.fhir.oauth_client_secret;
    options.oauth.scope = c->config_.fhir.oauth_scope;
    auto remote = store::RemoteFhirClient::Connect(options);
    if (!remote.ok()) return remote.status();
    c->remote_ = std::move(*remote);
    c->client_ = c->remote_.get();
  }
  (void)c->LoadMappings(true);
  return c;
}

Status Connector::LoadMappings(bool initial) {
  auto now = pipeline::NowTicks();
  auto critical = [&](ErrorName name, std::string message) {
    ErrorRecord record;
    record.time_ticks = now;
    record.name = name;
    record.message = std::move(message);
    RecordError(record);
    bool healthy = false;
    {
      MutexLock lock(mu_);
      if (initial || !mappings_) mapping_problem_ = record.message;
      healthy = mappings_ != nullptr && kafka_problem_.empty();
    }
    env_.metrics->Healthy(healthy);
    return Status(StatusCode::kInvalidArgument, record.message);
  };
  auto device_text = ReadFile(config_.device_mapping);
  if (!device_text) {
    return critical(ErrorName::kDeviceTemplateNotFound, "The device mapping " + config_.device_mapping +
                                                            " cannot be read: the connector has no device mapping.");
  }
  auto fhir_text = ReadFile(config_.fhir_mapping);
  if (!fhir_text) {
    return critical(ErrorName::kFhirTemplateNotFound,
                    "The FHIR mapping " + config_.fhir_mapping + " cannot be read: the connector has no FHIR mapping.");
  }
  normalize::LoadResult device = normalize::LoadDeviceMapping(*device_text);
  if (!device.ok()) {
    return critical(ErrorName::kInvalidDeviceTemplate,
                    "Invalid deviceMapping mapping. Validation errors: " + MappingErrorsText(device.errors));
  }
  fhir::FhirLoadResult fhir_mapping = fhir::LoadFhirMapping(*fhir_text);
  if (!fhir_mapping.ok()) {
    return critical(ErrorName::kInvalidFhirTemplate,
                    "Invalid fhirMapping mapping. Validation errors: " + MappingErrorsText(fhir_mapping.errors));
  }
  // Every measurement type needs a FHIR template, or none of its groups can
  // be written (TemplateNotFoundException at run time).
  for (const normalize::ContentTemplate& t : device.mapping.templates) {
    if (fhir_mapping.mapping.Find(t.type_name) == nullptr) {
      return critical(ErrorName::kFhirTemplateNotFound, "The FHIR mapping has no template for the measurement type '" +
                                                            t.type_name + "' of the device mapping.");
    }
  }
  auto loaded = std::make_shared<LoadedMappings>();
  loaded->device = std::move(device.mapping);
  loaded->fhir = std::move(fhir_mapping.mapping);
  loaded->device_text = std::move(*device_text);
  loaded->fhir_text = std::move(*fhir_text);
  loaded->generation = ++mapping_generation_;
  bool healthy = false;
  {
    MutexLock lock(mu_);
    mappings_ = std::move(loaded);
    mapping_problem_.clear();
    healthy = kafka_problem_.empty();  // written by the Kafka worker: read under the lock
  }
  env_.metrics->Healthy(healthy);
  return Status::Ok();
}

Status Connector::Reload() { return LoadMappings(false); }

std::shared_ptr<const LoadedMappings> Connector::mappings() const {
  MutexLock lock(mu_);
  return mappings_;
}

std::string Connector::ReportError(ErrorName name, std::string message) {
  ErrorRecord record;
  record.time_ticks = pipeline::NowTicks();
  record.name = name;
  record.message = std::move(message);
  RecordError(record);
  return std::move(record.message);
}

void Connector::RecordError(const ErrorRecord& record) {
  env_.metrics->Error(record);
  std::string json;
  AppendErrorRecordJson(&json, record);
  MutexLock lock(mu_);
  recent_errors_.push_back(std::move(json));
  if (recent_errors_.size() > kRecentErrors) recent_errors_.pop_front();
}

Status Connector::Start() {
  IOMT_RETURN_IF_ERROR(ResumeReplay());
  queue_worker_ = std::thread([this] { RunQueueWorker(); });
  if (config_.kafka) {
    auto source = ingest::KafkaSource::Open(KafkaOptionsFor(config_));
    if (!source.ok()) return source.status();
    kafka_ = std::move(*source);
    kafka_worker_ = std::thread([this] { RunKafkaWorker(); });
  }
  if (config_.mqtt) {
    ingest::MqttOptions options;
    options.url = config_.mqtt->url;
    options.topic = config_.mqtt->topic;
    options.qos = config_.mqtt->qos;
    options.client_id = config_.mqtt->client_id.empty() ? "iomt-" + config_.name : config_.mqtt->client_id;
    options.username = config_.mqtt->username;
    options.password = config_.mqtt->password;
    auto source = ingest::MqttSource::Start(options, [this](ingest::MqttMessage&& m) -> Status {
      ingest::TransportInfo info;
      info.properties = std::move(m.user_properties);
      info.properties.emplace_back("mqtt-topic", m.topic);
      info.enqueued_ticks = UnixMsToTicks(m.receipt_ms);
      thread_local json::Document scratch;
      std::vector<std::string> records{
          EncodeRecord(info.enqueued_ticks, "mqtt:" + m.topic, ingest::BuildEventText(m.payload, info, &scratch))};
      Status st = AppendBlocking(records);
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
Status Connector::AppendBlocking(const std::vector<std::string>& records) {
  std::vector<std::string_view> views(records.begin(), records.end());
  while (true) {
    Status st = log_->Append(views);
    if (st.code() != StatusCode::kOutOfRange || stopping_) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

IngestOutcome Connector::Ingest(std::string_view body, bool ndjson,
                                const std::vector<std::pair<std::string, std::string>>& properties,
                                const std::string& request_id) {
  IngestOutcome out;
  ingest::TransportInfo info;
  info.properties = properties;
  info.enqueued_ticks = pipeline::NowTicks();
  thread_local json::Document scratch;
  std::vector<std::string> records;
  auto add = [&](std::string_view message) {
    if (message.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
    records.push_back(EncodeRecord(info.enqueued_ticks, request_id, ingest::BuildEventText(message, info, &scratch)));
  };
  if (ndjson) {
    std::size_t start = 0;
    while (start < body.size()) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos) end = body.size();
      add(body.substr(start, end - start));
      start = end + 1;
    }
  } else {
    add(body);
  }
  if (records.empty()) {
    out.status = 400;
    out.error_code = "EmptyBody";
    out.message = "The request holds no device message.";
    return out;
  }
  std::vector<std::string_view> views(records.begin(), records.end());
  Status st = log_->Append(views);
  if (st.code() == StatusCode::kOutOfRange) {
    rejected_ += static_cast<std::int64_t>(records.size());
    env_.metrics->Rejected("queue_full", static_cast<double>(records.size()));
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
  out.accepted = static_cast<std::int64_t>(records.size());
  incoming_ += out.accepted;
  env_.metrics->Incoming("http", static_cast<double>(out.accepted));
  return out;
}

bool Connector::Authorized(std::string_view key) const {
  if (config_.ingest_keys.empty()) return true;
  for (const std::string& k : config_.ingest_keys) {
    if (k == key) return true;
  }
  return false;
}

void Connector::RunQueueWorker() {
  std::unique_ptr<Worker> worker;
  const auto window = std::chrono::milliseconds(config_.flush.window_ms);
  const std::size_t max_events = config_.flush.max_events;
  auto backoff = std::chrono::milliseconds(0);
  while (true) {
    if (stopping_ && std::chrono::steady_clock::now() >= drain_deadline_) return;
    std::shared_ptr<const LoadedMappings> current = mappings();
    if (!current) {
      // Paused: the events wait in the queue for valid mappings.
      if (stopping_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (!worker || worker->generation() != current->generation) worker = std::make_unique<Worker>(this, current);
    env_.metrics->QueueDepth(static_cast<double>(log_->pending_records()));

    auto read = log_->Read(max_events, kMaxBatchBytes, std::chrono::milliseconds(100));
    if (!read.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::vector<queue::LogRecord> records = std::move(*read);
    if (records.empty()) {
      if (stopping_) return;  // drained
      continue;
    }
    // Wait up to the window for more, so that more readings share a write.
    const auto until = std::chrono::steady_clock::now() + window;
    while (records.size() < max_events && !stopping_) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      auto more = log_->Read(max_events - records.size(), kMaxBatchBytes,
                             std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
      if (!more.ok() || more->empty()) break;
      for (queue::LogRecord& r : *more)
        records.push_back(std::move(r));
    }

    std::vector<BatchEvent> events;
    events.reserve(records.size());
    for (const queue::LogRecord& r : records) {
      BatchEvent& e = events.emplace_back();
      std::string_view request_id;
      if (!DecodeRecord(r.data, &e.ingestion, &request_id, &e.text)) {
        e.text = r.data;
        e.ingestion = pipeline::NowTicks();
      }
      e.location.request_id = std::string(request_id);
    }
    Status st = worker->Process(events);
    if (!st.ok()) {
      // Not committed: the batch is read again (its writes are idempotent).
      ReportError(ErrorName::kFhirService, "The batch could not be committed and will be retried: " + st.message());
      log_->Rewind();
      worker.reset();
      backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(200)), std::chrono::milliseconds(10'000));
      std::this_thread::sleep_for(backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    if (Status committed = log_->Commit(records.back().seq); !committed.ok()) {
      ReportError(ErrorName::kEventSource, "The queue's checkpoint could not be written: " + committed.message());
    }
    {
      MutexLock lock(mu_);
      fhir_problem_ = worker->unavailable() ? "the FHIR service could not be reached" : "";
    }
    if (worker->unavailable()) worker.reset();  // a fresh converter tries again
    env_.metrics->QueueDepth(static_cast<double>(log_->pending_records()));
  }
}

void Connector::RunKafkaWorker() {
  std::unique_ptr<Worker> worker;
  auto last_check = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!stopping_) {
    if (std::chrono::steady_clock::now() - last_check > std::chrono::seconds(5)) {
      last_check = std::chrono::steady_clock::now();
      Status reachable = kafka_->CheckReachable(std::chrono::milliseconds(2000));
      MutexLock lock(mu_);
      kafka_problem_ = reachable.ok() ? "" : reachable.message();
    }
    std::shared_ptr<const LoadedMappings> current = mappings();
    if (!current) {
      // Paused: the events stay in Kafka until the mappings are valid.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (!worker || worker->generation() != current->generation) worker = std::make_unique<Worker>(this, current);
    auto polled = kafka_->Poll(config_.flush.max_events, std::chrono::milliseconds(100));
    if (!polled.ok()) {
      std::string problem = ReportError(ErrorName::kEventSource, "Kafka: " + polled.status().message());
      {
        MutexLock lock(mu_);
        kafka_problem_ = std::move(problem);
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (polled->empty()) continue;
    // As the queue worker does: wait up to the window for more, so that a
    // batch is not a handful of messages (each batch is one commit).
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.flush.window_ms);
    while (polled->size() < config_.flush.max_events && !stopping_) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      auto more = kafka_->Poll(config_.flush.max_events - polled->size(),
                               std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
      if (!more.ok() || more->empty()) break;
      for (ingest::KafkaMessage& m : *more)
        polled->push_back(std::move(m));
    }
    thread_local json::Document scratch;
    std::vector<std::string> texts;
    texts.reserve(polled->size());
    std::vector<BatchEvent> events;
    events.reserve(polled->size());
    const std::int64_t now = pipeline::NowTicks();
    for (const ingest::KafkaMessage& m : *polled) {
      ingest::TransportInfo info;
      info.properties = m.headers;
      info.enqueued_ticks = m.timestamp_ms >= 0 ? UnixMsToTicks(m.timestamp_ms) : now;
      info.system_properties = {{"x-opt-offset", std::to_string(m.offset)},
                                {"x-opt-sequence-number", std::to_string(m.offset)},
                                {"x-opt-partition-id", std::to_string(m.partition)}};
      if (!m.key.empty()) info.system_properties.emplace_back("x-opt-partition-key", m.key);
      texts.push_back(ingest::BuildEventText(m.payload, info, &scratch));
    }
    for (std::size_t i = 0; i < polled->size(); ++i) {
      const ingest::KafkaMessage& m = (*polled)[i];
      BatchEvent& e = events.emplace_back();
      e.text = texts[i];
      e.location.partition = std::to_string(m.partition);
      e.location.offset = m.offset;
      // Latency is counted from when the broker had it.
      e.ingestion = m.timestamp_ms >= 0 ? UnixMsToTicks(m.timestamp_ms) : now;
    }
    incoming_ += static_cast<std::int64_t>(events.size());
    env_.metrics->Incoming("kafka", static_cast<double>(events.size()));
    Status st = worker->Process(events);
    if (!st.ok()) {
      // Not committed. Reopening the consumer makes the group hand the
      // partitions out again from the last committed offsets.
      ReportError(ErrorName::kFhirService, "The batch could not be committed and will be read again: " + st.message());
      worker.reset();
      kafka_->Close();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto reopened = ingest::KafkaSource::Open(KafkaOptionsFor(config_));
      if (reopened.ok()) kafka_ = std::move(*reopened);
      continue;
    }
    if (Status committed = kafka_->Commit(); !committed.ok()) {
      // A rebalance took partitions away: their new owner reads from the
      // last commit again (idempotent writes).
      ReportError(ErrorName::kEventSource, "Kafka offsets not committed: " + committed.message());
    }
    if (worker->unavailable()) worker.reset();
  }
}

Status Connector::ResumeReplay() {
  const std::string replaying = env_.state_dir + "/deadletters.replaying.ndjson";
  if (::access(replaying.c_str(), F_OK) != 0) return Status::Ok();
  std::ifstream in(replaying);
  std::vector<std::string> records;
  std::string line;
  const std::int64_t now = pipeline::NowTicks();
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    records.push_back(EncodeRecord(now, "replay", line));
    if (records.size() >= 1000) {
      IOMT_RETURN_IF_ERROR(AppendBlocking(records));
      records.clear();
    }
  }
  if (!records.empty()) IOMT_RETURN_IF_ERROR(AppendBlocking(records));
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
  return dead_letters_->ReadAll(limit, records, total);
}

bool Connector::Ready(std::string* why) const {
  MutexLock lock(mu_);
  if (!mappings_) {
    *why = mapping_problem_;
    return false;
  }
  if (!kafka_problem_.empty()) {
    *why = "Kafka: " + kafka_problem_;
    return false;
  }
  if (mqtt_ && !mqtt_->connected()) {
    *why =
        "MQTT: not connected to " + config_.mqtt->url + (mqtt_->last_error().empty() ? "" : ": ") + mqtt_->last_error();
    return false;
  }
  if (!fhir_problem_.empty()) {
    *why = fhir_problem_;
    return false;
  }
  return true;
}

std::string Connector::StatusJson() const {
  std::string why;
  const bool ready = Ready(&why);
  std::string out = "{\"name\":";
  json::AppendQuoted(&out, config_.name);
  out.append(",\"state\":\"").append(stopping_ ? "Stopping" : (mappings() ? "Running" : "Paused")).append("\"");
  out.append(",\"ready\":").append(ready ? "true" : "false");
  if (!ready) {
    out.append(",\"problem\":");
    json::AppendQuoted(&out, why);
  }
  out.append(",\"sources\":{\"http\":true");
  if (config_.kafka) {
    out.append(",\"kafka\":{\"topic\":");
    json::AppendQuoted(&out, config_.kafka->topic);
    out.append(",\"group\":");
    json::AppendQuoted(&out, config_.kafka->group);
    out.append("}");
  }
  if (config_.mqtt) {
    out.append(",\"mqtt\":{\"topic\":");
    json::AppendQuoted(&out, config_.mqtt->topic);
    out.append(",\"connected\":").append(mqtt_ && mqtt_->connected() ? "true" : "false").append("}");
  }
  out.append("},\"fhir\":");
  json::AppendQuoted(&out, config_.fhir.url.empty() ? std::string("embedded") : config_.fhir.url);
  out.append(",\"queue\":{\"events\":").append(std::to_string(log_ ? log_->pending_records() : 0)).append("}");
  out.append(",\"counters\":{\"incoming\":").append(std::to_string(incoming_.load()));
  out.append(",\"events\":").append(std::to_string(events_.load()));
  out.append(",\"measurements\":").append(std::to_string(measurements_.load()));
  out.append(",\"observations\":{\"created\":").append(std::to_string(created_.load()));
  out.append(",\"updated\":").append(std::to_string(updated_.load()));
  out.append(",\"unchanged\":").append(std::to_string(unchanged_.load())).append("}");
  out.append(",\"deadLettered\":").append(std::to_string(dead_lettered_.load()));
  out.append(",\"rejected\":").append(std::to_string(rejected_.load())).append("}");
  out.append(",\"recentErrors\":[");
  {
    MutexLock lock(mu_);
    for (std::size_t i = 0; i < recent_errors_.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(recent_errors_[i]);
    }
  }
  out.append("]}");
  return out;
}

std::string Connector::MappingsJson() const {
  std::shared_ptr<const LoadedMappings> m = mappings();
  if (!m) return "{\"deviceMapping\":null,\"fhirMapping\":null}";
  // The texts are valid JSON (they loaded): embedded as they are.
  std::string out = "{\"deviceMapping\":";
  out.append(m->device_text).append(",\"fhirMapping\":").append(m->fhir_text).append("}");
  return out;
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
  (void)dead_letters_->Sync();
  if (client_ != nullptr) (void)client_->Flush();
}

}  // namespace iomt::server
