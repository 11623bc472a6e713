# SPDX-License-Identifier: Apache-2.0
# Configure, build and run a user project against Vireo (cmake -P; CTest label packaging).
#   KIND=subdirectory  the consumer does add_subdirectory(VIREO_SOURCE_DIR)
#   KIND=find_package  Vireo is configured alone and installed into WORK_DIR/prefix first
# Also takes VIREO_SOURCE_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR, MAKE_PROGRAM, CXX_COMPILER.
cmake_minimum_required(VERSION 3.21)

foreach(_var IN ITEMS KIND VIREO_SOURCE_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_consumer.cmake: -D${_var}=... is required")
  endif()
endforeach()

set(_common -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
  list(APPEND _common "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

function(run)
  string(REPLACE ";" " " _shown "${ARGN}")
  message(STATUS "run: ${_shown}")
  execute_process(COMMAND ${ARGN} COMMAND_ERROR_IS_FATAL ANY)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(_consumer_options "")

if(KIND STREQUAL "subdirectory")
  list(APPEND _consumer_options "-DVIREO_SOURCE_DIR=${VIREO_SOURCE_DIR}")
elseif(KIND STREQUAL "find_package")
  set(_prefix "${WORK_DIR}/prefix")
  run("${CMAKE_COMMAND}" -S "${VIREO_SOURCE_DIR}" -B "${WORK_DIR}/vireo-build" ${_common}
      -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF -DVIREO_BUILD_EXAMPLES=OFF
      -DVIREO_BUILD_FUZZERS=OFF -DVIREO_INSTALL=ON "-DCMAKE_INSTALL_PREFIX=${_prefix}")
  run("${CMAKE_COMMAND}" --build "${WORK_DIR}/vireo-build")
  run("${CMAKE_COMMAND}" --install "${WORK_DIR}/vireo-build")
  list(APPEND _consumer_options "-DCMAKE_PREFIX_PATH=${_prefix}"
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown KIND '${KIND}'")
endif()

set(_build "${WORK_DIR}/consumer-build")
run("${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_build}" ${_common} ${_consumer_options})

if(KIND STREQUAL "find_package")
  # The package must come from the prefix just installed, not from the system.
  file(STRINGS "${_build}/CMakeCache.txt" _vireo_dir REGEX "^vireo_DIR:")
  string(FIND "${_vireo_dir}" "${_prefix}/share/cmake/vireo" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "find_package(vireo) did not use ${_prefix}: ${_vireo_dir}")
  endif()
endif()

run("${CMAKE_COMMAND}" --build "${_build}")
run("${_build}/consumer")
message(STATUS "packaging.${KIND}: consumer built and ran")
