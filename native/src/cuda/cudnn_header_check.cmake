# The cuDNN header cross-check (cudnn_header_check.cc): compiled wherever cuDNN 9's cudnn.h and the CUDA
# toolkit's headers (cudnn.h includes cuda_runtime_api.h) are found, so that cudnn_api.h's declarations are
# proved against the real ones. Where cudnn.h is: CUDNN_INCLUDE_DIR (cache or environment variable), else
# beside RESNET_CUDNN_PATH's library, the include folder of python3's nvidia-cudnn package, the CUDA toolkit
# and the system folders. Sets RESNET_CUDNN_HEADER_CHECK_SUMMARY for the build's last line.
set(CUDNN_INCLUDE_DIR "$ENV{CUDNN_INCLUDE_DIR}" CACHE PATH
    "Folder holding cuDNN 9's cudnn.h, for the header check (searched when empty)")

set(RESNET_CUDNN_HEADER_HINTS)
if(CUDNN_INCLUDE_DIR)
  list(APPEND RESNET_CUDNN_HEADER_HINTS ${CUDNN_INCLUDE_DIR})
else()
  if(DEFINED ENV{RESNET_CUDNN_PATH} AND NOT "$ENV{RESNET_CUDNN_PATH}" STREQUAL "")
    set(RESNET_CUDNN_LIBRARY_PLACE "$ENV{RESNET_CUDNN_PATH}")
    if(NOT IS_DIRECTORY "${RESNET_CUDNN_LIBRARY_PLACE}")
      get_filename_component(RESNET_CUDNN_LIBRARY_PLACE "${RESNET_CUDNN_LIBRARY_PLACE}" DIRECTORY)
    endif()
    list(APPEND RESNET_CUDNN_HEADER_HINTS "${RESNET_CUDNN_LIBRARY_PLACE}/../include")
  endif()
  find_program(RESNET_PYTHON3 python3)
  if(RESNET_PYTHON3)
    # find_spec finds the (possibly namespace) package without running it; any failure just finds nothing.
    execute_process(
      COMMAND ${RESNET_PYTHON3} -c
        "import importlib.util as u, os; s = u.find_spec('nvidia.cudnn'); print(*[os.path.join(p, 'include') for p in (s.submodule_search_locations or [])], sep=chr(10))"
      TIMEOUT 10
      OUTPUT_VARIABLE RESNET_PYTHON_CUDNN_INCLUDES
      ERROR_QUIET
      RESULT_VARIABLE RESNET_PYTHON_CUDNN_RESULT
      OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(RESNET_PYTHON_CUDNN_RESULT EQUAL 0 AND RESNET_PYTHON_CUDNN_INCLUDES)
      string(REPLACE "\n" ";" RESNET_PYTHON_CUDNN_INCLUDES "${RESNET_PYTHON_CUDNN_INCLUDES}")
      list(APPEND RESNET_CUDNN_HEADER_HINTS ${RESNET_PYTHON_CUDNN_INCLUDES})
    endif()
  endif()
  list(APPEND RESNET_CUDNN_HEADER_HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include
       /usr/include/${CMAKE_LIBRARY_ARCHITECTURE} /usr/include)
endif()

set(RESNET_CUDNN_H_DIR "")
foreach(folder IN LISTS RESNET_CUDNN_HEADER_HINTS)
  if(EXISTS "${folder}/cudnn.h")
    get_filename_component(RESNET_CUDNN_H_DIR "${folder}" REALPATH)
    break()
  endif()
endforeach()

set(RESNET_CUDNN_HEADER_CHECK OFF)
if(NOT RESNET_CUDNN_H_DIR)
  if(CUDNN_INCLUDE_DIR)
    message(WARNING "resnet-cudnn: CUDNN_INCLUDE_DIR is ${CUDNN_INCLUDE_DIR}, which holds no cudnn.h")
  endif()
  set(RESNET_CUDNN_HEADER_CHECK_SUMMARY
      "not run (no cudnn.h found; set CUDNN_INCLUDE_DIR to check cudnn_api.h against real cuDNN 9 headers)")
elseif(NOT CUDAToolkit_FOUND)
  set(RESNET_CUDNN_HEADER_CHECK_SUMMARY
      "not run (cudnn.h found in ${RESNET_CUDNN_H_DIR}, but no CUDA toolkit headers, which it includes)")
else()
  # cuDNN 9 keeps its version in cudnn_version.h; older releases in cudnn.h itself.
  set(RESNET_CUDNN_MAJOR "")
  foreach(header cudnn_version.h cudnn.h)
    if(NOT RESNET_CUDNN_MAJOR AND EXISTS "${RESNET_CUDNN_H_DIR}/${header}")
      file(STRINGS "${RESNET_CUDNN_H_DIR}/${header}" RESNET_CUDNN_VERSION_LINES
           REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
      foreach(line IN LISTS RESNET_CUDNN_VERSION_LINES)
        if(line MATCHES "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +([0-9]+)")
          set(RESNET_CUDNN_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
        endif()
      endforeach()
    endif()
  endforeach()
  set(RESNET_CUDNN_HEADER_VERSION "${RESNET_CUDNN_MAJOR}.${RESNET_CUDNN_MINOR}.${RESNET_CUDNN_PATCHLEVEL}")
  if(NOT RESNET_CUDNN_MAJOR EQUAL 9)
    set(RESNET_CUDNN_HEADER_CHECK_SUMMARY
        "not run (cudnn.h in ${RESNET_CUDNN_H_DIR} is cuDNN ${RESNET_CUDNN_HEADER_VERSION}, not 9.x)")
  else()
    set(RESNET_CUDNN_HEADER_CHECK ON)
    # An object library that produces no code: it exists for its static_asserts, and the addon waits for it.
    add_library(resnet_cudnn_header_check OBJECT ${CMAKE_CURRENT_LIST_DIR}/cudnn_header_check.cc)
    target_include_directories(resnet_cudnn_header_check PRIVATE
      ${RESNET_CUDNN_H_DIR} ${CUDAToolkit_INCLUDE_DIRS} ${CMAKE_CURRENT_SOURCE_DIR}/native/src)
    add_dependencies(${PROJECT_NAME} resnet_cudnn_header_check)
    set(RESNET_CUDNN_HEADER_CHECK_SUMMARY
        "ran (cudnn_api.h checked against cuDNN ${RESNET_CUDNN_HEADER_VERSION} headers in ${RESNET_CUDNN_H_DIR})")
  endif()
endif()
message(STATUS "resnet-cudnn: cuDNN header check: ${RESNET_CUDNN_HEADER_CHECK_SUMMARY}")
