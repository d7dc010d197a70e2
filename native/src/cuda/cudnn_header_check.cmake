# The cuDNN header cross-check (cudnn_header_check.cc): compiled wherever cuDNN 9's cudnn.h and the CUDA
# toolkit's headers (cudnn.h includes cuda_runtime_api.h) are found, so that cudnn_api.h's declarations are
# proved against the real ones. Where cudnn.h is: CUDNN_INCLUDE_DIR (cache or environment variable), else
# beside RESNET_CUDNN_PATH's library, the include folder of python3's nvidia-cudnn package, the CUDA toolkit
# and the system folders (header_search.cmake). Sets RESNET_CUDNN_HEADER_CHECK_SUMMARY for the build's last line.
set(CUDNN_INCLUDE_DIR "$ENV{CUDNN_INCLUDE_DIR}" CACHE PATH
    "Folder holding cuDNN 9's cudnn.h, for the header check (searched when empty)")

include(${CMAKE_CURRENT_LIST_DIR}/header_search.cmake)
resnet_find_header(RESNET_CUDNN_H_DIR HEADER cudnn.h CACHE_VAR CUDNN_INCLUDE_DIR PATH_VARIABLE RESNET_CUDNN_PATH
                   PYTHON_MODULES nvidia.cudnn)

set(RESNET_CUDNN_HEADER_CHECK OFF)
if(NOT RESNET_CUDNN_H_DIR)
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
