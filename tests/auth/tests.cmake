# The tests of src/auth/.
# Keys and tokens are made in the test with OpenSSL; the JWKS URL is served
# by iomt's own HTTP server on 127.0.0.1.
add_executable(auth_test ${CMAKE_CURRENT_SOURCE_DIR}/auth/auth_test.cc)
target_link_libraries(auth_test PRIVATE iomt_auth iomt_http_server iomt_test_util OpenSSL::Crypto PkgConfig::LIBJWT
  GTest::gtest_main)
set_target_properties(auth_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(auth_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "auth." PROPERTIES LABELS threads)
