# The Kafka source's tests and test tools (tests/ingest/kafka/); included from
# tests/CMakeLists.txt. Everything runs against librdkafka's mock cluster on
# 127.0.0.1, started by the tests themselves: no broker is needed.
#
# The tools (in ${CMAKE_BINARY_DIR}/tests, their command lines at the top of
# each file) are also for the end-to-end and scale-out tests of `iomt serve`:
#   kafka_mock_cluster --brokers N --topic NAME:PARTITIONS [--topic ...]
#   kafka_produce --brokers B --topic T [--key-member NAME] [--header K=V]... [--partition N]
#   kafka_consume --brokers B --topic T --group G [--set K=V]... [--count N]
foreach(tool kafka_mock_cluster kafka_produce kafka_consume)
  add_executable(${tool} ${CMAKE_CURRENT_SOURCE_DIR}/ingest/kafka/${tool}.cc)
  target_link_libraries(${tool} PRIVATE iomt_common PkgConfig::RDKAFKA)
  set_target_properties(${tool} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()
target_link_libraries(kafka_consume PRIVATE iomt_kafka_source)

add_executable(kafka_source_test ${CMAKE_CURRENT_SOURCE_DIR}/ingest/kafka/kafka_source_test.cc)
target_link_libraries(kafka_source_test PRIVATE iomt_kafka_source iomt_test_util iomt_tls_util PkgConfig::RDKAFKA
  GTest::gtest_main)
target_compile_definitions(kafka_source_test PRIVATE
  IOMT_KAFKA_MOCK_CLUSTER="$<TARGET_FILE:kafka_mock_cluster>"
  IOMT_KAFKA_PRODUCE="$<TARGET_FILE:kafka_produce>"
  IOMT_KAFKA_CONSUME="$<TARGET_FILE:kafka_consume>")
add_dependencies(kafka_source_test kafka_mock_cluster kafka_produce kafka_consume)
set_target_properties(kafka_source_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(kafka_source_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "kafka." PROPERTIES LABELS kafka TIMEOUT 120)
