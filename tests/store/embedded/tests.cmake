# The embedded FHIR store's tests; included from tests/CMakeLists.txt.
iomt_test(embedded_store_test
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/embedded_store_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/crash_test.cc)
target_link_libraries(embedded_store_test PRIVATE iomt_store_embedded)
target_include_directories(embedded_store_test PRIVATE ${PROJECT_SOURCE_DIR})
