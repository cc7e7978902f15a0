# The MQTT source's tests (tests/ingest/mqtt/), against a real mosquitto
# broker that each test starts on a free port (mosquitto_broker.h, which the
# service's end-to-end tests may link too: iomt_mosquitto_broker). Included
# from tests/CMakeLists.txt.
pkg_check_modules(MOSQUITTO_TEST REQUIRED IMPORTED_TARGET libmosquitto)
find_program(IOMT_MOSQUITTO_BROKER mosquitto PATHS /usr/sbin /usr/local/sbin)
if(NOT IOMT_MOSQUITTO_BROKER)
  set(IOMT_MOSQUITTO_BROKER /usr/sbin/mosquitto)
endif()
add_library(iomt_mosquitto_broker STATIC ${CMAKE_CURRENT_SOURCE_DIR}/ingest/mqtt/mosquitto_broker.cc)
target_include_directories(iomt_mosquitto_broker PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/ingest/mqtt)
target_link_libraries(iomt_mosquitto_broker PUBLIC iomt_common PRIVATE PkgConfig::MOSQUITTO_TEST)
target_compile_definitions(iomt_mosquitto_broker PRIVATE IOMT_MOSQUITTO="${IOMT_MOSQUITTO_BROKER}")

add_executable(mqtt_source_test ${CMAKE_CURRENT_SOURCE_DIR}/ingest/mqtt/mqtt_source_test.cc)
target_link_libraries(mqtt_source_test PRIVATE iomt_mqtt_source iomt_mosquitto_broker iomt_test_util iomt_tls_util
                      GTest::gtest_main)
set_target_properties(mqtt_source_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
gtest_discover_tests(mqtt_source_test DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  TEST_PREFIX "mqtt." PROPERTIES LABELS mqtt TIMEOUT 120)
