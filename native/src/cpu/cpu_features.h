// What this CPU offers for low-precision inference, from two sources that can differ: the instructions
// CPUID reports (and the OS enabled), and the instruction set oneDNN's kernels really use, which
// ONEDNN_MAX_CPU_ISA may cap below what the CPU has. Compiling trusts oneDNN's answer; the CPUID list
// is what `resnet info` shows as found.
#pragma once

#include <dnnl.hpp>

#include <string>
#include <vector>

#include "status.h"

namespace resnet {

/// oneDNN's name for an ISA as dnnl_cpu_isa_t spells it ("avx512_core_bf16"), "generic" for others.
const char* isa_name(dnnl::cpu_isa isa);

/// The low-precision instruction sets this CPU has and the OS enabled, in Linux's /proc/cpuinfo
/// spelling, from this list in this order: avx_vnni, avx512_vnni, avx512_bf16, amx_int8, amx_bf16.
/// Empty off x86.
std::vector<std::string> low_precision_isas();

/// True when oneDNN's effective ISA computes bfloat16 in hardware (avx512_core_bf16 or avx512_core_amx).
/// Below that oneDNN 2.6 either emulates bfloat16 on AVX-512 (3-4x slower than float32) or has none.
bool native_bfloat16(dnnl::cpu_isa isa);

/// OK when `isa` computes bfloat16 natively, else kUnsupported naming what is missing and what to use.
Status check_bfloat16(dnnl::cpu_isa isa);

}  // namespace resnet
