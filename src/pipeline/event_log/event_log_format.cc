#include "pipeline/event_log/event_log_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "pipeline/event_log/event_log.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace iomt::pipeline {
namespace {

// ---- CRC-32C ----------------------------------------------------------------

constexpr std::array<std::uint32_t, 256> MakeCrcTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli polynomial
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = MakeCrcTable();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t Crc32cSse42(std::string_view data, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint64_t c = ~crc;
  while (n >= 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif

}  // namespace

// ---- encoding -----------------------------------------------------------------

void PutU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// The CRC of a record: its length and seq fields (bytes 0-3 and 8-15 of the
// header) and its data, so that a damaged length or seq is caught too.
std::uint32_t RecordCrc(const char* header, std::string_view data) {
  std::uint32_t crc = Crc32c(std::string_view(header, 4));
  crc = Crc32c(std::string_view(header + 8, 8), crc);
  return Crc32c(data, crc);
}

// Frames `data` as record `seq` at `out` (kHeaderBytes + data.size() bytes).
void EncodeRecord(char* out, std::uint64_t seq, std::string_view data) {
  PutU32(out, static_cast<std::uint32_t>(data.size()));
  PutU64(out + 8, seq);
  if (!data.empty()) std::memcpy(out + kHeaderBytes, data.data(), data.size());
  PutU32(out + 4, RecordCrc(out, data));
}

// ---- files --------------------------------------------------------------------

// Takes no computed string, so that errno is read before anything can
// change it. A full disk says so in words an operator searches for.
Status Errno(const char* op, const std::string& path) {
  int err = errno;
  std::string message = std::string("event log: ") + op + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) message.append(" (disk full)");
  return IoError(std::move(message));
}

// The test hook that stands in for fdatasync of a segment (to inject EIO).
std::atomic<int (*)(int)> segment_sync_for_test{nullptr};

int SyncSegment(int fd) {
  if (int (*hook)(int) = segment_sync_for_test.load(std::memory_order_relaxed)) return hook(fd);
  return ::fdatasync(fd);
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string SegmentName(std::uint64_t first_seq) {
  std::string digits = std::to_string(first_seq);
  return std::string(kSegmentDigits - digits.size(), '0') + digits + std::string(kSegmentSuffix);
}

// The first seq a segment file name stands for, or 0 when it is not one.
std::uint64_t ParseSegmentName(const std::string& name) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return 0;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < kSegmentDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return seq;
}

std::uint32_t internal::Crc32cPortable(std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : data)
    crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void internal::SetSegmentSyncForTest(int (*sync)(int fd)) { segment_sync_for_test.store(sync); }

std::uint32_t Crc32c(std::string_view data, std::uint32_t crc) {
#if defined(__x86_64__)
  static const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
  if (kHasSse42) return Crc32cSse42(data, crc);
#endif
  return internal::Crc32cPortable(data, crc);
}

}  // namespace iomt::pipeline
