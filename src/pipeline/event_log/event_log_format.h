// The event log's on-disk format and the file helpers its parts share
// (event_log.cc: appending, reading, committing; event_log_recovery.cc:
// opening and checking what is there). Internal to pipeline/event_log/; the
// format itself is described at the top of event_log.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

// In iomt::pipeline, but declared only here: only the log's files see them.
namespace iomt::pipeline {

inline constexpr std::size_t kHeaderBytes = 16;  // length, crc, seq
inline constexpr std::uint64_t kMaxRecordBytes = 0xFFFFFFFFull;
inline constexpr std::string_view kCheckpointMagic = "IOMTCKP1";
inline constexpr std::size_t kCheckpointBytes = 8 + 8 + 4;
inline constexpr std::string_view kSegmentSuffix = ".log";
inline constexpr std::size_t kSegmentDigits = 20;

void PutU32(char* p, std::uint32_t v);
void PutU64(char* p, std::uint64_t v);
std::uint32_t GetU32(const char* p);
std::uint64_t GetU64(const char* p);
// The CRC of a record: its length and seq fields (bytes 0-3 and 8-15 of the
// header) and its data, so that a damaged length or seq is caught too.
std::uint32_t RecordCrc(const char* header, std::string_view data);
// Frames `data` as record `seq` at `out` (kHeaderBytes + data.size() bytes).
void EncodeRecord(char* out, std::uint64_t seq, std::string_view data);

// An error of the system call `op` on `path`, from errno (read first, before
// anything can change it). A full disk says so in words an operator searches for.
Status Errno(const char* op, const std::string& path);
// fdatasync of a segment (or the test hook standing in for it).
int SyncSegment(int fd);
Status WriteAll(int fd, std::string_view bytes, const std::string& path);
Result<std::string> ReadWholeFile(const std::string& path);
// "00000000000000000001.log" for the segment starting at `first_seq`.
std::string SegmentName(std::uint64_t first_seq);
// The first seq a segment file name stands for, or 0 when it is not one.
std::uint64_t ParseSegmentName(const std::string& name);

}  // namespace iomt::pipeline
