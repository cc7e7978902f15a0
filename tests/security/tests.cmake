# The security tests of iomt serve (tests/security/, docs/security.md): every
# route with every role, the audit log, file modes, cost limits, names.
iomt_test(security_test ${CMAKE_CURRENT_SOURCE_DIR}/security/security_test.cc LABELS serve)
target_link_libraries(security_test PRIVATE iomt_server iomt_control iomt_console iomt_http_test_client)
target_include_directories(security_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/server/http)
# `iomt serve` secured as an operator secures it, end to end: iomt auth, the
# refusal to listen openly, TLS with a CA made in the test and SIGHUP, bearer
# JWTs signed with openssl, the audit log, patient data kept out of output
# and private, secrets from ${NAME} and @FILE.
add_test(NAME serve_security_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/security/serve_security_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(serve_security_test PROPERTIES LABELS serve TIMEOUT 300)
