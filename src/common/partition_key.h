// iomt-fhir's partition key for a device (DeterministicHashCodeGenerator):
// measurements of one device go to one partition of the normalized stream, so
// that one consumer sees all of a device's readings in order. iomt keeps the
// same key so that a Kafka topic shared with iomt-fhir tools partitions alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iomt {

// h = 31 * h + c over the UTF-16 code units of `s`, in wrapping 32-bit
// arithmetic; then |h| mod `range` (|INT32_MIN| wraps to itself, as .NET's
// Math.Abs would throw there, and the key is its magnitude mod range).
std::int32_t DeterministicHash(std::string_view utf8);
std::string HashKey(std::string_view utf8, int range);

// The partition key of a device: HashKey(lowercase(deviceId), 256). Only
// ASCII letters are lowered (.NET's ToLower also lowers other scripts).
std::string DevicePartitionKey(std::string_view device_id);

}  // namespace iomt
