// CPU time and peak resident memory of a server process, read from /proc (Linux):
// the figures that stay comparable when other work shares the machine.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds the process has used so far, or null once it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after it are separated by single spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** The process's peak resident set size (VmHWM) in bytes, or null once it is gone. */
export function peakRssBytesOf(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Context switches of a process's main thread (its event loop for Node.js), from /proc/<pid>/status. */
export interface ContextSwitches {
  /** It blocked waiting (for epoll, a lock, the disk): for an event loop, one per idle wait. */
  readonly voluntary: number;
  /** It was preempted while it could run: the run queue was longer than the cores. */
  readonly involuntary: number;
}

/** The main thread's context switches so far, or null once the process is gone. */
export function contextSwitchesOf(pid: number): ContextSwitches | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const voluntary = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
    const involuntary = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
    return voluntary === null || involuntary === null ? null : { voluntary: Number(voluntary[1]), involuntary: Number(involuntary[1]) };
  } catch {
    return null;
  }
}

/** A server process the bench measures. */
export interface MeasuredProcess {
  readonly name: string;
  readonly pid: number;
}
