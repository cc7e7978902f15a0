# The web console (tests/web/): the mapping tools' HTTP API from curl, and
# the page in a real browser (Debian's chromium, driven by playwright-core
# from tests/web/node_modules, which make test installs). Each
# tests/web/*_test.js is one test, run by the pinned Node's test runner.
add_test(NAME mapping_tools_test
  COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> bash ${CMAKE_CURRENT_SOURCE_DIR}/web/mapping_tools_test.sh
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(mapping_tools_test PROPERTIES LABELS serve TIMEOUT 300)
file(GLOB iomt_web_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/web/*_test.js)
foreach(file ${iomt_web_tests})
  get_filename_component(stem ${file} NAME_WE)
  add_test(NAME web_${stem}
    COMMAND ${CMAKE_COMMAND} -E env IOMT=$<TARGET_FILE:iomt> IOMT_SCREENSHOTS=${CMAKE_BINARY_DIR}/web-screenshots
      ${IOMT_NODE_COMMAND} --test --test-reporter=spec ${file}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  # A browser and a service each: one at a time with the other serve tests
  # is enough load for two cores.
  set_tests_properties(web_${stem} PROPERTIES LABELS "serve;web" TIMEOUT 300)
endforeach()
