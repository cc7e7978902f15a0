# The embedded FHIR store's tests; included from tests/CMakeLists.txt. As
# iomt_test() does, plus a name prefix so that `ctest -R embedded` selects
# every one of them (the suites are named EmbeddedStore..., capitalized).
add_executable(embedded_store_test
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/embedded_store_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/crash_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/failure_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/history_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/search_property_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/split_store_test.cc)
target_link_libraries(embedded_store_test PRIVATE iomt_store_embedded iomt_pipeline iomt_test_util iomt_expr GTest::gtest_main)
target_include_directories(embedded_store_test PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(embedded_store_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(embedded_store_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "embedded." PROPERTIES LABELS threads)
