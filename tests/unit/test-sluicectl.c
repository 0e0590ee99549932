/* Unit tests for sluicectl: the real binary runs against a stub agent (a
 * thread in this test listening on a private unix socket) that records the
 * request and answers with a canned response.  Checked: the exact request
 * of every command, client-side refusal of invalid input (exit 2, nothing
 * sent), the mapping of agent statuses and transport failures to exit
 * codes and one-line messages, table and JSON output, and how the socket is
 * chosen. */
#include <sluice-config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/cni-proto.h"
#include "sluice/ctl-client.h"
#include "sluice/ctl-proto.h"

extern char **environ;

/* What the stub agent does with its one connection. */
enum stub_mode {
    STUB_REPLY, /* Answer with 'reply' as a frame. */
    STUB_RAW,   /* Write 'raw' ('raw_len' bytes) as is. */
    STUB_CLOSE, /* Hang up without answering. */
    STUB_STALL, /* Say nothing for 3 s. */
};

/* A stub agent on a private socket. */
struct stub {
    int listen_fd;
    char path[108];
    enum stub_mode mode;
    const char *reply;  /* STUB_REPLY: response body. */
    const uint8_t *raw; /* STUB_RAW: bytes to write. */
    size_t raw_len;
    char *request; /* The request body received, or NULL. */
    bool threaded; /* Thread started? */
    pthread_t thread;
};

static void *
stub_main(void *aux)
{
    struct stub *stub = aux;
    int fd = accept(stub->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    struct cni_frame_reader reader;
    cni_frame_reader_init(&reader, CNI_PROTO_MAX_FRAME);
    int status = EAGAIN;
    while (status == EAGAIN) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        size_t used;
        status = cni_frame_reader_feed(&reader, buf, n, &used);
    }
    if (!status) {
        size_t len;
        stub->request = cni_frame_reader_take(&reader, &len);
    }
    cni_frame_reader_destroy(&reader);

    const uint8_t *out = NULL;
    size_t out_len = 0;
    uint8_t *frame = NULL;
    if (stub->mode == STUB_REPLY) {
        frame = cni_frame_encode(stub->reply, strlen(stub->reply), &out_len);
        out = frame;
    } else if (stub->mode == STUB_RAW) {
        out = stub->raw;
        out_len = stub->raw_len;
    } else if (stub->mode == STUB_STALL) {
        sleep(3);
    }
    if (out && write(fd, out, out_len) != (ssize_t)out_len) {
        /* The client's exit status shows a short answer. */
    }
    free(frame);
    close(fd);
    return NULL;
}

/* Listens on a fresh socket named after 'tag'; starts the thread unless
 * 'threaded' is false (then the test checks that nobody connected). */
static void
stub_start(struct stub *stub, const char *tag, bool threaded,
           enum stub_mode mode, const char *reply)
{
    memset(stub, 0, sizeof *stub);
    snprintf(stub->path, sizeof stub->path, "/tmp/sluice-test-ctl-%s-%d.sock",
             tag, (int)getpid());
    unlink(stub->path);
    stub->mode = mode;
    stub->reply = reply;
    stub->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(stub->listen_fd, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, stub->path);
    ck_assert_int_eq(
        bind(stub->listen_fd, (struct sockaddr *)&sun, sizeof sun), 0);
    ck_assert_int_eq(listen(stub->listen_fd, 8), 0);
    if (threaded) {
        stub->threaded = true;
        ck_assert_int_eq(pthread_create(&stub->thread, NULL, stub_main, stub),
                         0);
    } else {
        int flags = fcntl(stub->listen_fd, F_GETFL);
        ck_assert_int_eq(fcntl(stub->listen_fd, F_SETFL, flags | O_NONBLOCK),
                         0);
    }
}

/* For an unthreaded stub: asserts that no client connected. */
static void
stub_assert_untouched(struct stub *stub)
{
    ck_assert(!stub->threaded);
    int fd = accept(stub->listen_fd, NULL, NULL);
    if (fd >= 0) {
        close(fd);
        ck_abort_msg("sluicectl connected to the agent");
    }
    ck_assert_int_eq(errno, EAGAIN);
}

/* Waits for the stub's thread (if any) and closes its socket; the recorded
 * request stays in 'stub->request' until stub_free(). */
static void
stub_stop(struct stub *stub)
{
    if (stub->threaded) {
        pthread_join(stub->thread, NULL);
        stub->threaded = false;
    }
    close(stub->listen_fd);
    unlink(stub->path);
}

static void
stub_free(struct stub *stub)
{
    free(stub->request);
    stub->request = NULL;
}

/* The output of one run of sluicectl. */
struct run {
    int status;      /* Exit status, -1 if killed. */
    char out[16384]; /* stdout. */
    char err[4096];  /* stderr. */
};

static void
read_file(int fd, char *buf, size_t size)
{
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0) {
        len += n;
    }
    buf[len] = '\0';
    close(fd);
}

/* Runs sluicectl with the NULL-terminated 'args'.  SLUICE_CTL_SOCKET is
 * removed from the environment, then set to 'env_socket' if nonnull. */
static void
run_ctl(const char *const *args, const char *env_socket, struct run *run)
{
    char *argv[64];
    size_t argc = 0;
    argv[argc++] = SLUICECTL_BINARY;
    for (; args[argc - 1]; argc++) {
        ck_assert_uint_lt(argc, 63);
        argv[argc] = (char *)args[argc - 1];
    }
    argv[argc] = NULL;

    char *envp[256];
    size_t envc = 0;
    char env_entry[256];
    for (char **e = environ; *e && envc < 250; e++) {
        if (strncmp(*e, CTL_PROTO_SOCKET_ENV "=",
                    strlen(CTL_PROTO_SOCKET_ENV) + 1)) {
            envp[envc++] = *e;
        }
    }
    if (env_socket) {
        snprintf(env_entry, sizeof env_entry, "%s=%s", CTL_PROTO_SOCKET_ENV,
                 env_socket);
        envp[envc++] = env_entry;
    }
    envp[envc] = NULL;

    char out_path[] = "/tmp/sluice-test-ctl-out-XXXXXX";
    char err_path[] = "/tmp/sluice-test-ctl-err-XXXXXX";
    int out_fd = mkstemp(out_path);
    int err_fd = mkstemp(err_path);
    ck_assert_int_ge(out_fd, 0);
    ck_assert_int_ge(err_fd, 0);
    unlink(out_path);
    unlink(err_path);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
        }
        execve(SLUICECTL_BINARY, argv, envp);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    read_file(out_fd, run->out, sizeof run->out);
    read_file(err_fd, run->err, sizeof run->err);
}

/* Asserts that 'run' wrote exactly one line on stderr, "sluicectl: ..."
 * containing 'needle'. */
static void
assert_one_error_line(const struct run *run, const char *needle)
{
    size_t len = strlen(run->err);
    ck_assert_msg(len > 0 && run->err[len - 1] == '\n'
                      && !memchr(run->err, '\n', len - 1),
                  "stderr is not one line: \"%s\"", run->err);
    ck_assert_msg(!strncmp(run->err, "sluicectl: ", 11),
                  "stderr lacks the prefix: \"%s\"", run->err);
    ck_assert_msg(strstr(run->err, needle), "stderr \"%s\" lacks \"%s\"",
                  run->err, needle);
}

/* Asserts that 'body' is JSON equal to the JSON text 'expected'. */
static void
assert_json_eq(const char *body, const char *expected)
{
    ck_assert_ptr_nonnull(body);
    json_t *got = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    json_t *want = json_loads(expected, 0, NULL);
    ck_assert_msg(want, "bad expected JSON %s", expected);
    ck_assert_msg(got && json_equal(got, want), "request %s, expected %s",
                  body, expected);
    json_decref(got);
    json_decref(want);
}

/* Runs 'args' (after "-s SOCKET") against a stub answering 'reply' and
 * checks the request, the exit status and stdout. */
static void
check_exchange(const char *const *args, const char *reply,
               const char *expected_request, int expected_status,
               const char *expected_out)
{
    struct stub stub;
    stub_start(&stub, "x", true, STUB_REPLY, reply);
    const char *full[32] = {"-s", stub.path};
    size_t n = 2;
    for (size_t i = 0; args[i]; i++) {
        full[n++] = args[i];
    }
    full[n] = NULL;
    struct run run;
    run_ctl(full, NULL, &run);
    stub_stop(&stub);
    ck_assert_msg(run.status == expected_status,
                  "'%s %s': exit %d (expected %d), stderr \"%s\"", args[0],
                  args[1], run.status, expected_status, run.err);
    assert_json_eq(stub.request, expected_request);
    if (expected_out) {
        ck_assert_str_eq(run.out, expected_out);
    }
    if (!expected_status) {
        ck_assert_str_eq(run.err, "");
    }
    stub_free(&stub);
}

static const char ok_empty[] = "{\"version\":1,\"status\":0,\"result\":{}}";

START_TEST(test_pool_requests)
{
    check_exchange(
        (const char *[]){"pool", "create", "p1", "--ranges",
                         "198.18.0.110-198.18.0.120, 198.18.0.100,"
                         "198.18.1.0/30",
                         "--nodes", "n3,n2", "--node-selector",
                         "zone=a,tier=edge", NULL},
        ok_empty,
        "{\"version\":1,\"command\":\"pool.create\",\"args\":{\"pool\":"
        "{\"name\":\"p1\",\"ranges\":[\"198.18.0.100\","
        "\"198.18.0.110-198.18.0.120\",\"198.18.1.0/30\"],"
        "\"nodes\":[\"n2\",\"n3\"],"
        "\"node_selector\":{\"tier\":\"edge\",\"zone\":\"a\"}}}}",
        0, "pool p1 created\n");

    /* Minimal, with --option=value and the socket option after the
     * command. */
    check_exchange(
        (const char *[]){"pool", "create", "p2", "--ranges=10.9.0.0/29", NULL},
        ok_empty,
        "{\"version\":1,\"command\":\"pool.create\",\"args\":{\"pool\":"
        "{\"name\":\"p2\",\"ranges\":[\"10.9.0.0/29\"]}}}",
        0, "pool p2 created\n");

    check_exchange((const char *[]){"pool", "list", NULL},
                   "{\"version\":1,\"status\":0,\"result\":{\"pools\":[]}}",
                   "{\"version\":1,\"command\":\"pool.list\",\"args\":{}}", 0,
                   "NAME   RANGES   NODES   USED/TOTAL   EGRESSES\n");
    check_exchange(
        (const char *[]){"pool", "show", "p1", NULL},
        "{\"version\":1,\"status\":0,\"result\":{\"pool\":{\"name\":\"p1\","
        "\"ranges\":[\"10.0.0.1\"]},\"total\":1,\"used\":0,"
        "\"egresses\":[]}}",
        "{\"version\":1,\"command\":\"pool.show\",\"args\":"
        "{\"name\":\"p1\"}}",
        0, NULL);
    check_exchange((const char *[]){"pool", "delete", "p1", NULL}, ok_empty,
                   "{\"version\":1,\"command\":\"pool.delete\",\"args\":"
                   "{\"name\":\"p1\"}}",
                   0, "pool p1 deleted\n");
}
END_TEST

START_TEST(test_egress_requests)
{
    static const char created[]
        = "{\"version\":1,\"status\":0,\"result\":{\"ip\":\"198.18.0.101\"}}";
    check_exchange(
        (const char *[]){"egress", "create", "e1", "--namespace", "prod-*",
                         "--pod", "web-?", "--pod-selector", "app=web", "--ip",
                         "198.18.0.101", "--pool", "p1", "--exempt",
                         "172.16.0.0/12,10.0.0.0/8", NULL},
        created,
        "{\"version\":1,\"command\":\"egress.create\",\"args\":{\"egress\":"
        "{\"name\":\"e1\",\"namespace\":\"prod-*\",\"pod_name\":\"web-?\","
        "\"pod_selector\":{\"app\":\"web\"},\"ip\":\"198.18.0.101\","
        "\"pool\":\"p1\",\"exempt\":[\"10.0.0.0/8\",\"172.16.0.0/12\"]}}}",
        0, "egress e1 created with IP 198.18.0.101\n");

    /* A pool only: the agent allocates. */
    check_exchange(
        (const char *[]){"egress", "create", "e2", "--pool", "p1", NULL},
        created,
        "{\"version\":1,\"command\":\"egress.create\",\"args\":{\"egress\":"
        "{\"name\":\"e2\",\"pool\":\"p1\"}}}",
        0, "egress e2 created with IP 198.18.0.101\n");

    /* An IP only, JSON output: the result itself. */
    check_exchange(
        (const char *[]){"-o", "json", "egress", "create", "e3", "--ip",
                         "198.18.0.101", NULL},
        created,
        "{\"version\":1,\"command\":\"egress.create\",\"args\":{\"egress\":"
        "{\"name\":\"e3\",\"ip\":\"198.18.0.101\"}}}",
        0, "{\n  \"ip\": \"198.18.0.101\"\n}\n");

    check_exchange((const char *[]){"egress", "list", NULL},
                   "{\"version\":1,\"status\":0,\"result\":"
                   "{\"egresses\":[]}}",
                   "{\"version\":1,\"command\":\"egress.list\",\"args\":{}}",
                   0, "NAME   IP   NODE   SINCE   POOL   PODS\n");
    check_exchange(
        (const char *[]){"egress", "show", "e1", NULL},
        "{\"version\":1,\"status\":0,\"result\":{\"egress\":{\"name\":"
        "\"e1\",\"ip\":\"198.18.0.101\"},\"ip\":\"198.18.0.101\","
        "\"node\":null,\"since\":null,\"pods\":[]}}",
        "{\"version\":1,\"command\":\"egress.show\",\"args\":"
        "{\"name\":\"e1\"}}",
        0, NULL);
    check_exchange((const char *[]){"egress", "delete", "e1", NULL}, ok_empty,
                   "{\"version\":1,\"command\":\"egress.delete\",\"args\":"
                   "{\"name\":\"e1\"}}",
                   0, "egress e1 deleted\n");
    check_exchange(
        (const char *[]){"egress", "move", "e1", "--to", "n3", NULL}, ok_empty,
        "{\"version\":1,\"command\":\"egress.move\",\"args\":"
        "{\"name\":\"e1\",\"node\":\"n3\"}}",
        0, "egress e1 moved to node n3\n");
}
END_TEST

/* Every invalid input: exit 2, one line naming the problem, no stdout, and
 * no connection to the agent. */
START_TEST(test_invalid_input_sends_nothing)
{
    static const struct {
        const char *args[12];
        const char *needle;
    } cases[] = {
        {{NULL}, "no command"},
        {{"frob", NULL}, "unknown command 'frob'"},
        {{"pool", NULL}, "needs a subcommand"},
        {{"pool", "frob", NULL}, "unknown command 'pool frob'"},
        {{"egress", "rename", "e1", NULL}, "unknown command 'egress rename'"},
        {{"pool", "create", NULL}, "needs a pool name"},
        {{"pool", "create", "p1", NULL}, "needs --ranges"},
        {{"pool", "create", "P1", "--ranges", "10.0.0.1", NULL},
         "invalid pool name 'P1'"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.9-10.0.0.1", NULL},
         "start after end"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.0/28,10.0.0.5", NULL},
         "overlap"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.1/24", NULL},
         "10.0.0.1/24"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.300", NULL},
         "10.0.0.300"},
        {{"pool", "create", "p1", "--ranges", "", NULL}, "pool 'p1'"},
        {{"pool", "create", "p1", "--ranges", "127.0.0.1", NULL}, "127.0.0.1"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.1", "--nodes", "a_b",
          NULL},
         "a_b"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.1", "--nodes", "n1,n1",
          NULL},
         "n1"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.1", "--node-selector",
          "zone", NULL},
         "zone"},
        {{"pool", "create", "p1", "--ranges", "10.0.0.1", "--pool", "x", NULL},
         "option --pool is not valid for 'pool create'"},
        {{"pool", "list", "--ranges", "10.0.0.1", NULL},
         "option --ranges is not valid for 'pool list'"},
        {{"pool", "list", "extra", NULL}, "unexpected argument 'extra'"},
        {{"pool", "show", NULL}, "needs a pool name"},
        {{"pool", "show", "p1", "p2", NULL}, "unexpected argument 'p2'"},
        {{"pool", "delete", "-p1", NULL}, "unknown option '-p1'"},
        {{"pool", "delete", "--", "-p1", NULL}, "invalid pool name '-p1'"},
        {{"egress", "create", "e1", NULL}, "needs --ip or --pool"},
        {{"egress", "create", "E1", "--pool", "p1", NULL},
         "invalid egress name 'E1'"},
        {{"egress", "create", "e1", "--ip", "10.0.0", NULL}, "10.0.0"},
        {{"egress", "create", "e1", "--ip", "224.0.0.5", NULL},
         "not a unicast address"},
        {{"egress", "create", "e1", "--pool", "P_1", NULL}, "P_1"},
        {{"egress", "create", "e1", "--pool", "p1", "--namespace", "Prod",
          NULL},
         "namespace glob"},
        {{"egress", "create", "e1", "--pool", "p1", "--pod", "web-[", NULL},
         "pod-name glob"},
        {{"egress", "create", "e1", "--pool", "p1", "--pod", "", NULL},
         "pod-name glob"},
        {{"egress", "create", "e1", "--pool", "p1", "--pod-selector",
          "app=we b", NULL},
         "pod selector"},
        {{"egress", "create", "e1", "--pool", "p1", "--exempt", "10.0.0.1/8",
          NULL},
         "10.0.0.1/8"},
        {{"egress", "create", "e1", "--pool", "p1", "--exempt", "10.0.0.0/33",
          NULL},
         "10.0.0.0/33"},
        {{"egress", "create", "e1", "--pool", "p1", "--to", "n1", NULL},
         "option --to is not valid"},
        {{"egress", "create", "e1", "--ip", "10.0.0.1", "--ip", "10.0.0.2",
          NULL},
         "--ip given more than once"},
        {{"egress", "move", "e1", NULL}, "needs --to"},
        {{"egress", "move", "e1", "--to", "n1,n2", NULL}, "exactly one node"},
        {{"egress", "move", "e1", "--to", "N_1", NULL}, "N_1"},
        {{"egress", "move", "e1", "--to", NULL}, "--to needs a value"},
        {{"egress", "show", "e1", "--frob", NULL}, "unknown option '--frob'"},
        {{"egress", "list", "-x", NULL}, "unknown option '-x'"},
        {{"egress", "list", "-o", "yaml", NULL}, "invalid output format"},
        {{"egress", "list", "--timeout", "0", NULL}, "invalid timeout"},
        {{"egress", "list", "-t", "5s", NULL}, "invalid timeout"},
        {{"egress", "list", "--help=yes", NULL}, "--help takes no value"},
        {{"egress", "list", "-s", "", NULL}, "invalid control socket path"},
        {{"egress", "list", "-s",
          "/tmp/a-very-long-socket-path-0123456789012345678901234567890123"
          "45678901234567890123456789012345678901234567890123456789.sock",
          NULL},
         "invalid control socket path"},
        /* A control character in an argument stays on one line. */
        {{"pool", "frob\nx", NULL}, "unknown command 'pool frob?x'"},
    };

    struct stub stub;
    stub_start(&stub, "quiet", false, STUB_REPLY, ok_empty);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The socket also comes from the environment, so that a case that
         * sets -s itself does not clash with a second -s. */
        struct run run;
        run_ctl(cases[i].args, stub.path, &run);
        ck_assert_msg(run.status == 2, "case %zu: exit %d, stderr \"%s\"", i,
                      run.status, run.err);
        assert_one_error_line(&run, cases[i].needle);
        ck_assert_str_eq(run.out, "");
        stub_assert_untouched(&stub);
    }
    stub_stop(&stub);
}
END_TEST

START_TEST(test_help)
{
    struct stub stub;
    stub_start(&stub, "help", false, STUB_REPLY, ok_empty);
    const char *const variants[][3] = {{"--help", NULL},
                                       {"-h", NULL},
                                       {"help", NULL},
                                       {"pool", "--help", NULL}};
    for (size_t i = 0; i < 4; i++) {
        struct run run;
        run_ctl(variants[i], stub.path, &run);
        ck_assert_int_eq(run.status, 0);
        ck_assert_str_eq(run.err, "");
        ck_assert_ptr_nonnull(strstr(run.out, "Usage: sluicectl"));
        ck_assert_ptr_nonnull(strstr(run.out, CTL_PROTO_SOCKET_ENV));
        ck_assert_ptr_nonnull(strstr(run.out, CTL_PROTO_DEFAULT_SOCKET));
        ck_assert_ptr_nonnull(strstr(run.out, "egress move NAME --to NODE"));
        stub_assert_untouched(&stub);
    }
    stub_stop(&stub);
}
END_TEST

/* Runs 'args' against a stub answering 'reply' (or in 'mode') and returns
 * the run; the request must have been received. */
static void
run_against(const char *const *args, enum stub_mode mode, const char *reply,
            struct run *run)
{
    struct stub stub;
    stub_start(&stub, "err", true, mode, reply);
    const char *full[32] = {"--socket", stub.path};
    size_t n = 2;
    for (size_t i = 0; args[i]; i++) {
        full[n++] = args[i];
    }
    full[n] = NULL;
    run_ctl(full, NULL, run);
    stub_stop(&stub);
    ck_assert_ptr_nonnull(stub.request);
    stub_free(&stub);
}

START_TEST(test_agent_refusal_and_failure)
{
    struct run run;
    const char *del[] = {"pool", "delete", "p1", NULL};

    /* Status 2: the agent's message, exit 2. */
    run_against(del, STUB_REPLY,
                "{\"version\":1,\"status\":2,\"error\":\"pool 'p1' is used "
                "by egress 'e1'\"}",
                &run);
    ck_assert_int_eq(run.status, 2);
    ck_assert_str_eq(run.err, "sluicectl: pool 'p1' is used by egress "
                              "'e1'\n");
    ck_assert_str_eq(run.out, "");

    /* Status 1: exit 1. */
    run_against(del, STUB_REPLY,
                "{\"version\":1,\"status\":1,\"error\":\"etcd at "
                "198.18.0.1:2379 is unreachable\"}",
                &run);
    ck_assert_int_eq(run.status, 1);
    ck_assert_str_eq(run.err, "sluicectl: etcd at 198.18.0.1:2379 is "
                              "unreachable\n");
    ck_assert_str_eq(run.out, "");

    /* Another failure status is a failure too; a missing message gets a
     * generic one. */
    run_against(del, STUB_REPLY, "{\"version\":1,\"status\":7}", &run);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, "status 7");

    /* The agent's message cannot break the line or reach the terminal
     * with escape sequences. */
    run_against(del, STUB_REPLY,
                "{\"version\":1,\"status\":2,\"error\":\"two\\nlines "
                "\\u001b[31mred\\u00e9\"}",
                &run);
    ck_assert_int_eq(run.status, 2);
    ck_assert_str_eq(run.err, "sluicectl: two?lines ?[31mred??\n");
}
END_TEST

START_TEST(test_malformed_answers)
{
    static const struct {
        const char *args[6];
        const char *reply;
        const char *needle;
    } cases[] = {
        {{"pool", "list", NULL}, "not json", "malformed answer"},
        {{"pool", "list", NULL}, "[1]", "malformed answer"},
        {{"pool", "list", NULL}, "{\"version\":1}", "malformed answer"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":0,\"status\":0,\"result\":{}}",
         "malformed answer"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":-1}",
         "malformed answer"},
        {{"pool", "list", NULL},
         "{\"version\":2,\"status\":0,\"result\":{}}",
         "version 2"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":0,\"result\":[]}",
         "malformed answer"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":2,\"error\":42}",
         "malformed answer"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":0,\"result\":{}}",
         "'pools'"},
        {{"pool", "list", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"pools\":[{\"pool\":"
         "{\"name\":\"p1\"},\"total\":1,\"used\":0,\"egresses\":[]}]}}",
         "pools[0]"},
        {{"pool", "show", "p1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"pool\":{\"name\":\"p1\","
         "\"ranges\":[\"10.0.0.1\"]},\"total\":-1,\"used\":0,"
         "\"egresses\":[]}}",
         "'total'"},
        {{"pool", "show", "p1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"pool\":{\"name\":\"p1\","
         "\"ranges\":[\"10.0.0.1\"]},\"total\":1,\"used\":0,"
         "\"egresses\":[\"E\\u001b\"]}}",
         "'egresses'"},
        {{"egress", "list", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"egresses\":[{\"egress\":"
         "{\"name\":\"e1\",\"pool\":\"p1\"},\"ip\":\"198.18.0.1\","
         "\"node\":\"n\\u001b[2J\",\"since\":null,\"pods\":[]}]}}",
         "'node'"},
        {{"egress", "show", "e1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"egress\":"
         "{\"name\":\"e1\",\"pool\":\"p1\"},\"ip\":\"1.2.3\","
         "\"pods\":[]}}",
         "'ip'"},
        {{"egress", "show", "e1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"egress\":"
         "{\"name\":\"e1\",\"pool\":\"p1\"},\"ip\":null,"
         "\"pods\":[\"default/a b\"]}}",
         "'pods'"},
        {{"egress", "show", "e1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{\"egress\":"
         "{\"name\":\"e1\"},\"ip\":null,\"pods\":[]}}",
         "needs an IP or a pool"},
        {{"egress", "create", "e1", "--pool", "p1", NULL},
         "{\"version\":1,\"status\":0,\"result\":{}}",
         "'ip'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run run;
        run_against(cases[i].args, STUB_REPLY, cases[i].reply, &run);
        ck_assert_msg(run.status == 1, "case %zu: exit %d, stderr \"%s\"", i,
                      run.status, run.err);
        assert_one_error_line(&run, cases[i].needle);
        ck_assert_str_eq(run.out, "");
    }
}
END_TEST

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

START_TEST(test_transport_failures)
{
    struct run run;
    const char *list[] = {"pool", "list", NULL};

    /* Hang-up without an answer. */
    run_against(list, STUB_CLOSE, NULL, &run);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, "closed the connection without answering");

    /* A truncated frame. */
    static const uint8_t truncated[] = {0, 0, 0, 50, '{', '"'};
    struct stub stub;
    stub_start(&stub, "trunc", true, STUB_RAW, NULL);
    stub.raw = truncated;
    stub.raw_len = sizeof truncated;
    run_ctl((const char *[]){"-s", stub.path, "pool", "list", NULL}, NULL,
            &run);
    stub_stop(&stub);
    stub_free(&stub);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, stub.path);

    /* A frame over the size limit is refused from its header. */
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, '{'};
    stub_start(&stub, "huge", true, STUB_RAW, NULL);
    stub.raw = huge;
    stub.raw_len = sizeof huge;
    run_ctl((const char *[]){"-s", stub.path, "pool", "list", NULL}, NULL,
            &run);
    stub_stop(&stub);
    stub_free(&stub);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, "too large");

    /* An agent that never answers: the deadline holds.  The stub keeps
     * the connection open for 3 s; sluicectl gives up after 1 s. */
    stub_start(&stub, "stall", true, STUB_STALL, NULL);
    long long start = now_ms();
    run_ctl((const char *[]){"-s", stub.path, "-t", "1", "pool", "list", NULL},
            NULL, &run);
    long long elapsed = now_ms() - start;
    stub_stop(&stub);
    ck_assert_ptr_nonnull(stub.request);
    stub_free(&stub);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, "timed out after 1 s");
    ck_assert_int_ge(elapsed, 900);
    ck_assert_int_lt(elapsed, 2900);
}
END_TEST

START_TEST(test_unreachable_names_socket)
{
    char path[108];
    snprintf(path, sizeof path, "/tmp/sluice-test-ctl-none-%d.sock",
             (int)getpid());
    unlink(path);
    struct run run;
    long long start = now_ms();
    run_ctl((const char *[]){"-s", path, "egress", "list", NULL}, NULL, &run);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, path);
    assert_one_error_line(&run, "cannot connect");
    ck_assert_str_eq(run.out, "");
    ck_assert_int_lt(now_ms() - start, 5000);

    /* A socket file with nobody listening. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    run_ctl((const char *[]){"-s", path, "egress", "list", NULL}, NULL, &run);
    unlink(path);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, path);
}
END_TEST

START_TEST(test_socket_precedence)
{
    const char *list[] = {"pool", "list", NULL};
    static const char reply[]
        = "{\"version\":1,\"status\":0,\"result\":{\"pools\":[]}}";
    struct stub stub;
    struct run run;
    char bogus[108];
    snprintf(bogus, sizeof bogus, "/tmp/sluice-test-ctl-bogus-%d.sock",
             (int)getpid());
    unlink(bogus);

    /* The environment variable, without -s. */
    stub_start(&stub, "env", true, STUB_REPLY, reply);
    run_ctl(list, stub.path, &run);
    stub_stop(&stub);
    ck_assert_int_eq(run.status, 0);
    ck_assert_ptr_nonnull(stub.request);
    stub_free(&stub);

    /* -s beats the environment: the stub is reached although the
     * environment names a socket that does not exist... */
    stub_start(&stub, "opt", true, STUB_REPLY, reply);
    run_ctl((const char *[]){"pool", "list", "-s", stub.path, NULL}, bogus,
            &run);
    stub_stop(&stub);
    ck_assert_int_eq(run.status, 0);
    ck_assert_ptr_nonnull(stub.request);
    stub_free(&stub);

    /* ... and a stub named by the environment is not contacted when -s
     * names another socket. */
    stub_start(&stub, "unused", false, STUB_REPLY, reply);
    run_ctl((const char *[]){"--socket", bogus, "pool", "list", NULL},
            stub.path, &run);
    ck_assert_int_eq(run.status, 1);
    assert_one_error_line(&run, bogus);
    stub_assert_untouched(&stub);

    /* Without either (or with an empty variable), the default.  Only
     * checkable where no agent listens there. */
    if (access(CTL_PROTO_DEFAULT_SOCKET, F_OK) && errno == ENOENT) {
        run_ctl(list, NULL, &run);
        ck_assert_int_eq(run.status, 1);
        assert_one_error_line(&run, CTL_PROTO_DEFAULT_SOCKET);
        run_ctl(list, "", &run);
        ck_assert_int_eq(run.status, 1);
        assert_one_error_line(&run, CTL_PROTO_DEFAULT_SOCKET);
    } else {
        fprintf(stderr, "%s exists: default socket not checked\n",
                CTL_PROTO_DEFAULT_SOCKET);
    }
    stub_assert_untouched(&stub);
    stub_stop(&stub);
}
END_TEST

/* Canned answers for the output tests. */
static const char pool_list_reply[]
    = "{\"version\":1,\"status\":0,\"result\":{\"pools\":["
      "{\"pool\":{\"name\":\"p1\",\"ranges\":[\"198.18.0.100-198.18.0.110\"],"
      "\"nodes\":[\"n2\",\"n3\"]},\"total\":11,\"used\":2,"
      "\"egresses\":[\"e1\",\"e2\"]},"
      "{\"pool\":{\"name\":\"edge\",\"ranges\":[\"10.0.0.0/28\","
      "\"10.0.1.5\"],\"node_selector\":{\"zone\":\"a\"},\"nodes\":[\"n9\"]},"
      "\"total\":15,\"used\":0,\"egresses\":[]},"
      "{\"pool\":{\"name\":\"wide\",\"ranges\":[\"10.1.0.0/24\"]},"
      "\"total\":254,\"used\":5,\"egresses\":[\"egress-one\","
      "\"egress-two\",\"egress-three\",\"egress-four\",\"egress-five\"]}"
      "]}}";

static const char egress_list_reply[]
    = "{\"version\":1,\"status\":0,\"result\":{\"egresses\":["
      "{\"egress\":{\"name\":\"e1\",\"namespace\":\"prod-*\","
      "\"pool\":\"p1\"},\"ip\":\"198.18.0.100\",\"node\":\"n2\","
      "\"since\":\"2026-11-23T11:30:00Z\","
      "\"pods\":[\"prod-a/web-1\",\"prod-a/web-2\"]},"
      "{\"egress\":{\"name\":\"static\",\"ip\":\"203.0.113.7\"},"
      "\"ip\":\"203.0.113.7\",\"node\":null,\"since\":null,\"pods\":[]},"
      "{\"egress\":{\"name\":\"busy\",\"pool\":\"p1\","
      "\"exempt\":[\"10.0.0.0/8\"]},\"ip\":\"198.18.0.101\","
      "\"node\":\"n3\",\"since\":\"2026-11-23T11:31:02Z\","
      "\"pods\":[\"default/worker-0\",\"default/worker-1\","
      "\"default/worker-2\",\"default/worker-3\"],\"extra\":true}"
      "]}}";

START_TEST(test_table_output)
{
    struct run run;

    run_against((const char *[]){"pool", "list", NULL}, STUB_REPLY,
                pool_list_reply, &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(
        run.out,
        "NAME   RANGES                      NODES          USED/TOTAL   "
        "EGRESSES\n"
        "p1     198.18.0.100-198.18.0.110   n2,n3          2/11         "
        "e1,e2\n"
        "edge   10.0.0.0/28,10.0.1.5        n9 or zone=a   0/15         "
        "<none>\n"
        "wide   10.1.0.0/24                 <any>          5/254        "
        "5 egresses\n");

    run_against((const char *[]){"egress", "list", NULL}, STUB_REPLY,
                egress_list_reply, &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(
        run.out,
        "NAME     IP             NODE     SINCE                  POOL     "
        "PODS\n"
        "e1       198.18.0.100   n2       2026-11-23T11:30:00Z   p1       "
        "prod-a/web-1,prod-a/web-2\n"
        "static   203.0.113.7    <none>   <none>                 <none>   "
        "<none>\n"
        "busy     198.18.0.101   n3       2026-11-23T11:31:02Z   p1       "
        "4 pods\n");

    run_against((const char *[]){"pool", "show", "p1", NULL}, STUB_REPLY,
                "{\"version\":1,\"status\":0,\"result\":{\"pool\":{\"name\":"
                "\"p1\",\"ranges\":[\"198.18.0.100-198.18.0.110\"],"
                "\"node_selector\":{\"zone\":\"a\"}},\"total\":11,"
                "\"used\":2,\"egresses\":[\"e1\",\"e2\"]}}",
                &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(run.out, "name:            p1\n"
                              "ranges:          198.18.0.100-198.18.0.110\n"
                              "nodes:           <none>\n"
                              "node-selector:   zone=a\n"
                              "used:            2/11\n"
                              "egresses:        e1,e2\n");

    run_against((const char *[]){"egress", "show", "e1", NULL}, STUB_REPLY,
                "{\"version\":1,\"status\":0,\"result\":{\"egress\":{"
                "\"name\":\"e1\",\"namespace\":\"prod-*\",\"pod_name\":"
                "\"web-*\",\"pod_selector\":{\"app\":\"web\"},"
                "\"pool\":\"p1\",\"exempt\":[\"10.0.0.0/8\","
                "\"172.16.0.0/12\"]},\"ip\":\"198.18.0.100\","
                "\"node\":\"n2\",\"since\":\"2026-11-23T11:30:00Z\","
                "\"pods\":[\"prod-a/web-1\"]}}",
                &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(run.out, "name:           e1\n"
                              "namespace:      prod-*\n"
                              "pod:            web-*\n"
                              "pod-selector:   app=web\n"
                              "pool:           p1\n"
                              "ip:             198.18.0.100\n"
                              "node:           n2\n"
                              "since:          2026-11-23T11:30:00Z\n"
                              "exempt:         10.0.0.0/8,172.16.0.0/12\n"
                              "pods:           prod-a/web-1\n");

    /* An egress that holds no node yet, selecting every pod. */
    run_against((const char *[]){"egress", "show", "e2", NULL}, STUB_REPLY,
                "{\"version\":1,\"status\":0,\"result\":{\"egress\":{"
                "\"name\":\"e2\",\"pool\":\"p1\"},\"ip\":null,"
                "\"node\":null,\"since\":null,\"pods\":[]}}",
                &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(run.out, "name:           e2\n"
                              "namespace:      <any>\n"
                              "pod:            <any>\n"
                              "pod-selector:   <any>\n"
                              "pool:           p1\n"
                              "ip:             <none>\n"
                              "node:           <none>\n"
                              "since:          <none>\n"
                              "exempt:         <none>\n"
                              "pods:           <none>\n");
}
END_TEST

START_TEST(test_json_output)
{
    struct run run;

    /* The result, pretty, keys sorted. */
    run_against((const char *[]){"-o", "json", "pool", "show", "p1", NULL},
                STUB_REPLY,
                "{\"version\":1,\"status\":0,\"result\":{\"used\":2,"
                "\"total\":11,\"pool\":{\"name\":\"p1\",\"ranges\":"
                "[\"198.18.0.100-198.18.0.110\"],\"nodes\":[\"n2\"]},"
                "\"egresses\":[\"e1\"]}}",
                &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(run.out, "{\n"
                              "  \"egresses\": [\n"
                              "    \"e1\"\n"
                              "  ],\n"
                              "  \"pool\": {\n"
                              "    \"name\": \"p1\",\n"
                              "    \"nodes\": [\n"
                              "      \"n2\"\n"
                              "    ],\n"
                              "    \"ranges\": [\n"
                              "      \"198.18.0.100-198.18.0.110\"\n"
                              "    ]\n"
                              "  },\n"
                              "  \"total\": 11,\n"
                              "  \"used\": 2\n"
                              "}\n");

    /* Lists are the whole result, equal to what the agent sent. */
    const char *const replies[] = {pool_list_reply, egress_list_reply};
    const char *const objects[] = {"pool", "egress"};
    for (size_t i = 0; i < 2; i++) {
        run_against(
            (const char *[]){objects[i], "list", "--output=json", NULL},
            STUB_REPLY, replies[i], &run);
        ck_assert_int_eq(run.status, 0);
        json_t *got = json_loads(run.out, 0, NULL);
        json_t *reply = json_loads(replies[i], 0, NULL);
        ck_assert_ptr_nonnull(got);
        ck_assert(json_equal(got, json_object_get(reply, "result")));
        json_decref(got);
        json_decref(reply);
    }

    /* Delete: the empty result. */
    run_against((const char *[]){"-ojson", "egress", "delete", "e1", NULL},
                STUB_REPLY, ok_empty, &run);
    ck_assert_int_eq(run.status, 0);
    ck_assert_str_eq(run.out, "{}\n");
}
END_TEST

/* The protocol helpers the agent shares. */
START_TEST(test_proto_helpers)
{
    json_t *req
        = ctl_request_new(CTL_CMD_POOL_SHOW, json_pack("{s:s}", "name", "p1"));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *command;
    json_t *args;
    char err[256];
    ck_assert_int_eq(ctl_request_parse(body, strlen(body), &command, &args,
                                       err, sizeof err),
                     0);
    ck_assert_str_eq(command, "pool.show");
    ck_assert_str_eq(json_string_value(json_object_get(args, "name")), "p1");
    free(command);
    json_decref(args);
    free(body);

    /* No args means empty args; bad requests are refused with a reason. */
    const char *none = "{\"version\":1,\"command\":\"pool.list\"}";
    ck_assert_int_eq(ctl_request_parse(none, strlen(none), &command, &args,
                                       err, sizeof err),
                     0);
    ck_assert_int_eq(json_object_size(args), 0);
    free(command);
    json_decref(args);
    static const struct {
        const char *body;
        const char *needle;
    } bad[] = {
        {"{\"version\":2,\"command\":\"pool.list\"}", "version 2"},
        {"{\"command\":\"pool.list\"}", "version"},
        {"{\"version\":1}", "command"},
        {"{\"version\":1,\"command\":\"\"}", "command"},
        {"{\"version\":1,\"command\":\"x\",\"args\":[]}", "args"},
        {"{\"version\":1,\"command\":\"x\",\"more\":1}", "more"},
        {"{\"version\":1,\"version\":1,\"command\":\"x\"}", "JSON"},
        {"\x01", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ctl_request_parse(bad[i].body, strlen(bad[i].body),
                                           &command, &args, err, sizeof err),
                         EINVAL);
        ck_assert_ptr_null(command);
        ck_assert_ptr_null(args);
        ck_assert_msg(strstr(err, bad[i].needle) && !strchr(err, '\n'),
                      "bad[%zu]: %s", i, err);
    }

    /* Responses round-trip through the parser. */
    json_t *resp = ctl_response_ok(json_pack("{s:s}", "ip", "10.0.0.1"));
    body = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    struct ctl_response r;
    ck_assert_int_eq(
        ctl_response_parse(body, strlen(body), &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, CTL_STATUS_OK);
    ck_assert_str_eq(json_string_value(json_object_get(r.result, "ip")),
                     "10.0.0.1");
    ck_assert_ptr_null(r.error);
    ctl_response_destroy(&r);
    free(body);

    resp = ctl_response_error(CTL_STATUS_INVALID, "pool '%s'\nis busy", "p1");
    body = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    ck_assert_int_eq(
        ctl_response_parse(body, strlen(body), &r, err, sizeof err), 0);
    ck_assert_int_eq(r.status, CTL_STATUS_INVALID);
    ck_assert_str_eq(r.error, "pool 'p1'?is busy");
    ck_assert_ptr_null(r.result);
    ctl_response_destroy(&r);
    free(body);
}
END_TEST

static Suite *
sluicectl_suite(void)
{
    Suite *s = suite_create("sluicectl");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pool_requests);
    tcase_add_test(tc, test_egress_requests);
    tcase_add_test(tc, test_invalid_input_sends_nothing);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_agent_refusal_and_failure);
    tcase_add_test(tc, test_malformed_answers);
    tcase_add_test(tc, test_transport_failures);
    tcase_add_test(tc, test_unreachable_names_socket);
    tcase_add_test(tc, test_socket_precedence);
    tcase_add_test(tc, test_table_output);
    tcase_add_test(tc, test_json_output);
    tcase_add_test(tc, test_proto_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *runner = srunner_create(sluicectl_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
