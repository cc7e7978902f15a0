#include "pipeline/worker.h"

#include <algorithm>
#include <thread>

#include "common/clock.h"
#include "pipeline/backoff.h"

namespace iomt::pipeline {

void BatchWorker::Run(const std::atomic<bool>& stopping,
                      const std::atomic<std::chrono::steady_clock::time_point>& drain_deadline) {
  std::unique_ptr<Pipeline> pipeline;
  std::uint64_t generation = 0;
  auto stop_now = [&] {
    return stopping && (!source_->drains_on_stop() || std::chrono::steady_clock::now() >= drain_deadline.load());
  };
  while (!stop_now()) {
    if (hooks_.on_turn) hooks_.on_turn();
    if (!hooks_.mappings()) {
      // Paused: the events wait in the source for valid mappings.
      if (stopping) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    auto read = source_->Read(options_.max_events, std::chrono::milliseconds(100), options_.window);
    if (!read.ok()) {
      hooks_.on_problem(ErrorName::kEventSource, read.status().message());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (read->empty()) {
      if (stopping) return;  // drained
      continue;
    }
    if (!ProcessHolding(*read, &pipeline, &generation, stopping)) {
      source_->Rewind();  // stopping: the batch stays in the source for the next start
      return;
    }
    if (Status committed = source_->Commit(); !committed.ok()) {
      // A Kafka rebalance took partitions away (their new owner reads from
      // the last commit again), or the queue's checkpoint failed (the batch
      // is replayed at the next start): idempotent writes either way.
      hooks_.on_problem(ErrorName::kEventSource, "The source was not moved past the batch: " + committed.message());
    }
  }
}

bool BatchWorker::ProcessHolding(const std::vector<ingest::ReceivedEvent>& events, std::unique_ptr<Pipeline>* pipeline,
                                 std::uint64_t* generation, const std::atomic<bool>& stopping) {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(30'000));
  bool held = false;
  while (true) {
    std::shared_ptr<const MappingSet> current = hooks_.mappings();
    if (current && (!*pipeline || *generation != current->generation)) {
      *pipeline = hooks_.make_pipeline(*current);
      *generation = current->generation;
    }
    Status st = current ? Process(pipeline->get(), events) : Unavailable("the connector has no valid mappings");
    if (st.ok()) {
      if (held && hooks_.on_resumed) hooks_.on_resumed();
      return true;
    }
    // Not committed (nothing of the batch acknowledged, counted or
    // dead-lettered): a fresh pipeline tries the same events again.
    pipeline->reset();
    if (!held && hooks_.on_held) hooks_.on_held(st);
    held = true;
    const auto until = std::chrono::steady_clock::now() + backoff.Next();
    while (std::chrono::steady_clock::now() < until) {
      if (stopping) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (hooks_.on_retry) hooks_.on_retry();
  }
}

Status BatchWorker::Process(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events) {
  BatchReport report;
  const PipelineStats before = pipeline->stats();
  report.start_ticks = NowTicks();
  report.ingestion_ticks.reserve(events.size());
  for (const ingest::ReceivedEvent& e : events) {
    EventInput input;
    input.text = e.text;
    input.location = e.location;
    input.ingestion_ticks = e.ingestion_ticks;
    IOMT_RETURN_IF_ERROR(pipeline->Accept(input));
    report.ingestion_ticks.push_back(e.ingestion_ticks);
  }
  const auto write_start = std::chrono::steady_clock::now();
  IOMT_RETURN_IF_ERROR(pipeline->Flush());
  report.write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  report.done_ticks = NowTicks();
  report.counted = pipeline->stats().Since(before);
  if (hooks_.on_batch) hooks_.on_batch(report);
  return Status::Ok();
}

}  // namespace iomt::pipeline
