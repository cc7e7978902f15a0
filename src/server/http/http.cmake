# The HTTP server of `iomt serve` (Boost.Beast, header-only: Debian
# libboost-dev) and the FHIR REST API over the embedded store. Included from
# src/CMakeLists.txt, so paths are relative to src/. Beast is included by
# http_server.cc only: it is slow to compile.
find_package(Boost 1.74 REQUIRED)
find_package(Threads REQUIRED)
add_library(iomt_http_server STATIC ${CMAKE_CURRENT_SOURCE_DIR}/server/http/http_server.cc)
target_link_libraries(iomt_http_server PUBLIC iomt_common Threads::Threads PRIVATE Boost::headers)

add_library(iomt_fhir_api STATIC ${CMAKE_CURRENT_SOURCE_DIR}/server/http/fhir_api.cc)
target_link_libraries(iomt_fhir_api PUBLIC iomt_http_server iomt_store_embedded)
