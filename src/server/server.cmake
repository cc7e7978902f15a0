# The service of `iomt serve` (server/): configuration, connectors, metrics
# and routes, over the HTTP server, the queue and the sources. Included from
# src/CMakeLists.txt after them.
find_package(prometheus-cpp CONFIG REQUIRED)
add_library(iomt_server STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/server/config.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/server/metrics.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/server/connector.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/server/service.cc
)
target_link_libraries(iomt_server
  PUBLIC iomt_pipeline iomt_store_embedded iomt_fhir_api iomt_http_server
  PRIVATE iomt_store_remote iomt_event_log iomt_kafka_source iomt_mqtt_source prometheus-cpp::core)
