# `iomt serve` end to end (tests/server/): the service as an operator runs
# it, with its real sources (HTTP; a mosquitto broker; librdkafka's mock
# cluster), each test starting what it needs on free ports.
add_test(NAME serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(serve_test PROPERTIES LABELS "serve;threads" TIMEOUT 600)
# The bodies HTTP ingestion refuses, and that the client learns it: not
# JSON (400), other content types (415), oversized (413 of any size, from
# curl and from Node's http client: tests/server/post_body.js).
add_test(NAME ingest_limits_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/ingest_limits_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(ingest_limits_test PROPERTIES LABELS serve TIMEOUT 300)
add_test(NAME mqtt_serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/mqtt_serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME kafka_serve_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> KAFKA_MOCK=$<TARGET_FILE:kafka_mock_cluster>
    KAFKA_PRODUCE=$<TARGET_FILE:kafka_produce> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/kafka_serve_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(mqtt_serve_test kafka_serve_test PROPERTIES LABELS "serve;threads" TIMEOUT 600)
# A full disk (503, then recovery) and damaged queue and store files; mounts
# tmpfs file systems, so it needs root (exit 77: skipped).
add_test(NAME disk_full_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/disk_full_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(disk_full_test PROPERTIES LABELS serve TIMEOUT 300 SKIP_RETURN_CODE 77)
iomt_test(serve_config_test ${CMAKE_CURRENT_SOURCE_DIR}/server/config_test.cc)
target_link_libraries(serve_config_test PRIVATE iomt_server)
# docs/configuration.md's table of settings is `iomt serve --settings-table`.
add_test(NAME settings_doc_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/settings_doc_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
# An outage of the FHIR service: the connector holds its queue (no dead
# letters), says so once, pushes back when full, and resumes by itself.
add_test(NAME outage_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/outage_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(outage_test PROPERTIES LABELS serve TIMEOUT 600)
# The soak and fault campaign of bench/soak.sh in two minutes (kills, a FHIR
# outage, a Kafka consumer joining and leaving; nothing lost or duplicated).
add_test(NAME soak_short_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> KAFKA_MOCK=$<TARGET_FILE:kafka_mock_cluster>
    KAFKA_PRODUCE=$<TARGET_FILE:kafka_produce> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/soak_short_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(soak_short_test PROPERTIES LABELS "serve;soak" TIMEOUT 900)
iomt_test(control_test ${CMAKE_CURRENT_SOURCE_DIR}/control/control_test.cc)
target_link_libraries(control_test PRIVATE iomt_control)
# The provisioning API (tests/control/): ARM resources, the seed's messages,
# live connectors over HTTP and Kafka, restarts, SIGKILL, concurrent PUTs.
add_test(NAME provisioning_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> KAFKA_MOCK=$<TARGET_FILE:kafka_mock_cluster>
    KAFKA_PRODUCE=$<TARGET_FILE:kafka_produce> bash ${CMAKE_CURRENT_SOURCE_DIR}/control/provisioning_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(provisioning_test PROPERTIES LABELS "serve;threads" TIMEOUT 600)
add_test(NAME log_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/server/log_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(log_test PROPERTIES LABELS serve TIMEOUT 300)
# The Kubernetes manifests of docs/deploy.md: Kubernetes 1.30's fields and
# types (offline, tests/deploy/check_manifests.js) and agreement with iomt.
add_test(NAME deploy_manifests
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt>
    ${IOMT_NODE_COMMAND} --test --test-reporter=spec ${PROJECT_SOURCE_DIR}/tests/deploy/manifests_test.js
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy_manifests PROPERTIES LABELS serve TIMEOUT 120)
