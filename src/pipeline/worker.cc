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
  std::optional<InFlight> flight;
  auto stop_now = [&] {
    return stopping && (!source_->drains_on_stop() || std::chrono::steady_clock::now() >= drain_deadline.load());
  };
  auto land = [&] { return Land(&flight, &pipeline, &generation, stopping); };
  while (!stop_now()) {
    if (hooks_.on_turn) hooks_.on_turn();
    std::shared_ptr<const MappingSet> current = hooks_.mappings();
    if (!current) {
      // Paused: the events wait in the source for valid mappings.
      if (land() == Landed::kStopped) return;
      if (stopping) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    // With a batch in flight, only what is there already: when nothing is,
    // the batch lands now rather than after the wait.
    const auto wait = flight ? std::chrono::milliseconds(0) : std::chrono::milliseconds(100);
    auto read = source_->Read(options_.max_events, wait, options_.window);
    if (!read.ok()) {
      if (land() == Landed::kStopped) return;
      hooks_.on_problem(ErrorName::kEventSource, read.status().message());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (read->empty()) {
      if (flight) {
        if (land() == Landed::kStopped) return;
        continue;
      }
      if (stopping) return;  // drained
      continue;
    }
    if (!pipeline || generation != current->generation) {
      // The pipeline changes between batches: the one in flight was taken in
      // (and is written) by the old one.
      if (land() == Landed::kStopped) return;
      pipeline = hooks_.make_pipeline(*current);
      generation = current->generation;
    }
    BatchReport report;
    std::vector<ingest::ReceivedEvent> events = std::move(*read);
    Status taken = TakeIn(pipeline.get(), events, 0, &report);
    // While the batch ahead is written, what arrives joins this one, as it
    // would have had this one waited for the write: fewer, larger writes
    // under a moderate load (each write is a commit and an fsync).
    while (taken.ok() && flight && events.size() < options_.max_events &&
           flight->written.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      auto more = source_->Read(options_.max_events - events.size(), std::chrono::milliseconds(2),
                                std::chrono::milliseconds(0));
      if (!more.ok()) break;  // the next Read reports it
      const std::size_t from = events.size();
      for (ingest::ReceivedEvent& e : *more)
        events.push_back(std::move(e));
      taken = TakeIn(pipeline.get(), events, from, &report);
    }
    const ReadPosition end = source_->Position();
    SealedBatch sealed = pipeline->Seal();
    const Landed landed = land();
    if (landed == Landed::kStopped) return;
    if (landed == Landed::kRewritten || !taken.ok()) {
      // What was taken in belongs to a pipeline that failed: the batch is
      // carried through afresh, here. After a rewrite the pipeline is a
      // fresh one already; a refusal to take the batch in is this batch's
      // first failure, so it waits out the pause on a fresh pipeline too.
      const Status first = landed == Landed::kRewritten ? Status::Ok() : taken;
      if (!ProcessHolding(events, &pipeline, &generation, stopping, first)) {
        source_->Rewind();  // stopping: the batch stays in the source for the next start
        return;
      }
      CommitSource(end);
      continue;
    }
    InFlight& next = flight.emplace();
    next.events = std::move(events);
    next.end = end;
    next.report = std::move(report);
    // The future's thread only writes (the writing half of the pipeline),
    // while this one reads and takes in the next batch.
    next.written =
        std::async(std::launch::async, &BatchWorker::WriteTaken, pipeline.get(), std::move(sealed), &next.report);
  }
  // Stopping: the batch in flight is written and committed, or rewound.
  land();
}

BatchWorker::Landed BatchWorker::Land(std::optional<InFlight>* flight, std::unique_ptr<Pipeline>* pipeline,
                                      std::uint64_t* generation, const std::atomic<bool>& stopping) {
  if (!*flight) return Landed::kWritten;
  InFlight& batch = **flight;
  const Status written = batch.written.get();
  Landed landed = Landed::kWritten;
  if (written.ok()) {
    if (hooks_.on_batch) hooks_.on_batch(batch.report);
  } else {
    landed = Landed::kRewritten;
    if (!ProcessHolding(batch.events, pipeline, generation, stopping, written)) {
      source_->Rewind();  // stopping: the batch stays in the source for the next start
      flight->reset();
      return Landed::kStopped;
    }
  }
  CommitSource(batch.end);
  flight->reset();
  return landed;
}

void BatchWorker::CommitSource(const ReadPosition& upto) {
  if (Status committed = source_->Commit(upto); !committed.ok()) {
    // A Kafka rebalance took partitions away (their new owner reads from the
    // last commit again), or the queue's checkpoint failed (the batch is
    // replayed at the next start): idempotent writes either way.
    hooks_.on_problem(ErrorName::kEventSource, "The source was not moved past the batch: " + committed.message());
  }
}

bool BatchWorker::ProcessHolding(const std::vector<ingest::ReceivedEvent>& events, std::unique_ptr<Pipeline>* pipeline,
                                 std::uint64_t* generation, const std::atomic<bool>& stopping, Status failed) {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(30'000));
  bool held = false;
  Status st = std::move(failed);
  while (true) {
    if (st.ok()) {
      std::shared_ptr<const MappingSet> current = hooks_.mappings();
      if (current && (!*pipeline || *generation != current->generation)) {
        *pipeline = hooks_.make_pipeline(*current);
        *generation = current->generation;
      }
      st = current ? Process(pipeline->get(), events) : Unavailable("the connector has no valid mappings");
      if (st.ok()) {
        if (held && hooks_.on_resumed) hooks_.on_resumed();
        return true;
      }
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
    st = Status::Ok();
  }
}

Status BatchWorker::TakeIn(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events, std::size_t from,
                           BatchReport* report) {
  if (from == 0) report->start_ticks = NowTicks();
  for (std::size_t i = from; i < events.size(); ++i) {
    const ingest::ReceivedEvent& e = events[i];
    EventInput input;
    input.text = e.text;
    input.location = e.location;
    input.ingestion_ticks = e.ingestion_ticks;
    IOMT_RETURN_IF_ERROR(pipeline->Accept(input));
    report->ingestion_ticks.push_back(e.ingestion_ticks);
  }
  return Status::Ok();
}

Status BatchWorker::WriteTaken(Pipeline* pipeline, SealedBatch batch, BatchReport* report) {
  // Only the writing half changes the stats, and one batch is written at a
  // time: what they gained since here is this batch's.
  const PipelineStats before = pipeline->stats();
  const auto write_start = std::chrono::steady_clock::now();
  IOMT_RETURN_IF_ERROR(pipeline->Write(std::move(batch)));
  report->write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  report->done_ticks = NowTicks();
  report->counted = pipeline->stats().Since(before);
  return Status::Ok();
}

Status BatchWorker::Process(Pipeline* pipeline, const std::vector<ingest::ReceivedEvent>& events) {
  BatchReport report;
  IOMT_RETURN_IF_ERROR(TakeIn(pipeline, events, 0, &report));
  IOMT_RETURN_IF_ERROR(WriteTaken(pipeline, pipeline->Seal(), &report));
  if (hooks_.on_batch) hooks_.on_batch(report);
  return Status::Ok();
}

}  // namespace iomt::pipeline
