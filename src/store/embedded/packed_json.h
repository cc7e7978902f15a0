// A resource's JSON as the embedded store keeps it: large documents as a
// zstd frame (a BLOB), the rest as the text itself. An hourly SampledData
// Observation is ~7 KB, mostly "E E E ..." that compresses ~14 times, and
// the store used to write it whole at every version (and again at the
// checkpoint): bytes, not CPU, bounded that path (docs/adr/0023).
#pragma once

#include <zstd.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace iomt::store::embedded {

// Documents shorter than this are stored as text: a Quantity Observation
// (~1.3 KB) compresses only ~2 times, and compressing it cost the writer
// thread more than the bytes saved (ADR 0023 has the measurements).
inline constexpr std::size_t kPackFrom = 2048;

class JsonPacker {
 public:
  JsonPacker();
  ~JsonPacker();
  JsonPacker(const JsonPacker&) = delete;
  JsonPacker& operator=(const JsonPacker&) = delete;

  // What to store for `json`: a zstd frame (and *blob = true), kept in this
  // packer until the next Pack, or `json` itself when it is short or does
  // not compress by at least a quarter.
  std::string_view Pack(std::string_view json, bool* blob);
  // The JSON of a stored value: `stored` itself when it is text, else the
  // frame's content, kept in this packer until the next Unpack. A frame that
  // does not decompress is damage (kIoError, detail "damaged", saying what
  // is wrong with the frame; the store adds which file and what to do).
  Result<std::string_view> Unpack(std::string_view stored, bool blob);

 private:
  ZSTD_CCtx* compress_;
  ZSTD_DCtx* decompress_;
  std::string packed_, unpacked_;
};

}  // namespace iomt::store::embedded
