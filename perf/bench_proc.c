/* SPDX-License-Identifier: Apache-2.0 */
#include "perf/bench_proc.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The server's CPU time in seconds (all its threads, dead ones too). */
double bench_proc_cpu_s(int pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long bench_proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

double bench_self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int bench_proc_sched(int pid, struct bench_sched *out)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	out->run_ns = out->wait_ns = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char tpath[320];
		unsigned long long run, wait;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(tpath, sizeof(tpath), "/proc/%d/task/%s/schedstat", pid, de->d_name);
		f = fopen(tpath, "r");
		if (!f)
			continue; /* the thread ended meanwhile */
		if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
			out->run_ns += run;
			out->wait_ns += wait;
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

int bench_proc_net_rx(unsigned long long *per_cpu, int max)
{
	char line[4096];
	int n = -ENOENT;
	FILE *f = fopen("/proc/softirqs", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "NET_RX:"), *end;

		if (!p)
			continue;
		p += strlen("NET_RX:");
		for (n = 0; n < max; n++) {
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				break;
			per_cpu[n] = v;
			p = end;
		}
		break;
	}
	fclose(f);
	return n;
}

int bench_proc_backlog_drops(unsigned long long *per_cpu, int max)
{
	unsigned int processed, dropped;
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/net/softnet_stat", "r");

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f))
		if (sscanf(line, "%x %x", &processed, &dropped) == 2)
			per_cpu[n++] = dropped;
	fclose(f);
	return n;
}
