#include "cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdint>

namespace resnet {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// CPUID leaf `leaf`, subleaf `subleaf`; zeros when the CPU has no such leaf.
Registers cpuid(unsigned leaf, unsigned subleaf) {
  Registers r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Registers{};
  return r;
}

// The register state the OS saves and restores (XCR0): an instruction set whose registers it does not
// manage cannot be used even when CPUID lists it. Zero when the OS does not enable XSAVE.
uint64_t os_enabled_state() {
  if (!(cpuid(1, 0).ecx & (1u << 27))) return 0;  // OSXSAVE
  unsigned low = 0, high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<uint64_t>(high) << 32) | low;
}

bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }
#endif

}  // namespace

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
  }
}

std::vector<std::string> low_precision_isas() {
  std::vector<std::string> found;
#if defined(__x86_64__) || defined(__i386__)
  const uint64_t xcr0 = os_enabled_state();
  const bool avx_state = (xcr0 & 0x6) == 0x6;                    // XMM and YMM
  const bool avx512_state = avx_state && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM upper halves, ZMM16-31
  const bool amx_state = (xcr0 & 0x60000) == 0x60000;            // XTILECFG and XTILEDATA
  if (cpuid(0, 0).eax < 7) return found;
  const Registers leaf7 = cpuid(7, 0);
  const Registers leaf7_1 = leaf7.eax >= 1 ? cpuid(7, 1) : Registers{};
  if (avx_state && bit(leaf7_1.eax, 4)) found.emplace_back("avx_vnni");
  if (avx512_state && bit(leaf7.ecx, 11)) found.emplace_back("avx512_vnni");
  if (avx512_state && bit(leaf7_1.eax, 5)) found.emplace_back("avx512_bf16");
  if (amx_state && bit(leaf7.edx, 25)) found.emplace_back("amx_int8");
  if (amx_state && bit(leaf7.edx, 22)) found.emplace_back("amx_bf16");
#endif
  return found;
}

bool native_bfloat16(dnnl::cpu_isa isa) {
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

Status check_bfloat16(dnnl::cpu_isa isa) {
  if (native_bfloat16(isa)) return Status();
  return Status(Code::kUnsupported, cat("bfloat16 on the CPU needs AVX512-BF16 or AMX (this CPU's oneDNN ISA is ",
                                        isa_name(isa), "); use dtype 'float32'"));
}

}  // namespace resnet
