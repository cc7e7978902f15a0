# The embedded FHIR store (SQLite); included from src/CMakeLists.txt.
find_package(SQLite3 REQUIRED)
add_library(iomt_store_embedded STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/embedded_store.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/search.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/bundle.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/resource_text.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/embedded/sqlite.cc
)
target_link_libraries(iomt_store_embedded PUBLIC iomt_store PRIVATE SQLite::SQLite3)
