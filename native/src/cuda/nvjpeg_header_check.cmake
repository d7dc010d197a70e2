# The nvJPEG header cross-check (nvjpeg_header_check.cc): compiled wherever nvJPEG 12/13's nvjpeg.h and the CUDA
# toolkit's headers (nvjpeg.h includes cuda_runtime_api.h and library_types.h) are found, so that nvjpeg_api.h's
# declarations are proved against the real ones, as cudnn_header_check.cmake does for cuDNN. Where nvjpeg.h is:
# NVJPEG_INCLUDE_DIR (cache or environment variable), else beside RESNET_NVJPEG_PATH's library, the include
# folders of python3's nvidia-nvjpeg packages (nvidia/cu13/include, nvidia/nvjpeg/include), the CUDA toolkit and
# the system folders. Sets RESNET_NVJPEG_HEADER_CHECK_SUMMARY for the build's last line.
set(NVJPEG_INCLUDE_DIR "$ENV{NVJPEG_INCLUDE_DIR}" CACHE PATH
    "Folder holding nvJPEG's nvjpeg.h, for the header check (searched when empty)")

set(RESNET_NVJPEG_HEADER_HINTS)
if(NVJPEG_INCLUDE_DIR)
  list(APPEND RESNET_NVJPEG_HEADER_HINTS ${NVJPEG_INCLUDE_DIR})
else()
  if(DEFINED ENV{RESNET_NVJPEG_PATH} AND NOT "$ENV{RESNET_NVJPEG_PATH}" STREQUAL "")
    set(RESNET_NVJPEG_LIBRARY_PLACE "$ENV{RESNET_NVJPEG_PATH}")
    if(NOT IS_DIRECTORY "${RESNET_NVJPEG_LIBRARY_PLACE}")
      get_filename_component(RESNET_NVJPEG_LIBRARY_PLACE "${RESNET_NVJPEG_LIBRARY_PLACE}" DIRECTORY)
    endif()
    list(APPEND RESNET_NVJPEG_HEADER_HINTS "${RESNET_NVJPEG_LIBRARY_PLACE}/../include")
  endif()
  find_program(RESNET_PYTHON3 python3)
  if(RESNET_PYTHON3)
    # find_spec finds the (possibly namespace) packages without running them; any failure just finds nothing.
    execute_process(
      COMMAND ${RESNET_PYTHON3} -c
        "import importlib.util as u, os\nfor n in ('nvidia.cu13', 'nvidia.nvjpeg'):\n    try: s = u.find_spec(n)\n    except Exception: s = None\n    for p in (s.submodule_search_locations or []) if s else []: print(os.path.join(p, 'include'))"
      TIMEOUT 10
      OUTPUT_VARIABLE RESNET_PYTHON_NVJPEG_INCLUDES
      ERROR_QUIET
      RESULT_VARIABLE RESNET_PYTHON_NVJPEG_RESULT
      OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(RESNET_PYTHON_NVJPEG_RESULT EQUAL 0 AND RESNET_PYTHON_NVJPEG_INCLUDES)
      string(REPLACE "\n" ";" RESNET_PYTHON_NVJPEG_INCLUDES "${RESNET_PYTHON_NVJPEG_INCLUDES}")
      list(APPEND RESNET_NVJPEG_HEADER_HINTS ${RESNET_PYTHON_NVJPEG_INCLUDES})
    endif()
  endif()
  list(APPEND RESNET_NVJPEG_HEADER_HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include
       /usr/include/${CMAKE_LIBRARY_ARCHITECTURE} /usr/include)
endif()

set(RESNET_NVJPEG_H_DIR "")
foreach(folder IN LISTS RESNET_NVJPEG_HEADER_HINTS)
  if(EXISTS "${folder}/nvjpeg.h")
    get_filename_component(RESNET_NVJPEG_H_DIR "${folder}" REALPATH)
    break()
  endif()
endforeach()

if(NOT RESNET_NVJPEG_H_DIR)
  if(NVJPEG_INCLUDE_DIR)
    message(WARNING "resnet-cudnn: NVJPEG_INCLUDE_DIR is ${NVJPEG_INCLUDE_DIR}, which holds no nvjpeg.h")
  endif()
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
  # An object library that produces no code: it exists for its static_asserts, and the addon waits for it.
  add_library(resnet_nvjpeg_header_check OBJECT ${CMAKE_CURRENT_LIST_DIR}/nvjpeg_header_check.cc)
  target_include_directories(resnet_nvjpeg_header_check PRIVATE
    ${RESNET_NVJPEG_H_DIR} ${CUDAToolkit_INCLUDE_DIRS} ${CMAKE_CURRENT_SOURCE_DIR}/native/src)
  add_dependencies(${PROJECT_NAME} resnet_nvjpeg_header_check)
  set(RESNET_NVJPEG_HEADER_CHECK_SUMMARY
      "ran (nvjpeg_api.h checked against nvJPEG ${RESNET_NVJPEG_HEADER_VERSION} headers in ${RESNET_NVJPEG_H_DIR})")
endif()
message(STATUS "resnet-cudnn: nvJPEG header check: ${RESNET_NVJPEG_HEADER_CHECK_SUMMARY}")
