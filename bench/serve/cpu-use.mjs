// @ts-check
/**
 * CPU use over a measurement window, in cores (CPU seconds per second of wall time): the server's from
 * `/proc/PID/stat` (utime + stime of every thread of the process, in clock ticks), the load generator's
 * own from `process.cpuUsage()` (microseconds).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * utime and stime from the text of `/proc/PID/stat`. The command name (field 2) is in parentheses and
 * may itself hold spaces and parentheses, so the fields are counted from the last `)`: after it come
 * field 3 (state) onwards, and utime and stime are fields 14 and 15.
 * @param {string} text
 * @returns {{ utimeTicks: number; stimeTicks: number }}
 */
export function parseProcStat(text) {
  const end = text.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/PID/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const fields = text.slice(end + 1).trim().split(/\s+/);
  const utimeTicks = Number(fields[14 - 3]);
  const stimeTicks = Number(fields[15 - 3]);
  if (!Number.isInteger(utimeTicks) || !Number.isInteger(stimeTicks)) {
    throw new Error(`/proc/PID/stat has no utime and stime where expected: ${JSON.stringify(text.slice(0, 200))}`);
  }
  return { utimeTicks, stimeTicks };
}

/** @typedef {{ ticks: number; atMs: number }} ProcSample */

/**
 * Cores used between two samples of `/proc/PID/stat`.
 * @param {ProcSample} before
 * @param {ProcSample} after
 * @param {number} ticksPerSecond the kernel's USER_HZ (`getconf CLK_TCK`)
 */
export function coresBetween(before, after, ticksPerSecond) {
  const seconds = (after.atMs - before.atMs) / 1000;
  if (!(seconds > 0)) return NaN;
  return (after.ticks - before.ticks) / ticksPerSecond / seconds;
}

/**
 * Cores used between two `process.cpuUsage()` readings taken `ms` apart.
 * @param {NodeJS.CpuUsage} before
 * @param {NodeJS.CpuUsage} after
 * @param {number} ms
 */
export function coresFromCpuUsage(before, after, ms) {
  if (!(ms > 0)) return NaN;
  return (after.user - before.user + after.system - before.system) / 1000 / ms;
}

/**
 * The process's CPU ticks so far, with the time read; null where there is no `/proc` (not Linux) or the
 * process is gone.
 * @param {number} pid
 * @returns {ProcSample | null}
 */
export function sampleProcess(pid) {
  try {
    const { utimeTicks, stimeTicks } = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { ticks: utimeTicks + stimeTicks, atMs: performance.now() };
  } catch {
    return null;
  }
}

let ticks = 0;
/** USER_HZ, the unit of `/proc/PID/stat`'s times: `getconf CLK_TCK`, 100 (Linux's value) if that fails. */
export function clockTicksPerSecond() {
  if (ticks > 0) return ticks;
  try {
    ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
  } catch {
    ticks = 0;
  }
  if (!Number.isInteger(ticks) || ticks <= 0) ticks = 100;
  return ticks;
}
