/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What cheetah-bench samples of a process: a server's CPU time and
 * resident memory from /proc (so the server runs on this machine), and
 * the benchmark's own CPU time.  Any thread.
 */
#ifndef CHEETAH_PERF_BENCH_PROC_H
#define CHEETAH_PERF_BENCH_PROC_H

/* pid's user + system CPU seconds, its dead threads included; NAN if unreadable. */
double bench_proc_cpu_s(int pid);
/* pid's VmRSS in KiB, or -1. */
long bench_proc_rss_kb(int pid);
/* This process's user + system CPU seconds. */
double bench_self_cpu_s(void);

/*
 * The scheduler's accounting of pid's live threads, summed over
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds): time on a CPU and
 * time runnable but waiting for one.  Returns 0, or -errno when the
 * process is not readable.  The storm uses it to say how much CPU the
 * server and the client each had during the fan-out, and how long they
 * waited for one on a loaded machine.
 */
struct bench_sched {
	unsigned long long run_ns, wait_ns;
};
int bench_proc_sched(int pid, struct bench_sched *out);

/*
 * The NET_RX softirq count of each CPU, from /proc/softirqs, into
 * per_cpu[0..max-1].  Returns the number of CPUs read (at most max), or
 * -errno.  The storm uses it to say on which CPU the receive softirqs of
 * a fan-out ran (inline in the sender on loopback, or where Receive
 * Packet Steering sent them).
 */
int bench_proc_net_rx(unsigned long long *per_cpu, int max);

/*
 * Each CPU's count of packets dropped because its backlog queue
 * (net.core.netdev_max_backlog) was full, from /proc/net/softnet_stat's
 * second column, into per_cpu[0..max-1].  Returns the number of CPUs
 * read, or -errno.  With Receive Packet Steering a fan-out's packets
 * queue on the receiving CPU's backlog, and a drop there costs the
 * sender a retransmission.
 */
int bench_proc_backlog_drops(unsigned long long *per_cpu, int max);

#endif
