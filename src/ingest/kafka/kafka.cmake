# The Kafka source (ingest/kafka/): a consumer-group member on one topic, with
# librdkafka's C API (Debian librdkafka-dev, pkg-config rdkafka). Included from
# src/CMakeLists.txt, so paths are relative to src/.
# GLOBAL: the tests (tests/ingest/kafka/) link it too.
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET GLOBAL rdkafka)
add_library(iomt_kafka_source STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/ingest/kafka/kafka_source.cc
)
target_link_libraries(iomt_kafka_source PUBLIC iomt_common PRIVATE PkgConfig::RDKAFKA)
