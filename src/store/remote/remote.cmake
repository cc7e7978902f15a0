# The remote FHIR client (store/remote/): any FHIR R4 server over HTTP, with
# libcurl (Debian libcurl4-openssl-dev). Included from src/CMakeLists.txt, so
# paths are relative to src/.
find_package(CURL REQUIRED)
add_library(iomt_store_remote STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/http.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/store/remote/remote_client.cc
)
target_link_libraries(iomt_store_remote PUBLIC iomt_store PRIVATE CURL::libcurl)
find_package(Threads REQUIRED)
target_link_libraries(iomt_store_remote PUBLIC Threads::Threads)
