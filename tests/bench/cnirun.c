/*
 * cnirun: runs CNI plugin calls the way a container runtime does, and
 * times each one.  Used by the benchmarks in tests/bench/ to measure
 * sluice's shim and the reference plugins identically.
 *
 *   cnirun seq PLAN      run PLAN's calls one after the other
 *   cnirun storm PLAN    start all of PLAN's calls at once, wait for all
 *
 * PLAN has one call per line, tab-separated fields:
 *
 *   TAG NETNS PLUGIN CONF COMMAND CONTAINERID CNI_NETNS IFNAME ARGS
 *   CNI_PATH OUT
 *
 * The child enters network namespace NETNS (a path, or "-" for none),
 * gets CONF on stdin, stdout and stderr in OUT (or /dev/null for "-"), an
 * environment of PATH and the CNI_* variables only, and executes PLUGIN.
 * Each call is timed from just before fork() to the return of wait4()
 * (seq), or from the release of all children to the return of wait4()
 * (storm; children are forked and set up first, then released together).
 *
 * Output on stdout, one line per call in PLAN order:
 *
 *   TAG COMMAND EXIT-STATUS WALL-US CPU-US
 *
 * where CPU-US is the user + system time of the plugin process and the
 * processes it waited for.  storm then prints "total WALL-US".
 * Exits 0 if every call was run (whatever their statuses), 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_FIELDS 11
#define MAX_CALLS 100000

struct call {
    char *field[N_FIELDS]; /* Fields of the PLAN line. */
    pid_t pid;             /* While running. */
    int status;            /* Exit status, or 128 + signal. */
    long long wall_us;     /* Wall time. */
    long long cpu_us;      /* CPU time of the call's processes. */
};

enum {
    F_TAG, F_NETNS, F_PLUGIN, F_CONF, F_COMMAND, F_CONTAINERID, F_CNI_NETNS,
    F_IFNAME, F_ARGS, F_CNI_PATH, F_OUT,
};

static long long
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long
rusage_us(const struct rusage *ru)
{
    return ((long long) ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000
           + ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

/* Reads PLAN into a new array; returns the number of calls, or -1. */
static int
read_plan(const char *file_name, struct call **callsp)
{
    FILE *file = fopen(file_name, "r");
    if (!file) {
        fprintf(stderr, "cnirun: %s: %s\n", file_name, strerror(errno));
        return -1;
    }
    struct call *calls = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &line_cap, file)) > 0) {
        lineno++;
        if (line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (!len) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            if (cap > MAX_CALLS) {
                fprintf(stderr, "cnirun: %s: more than %d calls\n",
                        file_name, MAX_CALLS);
                goto error;
            }
            struct call *c = realloc(calls, cap * sizeof *c);
            if (!c) {
                fprintf(stderr, "cnirun: out of memory\n");
                goto error;
            }
            calls = c;
        }
        struct call *call = &calls[n];
        memset(call, 0, sizeof *call);
        char *copy = strdup(line);
        if (!copy) {
            fprintf(stderr, "cnirun: out of memory\n");
            goto error;
        }
        char *p = copy;
        for (int i = 0; i < N_FIELDS; i++) {
            /* strsep, not strtok: empty fields (ARGS) are allowed. */
            call->field[i] = strsep(&p, "\t");
            if (!call->field[i]) {
                fprintf(stderr, "cnirun: %s:%d: %d fields, expected %d\n",
                        file_name, lineno, i, N_FIELDS);
                free(copy);
                goto error;
            }
        }
        if (p) {
            fprintf(stderr, "cnirun: %s:%d: more than %d fields\n",
                    file_name, lineno, N_FIELDS);
            free(copy);
            goto error;
        }
        n++;
    }
    free(line);
    fclose(file);
    *callsp = calls;
    return n;

error:
    free(line);
    fclose(file);
    free(calls);
    return -1;
}

/* In the child: sets up and executes 'call'; waits on 'gate' first if it
 * is not negative.  Never returns. */
static void
child(const struct call *call, int gate)
{
    const char *netns = call->field[F_NETNS];
    if (strcmp(netns, "-")) {
        int fd = open(netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET)) {
            fprintf(stderr, "cnirun: entering %s: %s\n", netns,
                    strerror(errno));
            _exit(126);
        }
        close(fd);
    }
    int in = open(call->field[F_CONF], O_RDONLY);
    const char *out_name = strcmp(call->field[F_OUT], "-")
                           ? call->field[F_OUT] : "/dev/null";
    int out = open(out_name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0
        || dup2(out, 2) < 0) {
        fprintf(stderr, "cnirun: %s / %s: %s\n", call->field[F_CONF],
                out_name, strerror(errno));
        _exit(126);
    }
    close(in);
    close(out);

    char *env[8];
    int n = 0;
    const char *path = getenv("PATH");
    char *s;
#define ENV(NAME, VALUE)                                                    \
    if (asprintf(&s, "%s=%s", NAME, VALUE) < 0) {                           \
        _exit(126);                                                         \
    }                                                                       \
    env[n++] = s;
    ENV("PATH", path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    ENV("CNI_COMMAND", call->field[F_COMMAND]);
    ENV("CNI_CONTAINERID", call->field[F_CONTAINERID]);
    ENV("CNI_NETNS", call->field[F_CNI_NETNS]);
    ENV("CNI_IFNAME", call->field[F_IFNAME]);
    ENV("CNI_ARGS", call->field[F_ARGS]);
    ENV("CNI_PATH", call->field[F_CNI_PATH]);
#undef ENV
    env[n] = NULL;

    if (gate >= 0) {
        char c;
        while (read(gate, &c, 1) < 0 && errno == EINTR) {
            continue;
        }
        close(gate);
    }
    char *argv[] = {call->field[F_PLUGIN], NULL};
    execve(argv[0], argv, env);
    fprintf(stderr, "cnirun: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int
exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int
run_seq(struct call *calls, int n)
{
    for (int i = 0; i < n; i++) {
        struct call *call = &calls[i];
        long long start = now_us();
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "cnirun: fork: %s\n", strerror(errno));
            return 1;
        }
        if (!pid) {
            child(call, -1);
        }
        int status;
        struct rusage ru;
        while (wait4(pid, &status, 0, &ru) < 0) {
            if (errno != EINTR) {
                fprintf(stderr, "cnirun: wait4: %s\n", strerror(errno));
                return 1;
            }
        }
        call->wall_us = now_us() - start;
        call->status = exit_code(status);
        call->cpu_us = rusage_us(&ru);
        printf("%s\t%s\t%d\t%lld\t%lld\n", call->field[F_TAG],
               call->field[F_COMMAND], call->status, call->wall_us,
               call->cpu_us);
        fflush(stdout);
    }
    return 0;
}

static int
run_storm(struct call *calls, int n)
{
    int gate[2];
    if (pipe2(gate, O_CLOEXEC)) {
        fprintf(stderr, "cnirun: pipe: %s\n", strerror(errno));
        return 1;
    }
    int n_started = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "cnirun: fork: %s\n", strerror(errno));
            break;
        }
        if (!pid) {
            close(gate[1]);
            child(&calls[i], gate[0]);
        }
        calls[i].pid = pid;
        n_started++;
    }
    close(gate[0]);
    /* Give the children time to get to the gate, so that the storm
     * measures the plugins, not fork(). */
    struct timespec settle = {0, 200 * 1000 * 1000};
    nanosleep(&settle, NULL);

    long long start = now_us();
    close(gate[1]); /* Releases every child at once. */
    long long last = start;
    for (int done = 0; done < n_started;) {
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "cnirun: wait4: %s\n", strerror(errno));
            return 1;
        }
        long long t = now_us();
        for (int i = 0; i < n; i++) {
            if (calls[i].pid == pid) {
                calls[i].pid = 0;
                calls[i].wall_us = t - start;
                calls[i].status = exit_code(status);
                calls[i].cpu_us = rusage_us(&ru);
                last = t;
                done++;
                break;
            }
        }
    }
    for (int i = 0; i < n_started; i++) {
        printf("%s\t%s\t%d\t%lld\t%lld\n", calls[i].field[F_TAG],
               calls[i].field[F_COMMAND], calls[i].status, calls[i].wall_us,
               calls[i].cpu_us);
    }
    printf("total\t%lld\n", last - start);
    return n_started == n ? 0 : 1;
}

int
main(int argc, char *argv[])
{
    if (argc != 3 || (strcmp(argv[1], "seq") && strcmp(argv[1], "storm"))) {
        fprintf(stderr, "usage: cnirun seq|storm PLAN\n");
        return 2;
    }
    struct call *calls;
    int n = read_plan(argv[2], &calls);
    if (n < 0) {
        return 1;
    }
    return !strcmp(argv[1], "seq") ? run_seq(calls, n) : run_storm(calls, n);
}
