# The remote FHIR client's tests (tests/store/remote/), against a real FHIR
# server: Medplum's FHIR router behind tests/fhir_server/server.js, and the
# fault-injecting proxy tests/fhir_server/proxy.js. Each test binary starts
# both on free ports of 127.0.0.1 and stops them (test_servers.h), so each is
# one ctest entry: the servers start once per binary, not once per test.
# Needs node and `scripts/npm-install.sh tests/fhir_server` (make test does
# both); without them the tests fail and say so.
# TLS for tests (tests/tls_util.h): a throwaway CA with the openssl command
# line and stunnel in front of a plain server; the MQTT tests use it too.
find_program(IOMT_STUNNEL stunnel4 PATHS /usr/bin /usr/sbin)
if(NOT IOMT_STUNNEL)
  set(IOMT_STUNNEL /usr/bin/stunnel4)
endif()
add_library(iomt_tls_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/tls_util.cc)
target_link_libraries(iomt_tls_util PUBLIC iomt_test_util)
target_compile_definitions(iomt_tls_util PRIVATE IOMT_STUNNEL="${IOMT_STUNNEL}")

function(iomt_remote_test name)
  add_executable(${name} ${ARGN} ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/test_servers.cc)
  target_link_libraries(${name} PRIVATE iomt_test_util iomt_tls_util iomt_store_remote GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/store/remote)
  target_compile_definitions(${name} PRIVATE IOMT_NODE="${IOMT_NODE}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "remote;threads" TIMEOUT 300)
endfunction()

iomt_remote_test(remote_client_test ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/remote_client_test.cc)
iomt_remote_test(remote_e2e_test ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/remote_e2e_test.cc)
target_link_libraries(remote_e2e_test PRIVATE iomt_pipeline)

# `iomt run --store` and `iomt run --fhir-url` leave the same resources.
add_test(NAME remote_cli_parity
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> NODE=${IOMT_NODE}
    bash ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/cli_parity.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(remote_cli_parity PROPERTIES LABELS remote TIMEOUT 300)

# The client through stunnel with a CA and client certificates made by the
# test (tests/tls_util.h); also `iomt run --fhir-ca/--fhir-client-cert`.
iomt_remote_test(remote_tls_test ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/remote_tls_test.cc)
set_tests_properties(remote_tls_test PROPERTIES ENVIRONMENT IOMT=$<TARGET_FILE:iomt>)
