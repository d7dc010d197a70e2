/**
 * The CPU's feature flags as Linux reports them (`/proc/cpuinfo`, the first processor's `flags` line): the
 * independent reference that the addon's CPUID reading is checked against.
 */
import { readFileSync } from 'node:fs';

/** The flags of the first processor, or null where `/proc/cpuinfo` cannot be read (not Linux). */
export function cpuFlags(): Set<string> | null {
  let text: string;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const line = /^flags\s*:\s*(.*)$/m.exec(text);
  return line ? new Set(line[1]!.trim().split(/\s+/)) : null;
}

/**
 * True when oneDNN 2.6 computes bfloat16 in hardware on this CPU: its `avx512_core_bf16` level (AVX-512
 * F/BW/VL/DQ, VNNI and BF16), which its AMX level also requires.
 */
export function cpuHasNativeBFloat16(flags: Set<string>): boolean {
  return ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16'].every((flag) => flags.has(flag));
}
