# resnet_find_header(<out> HEADER <file> CACHE_VAR <variable> PATH_VARIABLE <environment variable>
#                    PYTHON_MODULES <module>...)
# Where a library's header is, for the header cross-checks (cudnn_header_check.cmake, nvjpeg_header_check.cmake):
# sets <out> to the resolved folder holding <file>, or "" when none is found. The folder named by the cache (or
# environment) variable <variable> when it is set (a warning when it holds no <file>); else beside the library
# that <environment variable> names (its ../include), the include folders of python3's packages <module>... (found
# with importlib's find_spec, which runs no package code; any failure finds nothing), the CUDA toolkit and the
# system folders.
function(resnet_find_header out)
  cmake_parse_arguments(ARG "" "HEADER;CACHE_VAR;PATH_VARIABLE" "PYTHON_MODULES" ${ARGN})
  set(hints)
  if(${ARG_CACHE_VAR})
    list(APPEND hints ${${ARG_CACHE_VAR}})
  else()
    if(DEFINED ENV{${ARG_PATH_VARIABLE}} AND NOT "$ENV{${ARG_PATH_VARIABLE}}" STREQUAL "")
      set(place "$ENV{${ARG_PATH_VARIABLE}}")
      if(NOT IS_DIRECTORY "${place}")
        get_filename_component(place "${place}" DIRECTORY)
      endif()
      list(APPEND hints "${place}/../include")
    endif()
    find_program(RESNET_PYTHON3 python3)
    if(RESNET_PYTHON3)
      execute_process(
        COMMAND ${RESNET_PYTHON3} -c
          "import importlib.util as u, os, sys\nfor n in sys.argv[1:]:\n    try: s = u.find_spec(n)\n    except Exception: s = None\n    for p in (s.submodule_search_locations or []) if s else []: print(os.path.join(p, 'include'))"
          ${ARG_PYTHON_MODULES}
        TIMEOUT 10
        OUTPUT_VARIABLE python_includes
        ERROR_QUIET
        RESULT_VARIABLE python_result
        OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(python_result EQUAL 0 AND python_includes)
        string(REPLACE "\n" ";" python_includes "${python_includes}")
        list(APPEND hints ${python_includes})
      endif()
    endif()
    list(APPEND hints ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
         /usr/include)
  endif()
  set(found "")
  foreach(folder IN LISTS hints)
    if(EXISTS "${folder}/${ARG_HEADER}")
      get_filename_component(found "${folder}" REALPATH)
      break()
    endif()
  endforeach()
  if(NOT found AND ${ARG_CACHE_VAR})
    message(WARNING "resnet-cudnn: ${ARG_CACHE_VAR} is ${${ARG_CACHE_VAR}}, which holds no ${ARG_HEADER}")
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()
