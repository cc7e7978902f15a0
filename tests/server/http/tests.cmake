# The HTTP server's and the FHIR API's tests (tests/server/http/); included
# from tests/CMakeLists.txt. Real sockets on 127.0.0.1 with libcurl as the
# client. The prefixes let `ctest -R http` / `-R fhir_api` select them.
find_package(CURL REQUIRED)
add_library(iomt_http_test_client STATIC ${CMAKE_CURRENT_SOURCE_DIR}/server/http/test_client.cc)
target_link_libraries(iomt_http_test_client PUBLIC CURL::libcurl)

add_executable(http_server_test ${CMAKE_CURRENT_SOURCE_DIR}/server/http/http_server_test.cc)
target_link_libraries(http_server_test PRIVATE iomt_http_server iomt_http_test_client iomt_test_util
  GTest::gtest_main)
set_target_properties(http_server_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(http_server_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "http." PROPERTIES LABELS threads)

# WebSocket: the frames, and Boost.Beast's client against the server.
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS SSL Crypto)
add_executable(websocket_test ${CMAKE_CURRENT_SOURCE_DIR}/server/http/websocket_test.cc)
target_link_libraries(websocket_test PRIVATE iomt_http_server iomt_http_test_client iomt_test_util Boost::headers
  OpenSSL::SSL OpenSSL::Crypto GTest::gtest_main)
set_target_properties(websocket_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(websocket_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "http." PROPERTIES LABELS threads)

# The FHIR API, and the FhirClient contract through iomt's own remote
# client against it (an iomt as another iomt's FHIR server).
add_executable(fhir_api_test ${CMAKE_CURRENT_SOURCE_DIR}/server/http/fhir_api_test.cc)
target_link_libraries(fhir_api_test PRIVATE iomt_fhir_api iomt_store_remote iomt_http_test_client iomt_test_util
  GTest::gtest_main)
set_target_properties(fhir_api_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(fhir_api_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "fhir_api." PROPERTIES LABELS threads)

# Subscriptions: a store, the FHIR API, a receiving HTTP server, Beast's
# WebSocket client.
add_executable(subscriptions_test ${CMAKE_CURRENT_SOURCE_DIR}/server/http/subscriptions_test.cc)
target_link_libraries(subscriptions_test PRIVATE iomt_fhir_api iomt_http_test_client iomt_test_util Boost::headers
  GTest::gtest_main)
set_target_properties(subscriptions_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(subscriptions_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "fhir_api." PROPERTIES LABELS threads)

# The FHIR API through two FHIR client libraries from npm (Medplum's and
# fhir-kit-client, in tests/fhir_server/node_modules) against a real
# `iomt serve`.
add_test(NAME fhir_api_clients
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt>
    ${IOMT_NODE_COMMAND} --test --test-reporter=spec ${PROJECT_SOURCE_DIR}/tests/fhir_server/clients_test.js
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(fhir_api_clients PROPERTIES LABELS serve TIMEOUT 120)

# Subscriptions end to end: created with Medplum's client, notified to
# Node's HTTP server (rest-hook) and Node's WebSocket client (undici's:
# behind a flag in Node 20).
add_test(NAME fhir_api_subscriptions
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt>
    ${IOMT_NODE_COMMAND} --experimental-websocket --no-warnings --test --test-reporter=spec
    ${PROJECT_SOURCE_DIR}/tests/fhir_server/subscriptions_test.js
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(fhir_api_subscriptions PROPERTIES LABELS serve TIMEOUT 120)
