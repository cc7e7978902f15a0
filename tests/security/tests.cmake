# The security tests of iomt serve (tests/security/, docs/security.md): every
# route with every role, the audit log, file modes, cost limits, names.
iomt_test(security_test ${CMAKE_CURRENT_SOURCE_DIR}/security/security_test.cc LABELS serve)
target_link_libraries(security_test PRIVATE iomt_server iomt_control iomt_console iomt_http_test_client)
target_include_directories(security_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/server/http)
