#include "store/embedded/packed_json.h"

#include "store/embedded/sqlite.h"

namespace iomt::store::embedded {

namespace {
// zstd's fastest standard level: SampledData's runs of "E " compress as
// well at 1 as at 3, and the writer thread is the pipeline's bottleneck.
constexpr int kLevel = 1;
}  // namespace

JsonPacker::JsonPacker() : compress_(ZSTD_createCCtx()), decompress_(ZSTD_createDCtx()) {}

JsonPacker::~JsonPacker() {
  ZSTD_freeCCtx(compress_);
  ZSTD_freeDCtx(decompress_);
}

std::string_view JsonPacker::Pack(std::string_view json, bool* blob) {
  *blob = false;
  if (json.size() < kPackFrom || compress_ == nullptr) return json;
  packed_.resize(ZSTD_compressBound(json.size()));
  const std::size_t n = ZSTD_compressCCtx(compress_, packed_.data(), packed_.size(), json.data(), json.size(), kLevel);
  if (ZSTD_isError(n) != 0 || n > json.size() - json.size() / 4) return json;
  *blob = true;
  return {packed_.data(), n};
}

Result<std::string_view> JsonPacker::Unpack(std::string_view stored, bool blob) {
  if (!blob) return stored;
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  // Frames are written with their size; a resource is far below 1 GiB.
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ULL << 30) ||
      decompress_ == nullptr) {
    return IoError("a resource's compressed JSON has no valid zstd frame header").WithDetail(sqlite::kDamaged);
  }
  unpacked_.resize(size);
  const std::size_t n =
      ZSTD_decompressDCtx(decompress_, unpacked_.data(), unpacked_.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) != 0 || n != size) {
    std::string message = "a resource's compressed JSON does not decompress (";
    message.append(ZSTD_isError(n) != 0 ? ZSTD_getErrorName(n) : "short").append(")");
    return IoError(std::move(message)).WithDetail(sqlite::kDamaged);
  }
  return std::string_view(unpacked_.data(), n);
}

}  // namespace iomt::store::embedded
