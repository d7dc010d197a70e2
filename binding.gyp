# node-gyp build of the same addon, CPU-only (oneDNN), for users who prefer node-gyp to cmake-js, and the
# install script's fallback where cmake-js or cmake is missing (scripts/install.mjs):
#   npx node-gyp rebuild   ->  build/Release/resnet_cudnn.node
# CMakeLists.txt is the primary build; keep the source list in step with it. native/src/cuda/*.cc is plain
# C++ (the CUDA backend's planner, kernel host emulation and cuDNN loader, used by the test exports) and is
# built here too. The CUDA backend itself (native/src/cuda/gpu/, nvcc and cudart) is NOT built here: node-gyp
# and nvcc do not mix. Without RESNET_WITH_CUDA the addon reports info().backends.cuda as unavailable with the
# reason "built without CUDA ..." and compiling for 'cuda' fails with ERR_BACKEND_UNAVAILABLE; nothing crashes.
# scripts/ci/build-gyp.sh builds this in a temporary copy and compares a forward with the cmake-js addon.
{
  "targets": [
    {
      "target_name": "resnet_cudnn",
      "sources": [
        "native/src/addon.cc",
        "native/src/backend_registry.cc",
        "native/src/graph.cc",
        "native/src/graph_from_js.cc",
        "native/src/js_engine.cc",
        "native/src/js_env.cc",
        "native/src/js_error.cc",
        "native/src/js_executable.cc",
        "native/src/js_gpu_image_decoder.cc",
        "native/src/js_host_memory.cc",
        "native/src/js_listen_socket.cc",
        "native/src/js_prepared_graph.cc",
        "native/src/js_shared_memory.cc",
        "native/src/listen_socket.cc",
        "native/src/shared_memory_region.cc",
        "native/src/status.cc",
        "native/src/cpu/adaptive_pool.cc",
        "native/src/cpu/cpu_backend.cc",
        "native/src/cpu/cpu_executable.cc",
        "native/src/cpu/compute_lanes.cc",
        "native/src/cpu/cpu_features.cc",
        "native/src/cpu/lowering.cc",
        "native/src/cpu/lowering_int8.cc",
        "native/src/cpu/lowering_views.cc",
        "native/src/host_input.cc",
        "native/src/host_memory.cc",
        "native/src/input_buffer.cc",
        "native/src/memory_plan.cc",
        "native/src/cuda/bounded_command.cc",
        "native/src/cuda/conv_graph.cc",
        "native/src/cuda/conv_graph_plan.cc",
        "native/src/cuda/conv_path_choice.cc",
        "native/src/cuda/cuda_plan.cc",
        "native/src/cuda/cuda_settings.cc",
        "native/src/cuda/cudnn_loader.cc",
        "native/src/cuda/cudnn_search.cc",
        "native/src/cuda/cudnn_status.cc",
        "native/src/cuda/js_graph_testing.cc",
        "native/src/cuda/js_kernel_testing.cc",
        "native/src/cuda/js_loader_testing.cc",
        "native/src/cuda/js_path_choice_testing.cc",
        "native/src/cuda/js_fp8_testing.cc",
        "native/src/cuda/js_plan_testing.cc",
        "native/src/cuda/js_settings_testing.cc",
        "native/src/cuda/js_stem_testing.cc",
        "native/src/cuda/kernel_args.cc",
        "native/src/cuda/kernel_host.cc",
        "native/src/cuda/plan_describe.cc",
        "native/src/cuda/plan_fp8.cc",
        "native/src/cuda/plan_layout.cc",
        "native/src/cuda/plan_weights.cc",
        "native/src/cuda/image_batch_plan.cc",
        "native/src/cuda/image_decoder_choice.cc",
        "native/src/cuda/image_header.cc",
        "native/src/cuda/jpeg_header.cc",
        "native/src/cuda/js_image_decoder.cc",
        "native/src/cuda/js_image_testing.cc",
        "native/src/cuda/js_nvjpeg_testing.cc",
        "native/src/cuda/js_preprocess_testing.cc",
        "native/src/cuda/library_open.cc",
        "native/src/cuda/library_search.cc",
        "native/src/cuda/nvjpeg_loader.cc",
        "native/src/cuda/nvjpeg_session.cc",
        "native/src/cuda/preprocess_args.cc",
        "native/src/cuda/preprocess_plan.cc",
        "native/src/cuda/plan_stem.cc",
        "native/src/cuda/stem_choice.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "RESNET_ADDON_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fopenmp", "-O3"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-ldl", "-lrt"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-fopenmp"]
      }
    }
  ]
}
