# The MQTT source (ingest/mqtt/): MQTT v5 subscriptions with libmosquitto
# (Debian libmosquitto-dev). Included from src/CMakeLists.txt, so paths are
# relative to src/.
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
find_package(Threads REQUIRED)
add_library(iomt_mqtt_source STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/ingest/mqtt/mqtt_source.cc
)
target_link_libraries(iomt_mqtt_source PUBLIC iomt_common Threads::Threads PRIVATE PkgConfig::MOSQUITTO)
