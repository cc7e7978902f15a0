# The durable per-connector event log of `iomt serve`; included from
# src/CMakeLists.txt.
find_package(Threads REQUIRED)
add_library(iomt_event_log STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/pipeline/queue/event_log.cc)
target_link_libraries(iomt_event_log PUBLIC iomt_common Threads::Threads)

# Records/s with and without fdatasync, 1 and 4 appender threads (a plain
# program, no Google Benchmark: each case is one timed run). Built with the
# other benchmarks; otherwise only on request (`--target event_log_bench`).
if(IOMT_BUILD_BENCH AND NOT IOMT_SANITIZE AND NOT IOMT_FUZZ)
  add_executable(event_log_bench ${PROJECT_SOURCE_DIR}/bench/event_log_bench.cc)
else()
  add_executable(event_log_bench EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/event_log_bench.cc)
endif()
target_link_libraries(event_log_bench PRIVATE iomt_event_log)
set_target_properties(event_log_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
