# `iomt serve` end to end (tests/server/): the service as an operator runs
# it, with its real sources (HTTP; a mosquitto broker; librdkafka's mock
# cluster), each test starting what it needs on free ports.
add_test(NAME serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(serve_test PROPERTIES LABELS "serve;threads" TIMEOUT 600)
add_test(NAME mqtt_serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/mqtt_serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME kafka_serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> KAFKA_MOCK=$<TARGET_FILE:kafka_mock_cluster>
    KAFKA_PRODUCE=$<TARGET_FILE:kafka_produce> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/kafka_serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(mqtt_serve_test kafka_serve_test PROPERTIES LABELS "serve;threads" TIMEOUT 600)
iomt_test(serve_config_test ${CMAKE_CURRENT_SOURCE_DIR}/server/config_test.cc)
target_link_libraries(serve_config_test PRIVATE iomt_server)
# docs/configuration.md's table of settings is `iomt serve --settings-table`.
add_test(NAME settings_doc_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/settings_doc_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
