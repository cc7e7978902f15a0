// A connector's worker: takes batches from a BatchSource (the event log, or
// Kafka), carries each through a Pipeline, commits it, and only then moves
// the source past it. A crash in between hands the batch out again, and
// writes are idempotent, so nothing is lost and nothing doubles.
//
//   source.Read -> Pipeline.Accept each event, Seal      (the worker's thread)
//               -> Pipeline.Write (write, commit the store and the dead
//                  letters)                              (a writing thread)
//               -> source.Commit up to the batch's end   (the worker's thread)
//
// The two halves overlap, as `iomt run` does: while batch N is written, the
// worker reads and takes in batch N+1 (all that arrives until N is written,
// up to the batch size), so both cores work; N+1 is written after N, and the
// source is committed only up to the end of N (its ReadPosition) until N+1
// is written too.
//
// The pipeline is rebuilt when the mappings change (after the batch in
// flight is written). While the FHIR service (or the store) cannot be
// reached, the batch is held: tried again with a fresh pipeline after a
// pause that grows (capped, with jitter), never dead-lettered for it, and
// the source is not read further — a local queue fills and pushes back on
// its senders, Kafka keeps the messages. The batch taken in behind it is
// taken in again afresh once it is written. What the worker counts and
// meets goes to the hooks (the connector's metrics, counters and readiness),
// always from the worker's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
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
  // A batch being written on the writing thread.
  struct InFlight {
    std::vector<ingest::ReceivedEvent> events;  // kept to be taken in again if the write fails
    ReadPosition end;                           // the source's position after its last event
    std::future<Status> written;
    BatchReport report;  // filled by the writing thread before `written` is ready
  };
  enum class Landed {
    kWritten,    // written as it was; the pipeline goes on
    kRewritten,  // the write failed and the batch was written again with a fresh
                 // pipeline: what the old one had taken in is void
    kStopped,    // stopping while the batch was held: the source is rewound
  };

  // Waits for the batch in flight (if any), holds it through a failure,
  // reports it and commits the source up to its end.
  Landed Land(std::optional<InFlight>* flight, std::unique_ptr<Pipeline>* pipeline, std::uint64_t* generation,
              const std::atomic<bool>& stopping);
  // Takes events[from...] in (more of the same batch when `from` > 0); on
  // the writing thread, WriteTaken writes the batch.
  Status TakeIn(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events, std::size_t from,
                BatchReport* report);
  static Status WriteTaken(Pipeline* pipeline, SealedBatch batch, BatchReport* report);
  // Carries a batch through the pipeline and commits the writes, on this
  // thread.
  Status Process(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events);
  // Process, holding the batch until it is written or the worker stops
  // (then false: the batch stays in the source). `failed`: the first try
  // was made already and failed so.
  bool ProcessHolding(const std::vector<ingest::ReceivedEvent>& events, std::unique_ptr<Pipeline>* pipeline,
                      std::uint64_t* generation, const std::atomic<bool>& stopping, Status failed = Status::Ok());
  void CommitSource(const ReadPosition& upto);

  BatchSource* source_;
  WorkerOptions options_;
  WorkerHooks hooks_;
};

}  // namespace iomt::pipeline
