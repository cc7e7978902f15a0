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

# The FHIR API, and the FhirClient contract through iomt's own remote
# client against it (an iomt as another iomt's FHIR server).
add_executable(fhir_api_test ${CMAKE_CURRENT_SOURCE_DIR}/server/http/fhir_api_test.cc)
target_link_libraries(fhir_api_test PRIVATE iomt_fhir_api iomt_store_remote iomt_http_test_client iomt_test_util
  GTest::gtest_main)
set_target_properties(fhir_api_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(fhir_api_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "fhir_api." PROPERTIES LABELS threads)

# The FHIR API through two FHIR client libraries from npm (Medplum's and
# fhir-kit-client, in tests/fhir_server/node_modules) against a real
# `iomt serve`.
add_test(NAME fhir_api_clients
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt>
    ${IOMT_NODE_COMMAND} --test --test-reporter=spec ${PROJECT_SOURCE_DIR}/tests/fhir_server/clients_test.js
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(fhir_api_clients PROPERTIES LABELS serve TIMEOUT 120)
