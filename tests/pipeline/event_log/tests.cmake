# The event log's tests; included from tests/CMakeLists.txt. Prefixed so that
# `ctest -R queue` selects them.
add_executable(event_log_test
  ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/event_log/event_log_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/event_log/crash_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/event_log/failure_test.cc)
target_link_libraries(event_log_test PRIVATE iomt_event_log iomt_test_util GTest::gtest_main)
target_include_directories(event_log_test PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(event_log_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(event_log_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "event_log." PROPERTIES LABELS threads)
