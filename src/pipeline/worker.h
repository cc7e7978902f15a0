// A connector's worker: one thread that takes batches from a BatchSource
// (the event log, or Kafka), carries each through a Pipeline, commits it,
// and only then moves the source on. A crash in between hands the batch out
// again, and writes are idempotent, so nothing is lost and nothing doubles.
//
//   source.Read -> Pipeline.Accept each event -> Pipeline.Flush (write,
//   commit the store and the dead letters) -> source.Commit
//
// The pipeline is rebuilt when the mappings change. While the FHIR service
// (or the store) cannot be reached, the batch is held: tried again with a
// fresh pipeline after a pause that grows (capped, with jitter), never
// dead-lettered for it, and the source is not read further — a local queue
// fills and pushes back on its senders, Kafka keeps the messages. What the
// worker counts and meets goes to the hooks (the connector's metrics,
// counters and readiness).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/errors.h"
#include "pipeline/batch_source.h"
#include "pipeline/mappings.h"
#include "pipeline/options.h"
#include "pipeline/pipeline.h"

namespace iomt::pipeline {

// One committed batch, for metrics.
struct BatchReport {
  PipelineStats counted;                      // what this batch added
  std::vector<std::int64_t> ingestion_ticks;  // of each event
  std::int64_t start_ticks = 0;               // when processing began
  double write_seconds = 0;                   // the batch's write and commit
  std::int64_t done_ticks = 0;                // committed: readable from now on
};

struct WorkerHooks {
  // The mappings to run with; null while there are none valid (the events
  // then stay in the source).
  std::function<std::shared_ptr<const MappingSet>()> mappings;
  // A pipeline for these mappings (the connector's FHIR client, dead
  // letters and options).
  std::function<std::unique_ptr<Pipeline>(const MappingSet&)> make_pipeline;
  // After each committed batch.
  std::function<void(const BatchReport&)> on_batch;
  // A problem of the connector as a whole (not of one event): recorded as an
  // error of that name.
  std::function<void(ErrorName, const std::string&)> on_problem;
  // A batch could not be written and is held (once per outage, not per
  // try), and when one is written again after that.
  std::function<void(const Status& why)> on_held;
  std::function<void()> on_resumed;
  // Each time a held batch is tried again.
  std::function<void()> on_retry;
  // Each turn of the loop (at least every 100 ms): e.g. the queue depth.
  std::function<void()> on_turn;
};

struct WorkerOptions {
  std::size_t max_events = 10'000;
  std::chrono::milliseconds window{0};
};

class BatchWorker {
 public:
  BatchWorker(BatchSource* source, WorkerOptions options, WorkerHooks hooks)
      : source_(source), options_(options), hooks_(std::move(hooks)) {}

  // Runs until `stopping` is set and then, for a source that drains on stop,
  // until it is empty or `drain_deadline` has passed.
  void Run(const std::atomic<bool>& stopping, const std::atomic<std::chrono::steady_clock::time_point>& drain_deadline);

 private:
  // Carries a batch through the pipeline and commits the writes.
  Status Process(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events);
  // Process, holding the batch until it is written or the worker stops
  // (then false: the batch stays in the source).
  bool ProcessHolding(const std::vector<ingest::ReceivedEvent>& events, std::unique_ptr<Pipeline>* pipeline,
                      std::uint64_t* generation, const std::atomic<bool>& stopping);

  BatchSource* source_;
  WorkerOptions options_;
  WorkerHooks hooks_;
};

}  // namespace iomt::pipeline
