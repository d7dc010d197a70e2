# The nvJPEG header cross-check (nvjpeg_header_check.cc): compiled wherever nvJPEG 12/13's nvjpeg.h and the CUDA
# toolkit's headers (nvjpeg.h includes cuda_runtime_api.h and library_types.h) are found, so that nvjpeg_api.h's
# declarations are proved against the real ones, as cudnn_header_check.cmake does for cuDNN. Where nvjpeg.h is:
# NVJPEG_INCLUDE_DIR (cache or environment variable), else beside RESNET_NVJPEG_PATH's library, the include
# folders of python3's nvidia-nvjpeg packages (nvidia/cu13/include, nvidia/nvjpeg/include), the CUDA toolkit and
# the system folders (header_search.cmake). Sets RESNET_NVJPEG_HEADER_CHECK_SUMMARY for the build's last line.
set(NVJPEG_INCLUDE_DIR "$ENV{NVJPEG_INCLUDE_DIR}" CACHE PATH
    "Folder holding nvJPEG's nvjpeg.h, for the header check (searched when empty)")

include(${CMAKE_CURRENT_LIST_DIR}/header_search.cmake)
resnet_find_header(RESNET_NVJPEG_H_DIR HEADER nvjpeg.h CACHE_VAR NVJPEG_INCLUDE_DIR PATH_VARIABLE RESNET_NVJPEG_PATH
                   PYTHON_MODULES nvidia.cu13 nvidia.nvjpeg)

if(NOT RESNET_NVJPEG_H_DIR)
  set(RESNET_NVJPEG_HEADER_CHECK_SUMMARY
      "not run (no nvjpeg.h found; set NVJPEG_INCLUDE_DIR to check nvjpeg_api.h against real nvJPEG headers)")
elseif(NOT CUDAToolkit_FOUND)
  set(RESNET_NVJPEG_HEADER_CHECK_SUMMARY
      "not run (nvjpeg.h found in ${RESNET_NVJPEG_H_DIR}, but no CUDA toolkit headers, which it includes)")
else()
  set(RESNET_NVJPEG_VERSION_TEXT "")
  file(STRINGS "${RESNET_NVJPEG_H_DIR}/nvjpeg.h" RESNET_NVJPEG_VERSION_LINES
       REGEX "^#define NVJPEG_VER_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(line IN LISTS RESNET_NVJPEG_VERSION_LINES)
    if(line MATCHES "^#define NVJPEG_VER_(MAJOR|MINOR|PATCH) +([0-9]+)")
      set(RESNET_NVJPEG_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endif()
  endforeach()
  set(RESNET_NVJPEG_HEADER_VERSION "${RESNET_NVJPEG_MAJOR}.${RESNET_NVJPEG_MINOR}.${RESNET_NVJPEG_PATCH}")
  if(NOT RESNET_NVJPEG_MAJOR MATCHES "^1[23]$")
    set(RESNET_NVJPEG_HEADER_CHECK_SUMMARY
        "not run (nvjpeg.h in ${RESNET_NVJPEG_H_DIR} is nvJPEG ${RESNET_NVJPEG_HEADER_VERSION}, not 12.x or 13.x)")
  else()
    # An object library that produces no code: it exists for its static_asserts, and the addon waits for it.
    add_library(resnet_nvjpeg_header_check OBJECT ${CMAKE_CURRENT_LIST_DIR}/nvjpeg_header_check.cc)
    target_include_directories(resnet_nvjpeg_header_check PRIVATE
      ${RESNET_NVJPEG_H_DIR} ${CUDAToolkit_INCLUDE_DIRS} ${CMAKE_CURRENT_SOURCE_DIR}/native/src)
    add_dependencies(${PROJECT_NAME} resnet_nvjpeg_header_check)
    set(RESNET_NVJPEG_HEADER_CHECK_SUMMARY
        "ran (nvjpeg_api.h checked against nvJPEG ${RESNET_NVJPEG_HEADER_VERSION} headers in ${RESNET_NVJPEG_H_DIR})")
  endif()
endif()
message(STATUS "resnet-cudnn: nvJPEG header check: ${RESNET_NVJPEG_HEADER_CHECK_SUMMARY}")
