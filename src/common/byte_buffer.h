// A growable byte buffer that hands out raw room to write into, for output
// paths where std::string's per-append checks and zero-filling show up in
// profiles (formatting millions of measurements a second).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace iomt {

class ByteBuffer {
 public:
  // Room for at least `n` more bytes; write into it, then Commit.
  char* Reserve(std::size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    return data_.get() + size_;
  }
  // Marks the bytes up to `end` (inside the reserved room) as written.
  void Commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void Append(std::string_view s) {
    char* p = Reserve(s.size());
    std::memcpy(p, s.data(), s.size());
    Commit(p + s.size());
  }
  void Push(char c) {
    char* p = Reserve(1);
    *p = c;
    Commit(p + 1);
  }
  [[nodiscard]] std::string_view view() const { return {data_.get(), size_}; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

 private:
  void Grow(std::size_t need) {
    std::size_t capacity = capacity_ == 0 ? 4096 : capacity_;
    while (capacity < need)
      capacity *= 2;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace iomt
