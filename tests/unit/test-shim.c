/* Unit tests for the CNI shim: every error path of its input handling, the
 * frame codec, and the exchange with an agent (a stub agent in a thread,
 * standing in for sluiced's socket). */
#include <sluice-config.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice/cni-proto.h"
#include "sluice/shim.h"

static const char *const good_config =
    "{\"cniVersion\":\"1.1.0\",\"name\":\"sluice-net\",\"type\":\"sluice\"}";

static struct cni_env
add_env(void)
{
    struct cni_env env = {
        .command = "ADD",
        .containerid = "c0ffee",
        .netns = "/var/run/netns/x",
        .ifname = "eth0",
        .args = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1",
        .path = "/opt/cni/bin",
    };
    return env;
}

/* Runs shim_prepare() and returns the CNI code it settled on (0 when it
 * built a request), leaving the outcome's message in 'msg'. */
static int
prepare_code(const struct cni_env *env, const char *config, bool too_big,
             char *msg, size_t msg_size, bool *has_request)
{
    struct shim_call call;
    struct shim_outcome outcome;
    shim_call_init(&call);
    bool ok = shim_prepare(env, config, config ? strlen(config) : 0, too_big,
                           &call, &outcome);
    int code = outcome.code;
    if (msg) {
        const char *m = json_string_value(json_object_get(outcome.output,
                                                          "msg"));
        snprintf(msg, msg_size, "%s", m ? m : "");
    }
    if (has_request) {
        *has_request = ok && call.request;
    }
    if (!ok) {
        ck_assert_ptr_nonnull(outcome.output);
        if (code) {
            ck_assert_int_eq(json_integer_value(
                                 json_object_get(outcome.output, "code")),
                             code);
        }
    }
    json_decref(outcome.output);
    shim_call_destroy(&call);
    return code;
}

START_TEST(test_missing_command)
{
    struct cni_env env = add_env();
    env.command = NULL;
    char msg[256];
    ck_assert_int_eq(prepare_code(&env, good_config, false, msg, sizeof msg,
                                  NULL), CNI_ERR_INVALID_ENV);
    ck_assert_ptr_nonnull(strstr(msg, "CNI_COMMAND"));

    env.command = "FROB";
    ck_assert_int_eq(prepare_code(&env, good_config, false, msg, sizeof msg,
                                  NULL), CNI_ERR_INVALID_ENV);
    ck_assert_ptr_nonnull(strstr(msg, "FROB"));
}
END_TEST

START_TEST(test_required_env_per_command)
{
    char msg[256];
    bool req;

    /* ADD and CHECK need the netns; DEL does not. */
    const char *with_netns[] = {"ADD", "CHECK"};
    for (size_t i = 0; i < 2; i++) {
        struct cni_env env = add_env();
        env.command = with_netns[i];
        env.netns = NULL;
        ck_assert_int_eq(prepare_code(&env, good_config, false, msg,
                                      sizeof msg, NULL),
                         CNI_ERR_INVALID_ENV);
        ck_assert_ptr_nonnull(strstr(msg, "CNI_NETNS"));
    }
    struct cni_env env = add_env();
    env.command = "DEL";
    env.netns = NULL;
    ck_assert_int_eq(prepare_code(&env, good_config, false, NULL, 0, &req),
                     0);
    ck_assert(req);

    /* Every command but STATUS, GC and VERSION needs container and ifname. */
    const char *cmds[] = {"ADD", "DEL", "CHECK"};
    for (size_t i = 0; i < 3; i++) {
        env = add_env();
        env.command = cmds[i];
        env.containerid = NULL;
        env.ifname = "";
        ck_assert_int_eq(prepare_code(&env, good_config, false, msg,
                                      sizeof msg, NULL),
                         CNI_ERR_INVALID_ENV);
        ck_assert_ptr_nonnull(strstr(msg, "CNI_CONTAINERID"));
        ck_assert_ptr_nonnull(strstr(msg, "CNI_IFNAME"));
    }
    const char *bare[] = {"STATUS", "GC"};
    for (size_t i = 0; i < 2; i++) {
        struct cni_env b = {.command = bare[i]};
        ck_assert_int_eq(prepare_code(&b, good_config, false, NULL, 0, &req),
                         0);
        ck_assert(req);
    }
}
END_TEST

START_TEST(test_bad_container_id_and_ifname)
{
    char msg[256];
    struct cni_env env = add_env();
    env.containerid = "../etc/passwd";
    ck_assert_int_eq(prepare_code(&env, good_config, false, msg, sizeof msg,
                                  NULL), CNI_ERR_INVALID_ENV);
    ck_assert_ptr_nonnull(strstr(msg, "CNI_CONTAINERID"));

    const char *bad_names[] = {"0123456789abcdef", "a/b", "a b", ".", "..",
                               "eth:0"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        env = add_env();
        env.ifname = bad_names[i];
        ck_assert_int_eq(prepare_code(&env, good_config, false, msg,
                                      sizeof msg, NULL),
                         CNI_ERR_INVALID_ENV);
        ck_assert_ptr_nonnull(strstr(msg, "CNI_IFNAME"));
    }
    env = add_env();
    env.ifname = "012345678901234"; /* 15 characters is the maximum. */
    ck_assert_int_eq(prepare_code(&env, good_config, false, NULL, 0, NULL),
                     0);
}
END_TEST

START_TEST(test_malformed_and_oversized_input)
{
    struct cni_env env = add_env();
    char msg[256];
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":", false, msg,
                                  sizeof msg, NULL), CNI_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(msg, "not valid JSON"));
    ck_assert_int_eq(prepare_code(&env, "", false, NULL, 0, NULL),
                     CNI_ERR_DECODE);
    ck_assert_int_eq(prepare_code(&env, "[1,2]", false, NULL, 0, NULL),
                     CNI_ERR_DECODE);
    ck_assert_int_eq(prepare_code(&env, "{\"a\":1,\"a\":2}", false, NULL, 0,
                                  NULL), CNI_ERR_DECODE);
    ck_assert_int_eq(prepare_code(&env, NULL, true, msg, sizeof msg, NULL),
                     CNI_ERR_DECODE);
    ck_assert_ptr_nonnull(strstr(msg, "larger than"));
}
END_TEST

START_TEST(test_read_input_limit)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        static char chunk[65536];
        memset(chunk, ' ', sizeof chunk);
        for (int i = 0; i < 17; i++) {
            if (write(fds[1], chunk, sizeof chunk) < 0) {
                _exit(0);
            }
        }
        _exit(0);
    }
    close(fds[1]);
    char *buf = NULL;
    size_t len;
    ck_assert_int_eq(shim_read_input(fds[0], &buf, &len), EMSGSIZE);
    ck_assert_ptr_null(buf);
    close(fds[0]);
    waitpid(pid, NULL, 0);

    /* Exactly the limit is accepted. */
    char path[] = "/tmp/sluice-test-shim-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    char *big = malloc(CNI_MAX_CONFIG_SIZE);
    memset(big, 'x', CNI_MAX_CONFIG_SIZE);
    ck_assert_int_eq(write(fd, big, CNI_MAX_CONFIG_SIZE), CNI_MAX_CONFIG_SIZE);
    free(big);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(shim_read_input(fd, &buf, &len), 0);
    ck_assert_uint_eq(len, CNI_MAX_CONFIG_SIZE);
    ck_assert_int_eq(buf[len], '\0');
    free(buf);
    close(fd);
}
END_TEST

START_TEST(test_invalid_config)
{
    struct cni_env env = add_env();
    char msg[256];
    ck_assert_int_eq(prepare_code(&env, "{\"name\":\"n\",\"type\":\"sluice\"}",
                                  false, msg, sizeof msg, NULL),
                     CNI_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(msg, "cniVersion"));
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"1.0.0\","
                                  "\"type\":\"sluice\"}", false, msg,
                                  sizeof msg, NULL), CNI_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(msg, "name"));
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"1.0.0\","
                                  "\"name\":\"-bad\",\"type\":\"sluice\"}",
                                  false, NULL, 0, NULL),
                     CNI_ERR_INVALID_CONFIG);
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"1.0.0\","
                                  "\"name\":\"n\"}", false, msg, sizeof msg,
                                  NULL), CNI_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(msg, "type"));
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"1.0.0\","
                                  "\"name\":\"n\",\"type\":\"sluice\","
                                  "\"agentSocket\":\"relative.sock\"}",
                                  false, msg, sizeof msg, NULL),
                     CNI_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(msg, "agentSocket"));
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"1.0.0\","
                                  "\"name\":\"n\",\"type\":\"sluice\","
                                  "\"agentTimeoutSeconds\":0}",
                                  false, msg, sizeof msg, NULL),
                     CNI_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(msg, "agentTimeoutSeconds"));
}
END_TEST

START_TEST(test_versions)
{
    struct cni_env env = add_env();
    char msg[256];
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"0.2.0\","
                                  "\"name\":\"n\",\"type\":\"sluice\"}",
                                  false, msg, sizeof msg, NULL),
                     CNI_ERR_INCOMPATIBLE_VERSION);
    ck_assert_ptr_nonnull(strstr(msg, "0.2.0"));

    const char *ok[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
    for (size_t i = 0; i < 5; i++) {
        char config[128];
        snprintf(config, sizeof config, "{\"cniVersion\":\"%s\","
                 "\"name\":\"n\",\"type\":\"sluice\"}", ok[i]);
        ck_assert_int_eq(prepare_code(&env, config, false, NULL, 0, NULL),
                         0);
    }

    /* CHECK needs 0.4.0, STATUS and GC need 1.1.0. */
    env.command = "CHECK";
    ck_assert_int_eq(prepare_code(&env, "{\"cniVersion\":\"0.3.1\","
                                  "\"name\":\"n\",\"type\":\"sluice\"}",
                                  false, NULL, 0, NULL),
                     CNI_ERR_INCOMPATIBLE_VERSION);
    struct cni_env gc = {.command = "GC"};
    ck_assert_int_eq(prepare_code(&gc, "{\"cniVersion\":\"1.0.0\","
                                  "\"name\":\"n\",\"type\":\"sluice\"}",
                                  false, NULL, 0, NULL),
                     CNI_ERR_INCOMPATIBLE_VERSION);
}
END_TEST

START_TEST(test_version_command_is_local)
{
    struct cni_env env = {.command = "VERSION"};
    struct shim_call call;
    struct shim_outcome outcome;
    shim_call_init(&call);
    const char *config = "{\"cniVersion\":\"0.4.0\"}";
    ck_assert(!shim_prepare(&env, config, strlen(config), false, &call,
                            &outcome));
    ck_assert_int_eq(outcome.code, 0);
    ck_assert_ptr_null(call.request);
    ck_assert_str_eq(json_string_value(json_object_get(outcome.output,
                                                       "cniVersion")),
                     "0.4.0");
    json_t *versions = json_object_get(outcome.output, "supportedVersions");
    ck_assert_uint_eq(json_array_size(versions), 5);
    ck_assert_str_eq(json_string_value(json_array_get(versions, 4)),
                     "1.1.0");
    json_decref(outcome.output);
    shim_call_destroy(&call);

    /* An empty stdin is answered too. */
    shim_call_init(&call);
    ck_assert(!shim_prepare(&env, "", 0, false, &call, &outcome));
    ck_assert_int_eq(outcome.code, 0);
    ck_assert_str_eq(json_string_value(json_object_get(outcome.output,
                                                       "cniVersion")),
                     "1.1.0");
    json_decref(outcome.output);
    shim_call_destroy(&call);
}
END_TEST

START_TEST(test_frame_reader)
{
    const char *body = "{\"version\":1}";
    size_t frame_len;
    uint8_t *frame = cni_frame_encode(body, strlen(body), &frame_len);
    ck_assert_uint_eq(frame_len, strlen(body) + 4);

    /* Byte by byte, then a second frame in the same buffer. */
    struct cni_frame_reader reader;
    cni_frame_reader_init(&reader, 1024);
    int status = EAGAIN;
    for (size_t i = 0; i < frame_len; i++) {
        size_t used;
        ck_assert_int_eq(status, EAGAIN);
        status = cni_frame_reader_feed(&reader, frame + i, 1, &used);
        ck_assert_uint_eq(used, 1);
    }
    ck_assert_int_eq(status, 0);
    size_t len;
    char *got = cni_frame_reader_take(&reader, &len);
    ck_assert_str_eq(got, body);
    free(got);

    uint8_t two[64];
    memcpy(two, frame, frame_len);
    memcpy(two + frame_len, frame, frame_len);
    size_t used;
    ck_assert_int_eq(cni_frame_reader_feed(&reader, two, 2 * frame_len,
                                           &used), 0);
    ck_assert_uint_eq(used, frame_len);
    free(cni_frame_reader_take(&reader, &len));
    cni_frame_reader_destroy(&reader);
    free(frame);

    /* Oversized frames are refused from the header alone. */
    cni_frame_reader_init(&reader, 16);
    uint8_t header[4] = {0, 0, 0, 17};
    ck_assert_int_eq(cni_frame_reader_feed(&reader, header, 4, &used),
                     EMSGSIZE);
    cni_frame_reader_destroy(&reader);
}
END_TEST

/* A stub agent: accepts one connection, records the request, answers with
 * 'reply' (raw frame body), or closes or stalls. */
struct stub_agent {
    int listen_fd;
    char path[108];
    const char *reply;  /* Body to answer with, or NULL to close. */
    bool stall;         /* Never answer. */
    char *request;      /* What the shim sent. */
    pthread_t thread;
};

static void *
stub_agent_main(void *aux)
{
    struct stub_agent *stub = aux;
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
    if (stub->stall) {
        sleep(3);
    } else if (stub->reply) {
        size_t len;
        uint8_t *frame = cni_frame_encode(stub->reply, strlen(stub->reply),
                                          &len);
        if (write(fd, frame, len) != (ssize_t) len) {
            /* The test's assertions catch a short answer. */
        }
        free(frame);
    }
    close(fd);
    return NULL;
}

static void
stub_agent_start(struct stub_agent *stub, const char *reply, bool stall)
{
    memset(stub, 0, sizeof *stub);
    snprintf(stub->path, sizeof stub->path, "/tmp/sluice-test-shim-%d.sock",
             (int) getpid());
    unlink(stub->path);
    stub->reply = reply;
    stub->stall = stall;
    stub->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(stub->listen_fd, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, stub->path);
    ck_assert_int_eq(bind(stub->listen_fd, (struct sockaddr *) &sun,
                          sizeof sun), 0);
    ck_assert_int_eq(listen(stub->listen_fd, 4), 0);
    ck_assert_int_eq(pthread_create(&stub->thread, NULL, stub_agent_main,
                                    stub), 0);
}

static void
stub_agent_stop(struct stub_agent *stub)
{
    pthread_join(stub->thread, NULL);
    close(stub->listen_fd);
    unlink(stub->path);
    free(stub->request);
}

/* Runs a full ADD against 'socket_path' and returns the outcome. */
static struct shim_outcome
run_add(const char *socket_path, int timeout_s)
{
    char config[512];
    snprintf(config, sizeof config, "{\"cniVersion\":\"1.1.0\",\"name\":"
             "\"sluice-net\",\"type\":\"sluice\",\"agentSocket\":\"%s\","
             "\"agentTimeoutSeconds\":%d}", socket_path, timeout_s);
    struct cni_env env = add_env();
    struct shim_call call;
    struct shim_outcome outcome;
    shim_call_init(&call);
    ck_assert(shim_prepare(&env, config, strlen(config), false, &call,
                           &outcome));
    shim_exchange(&call, &outcome);
    shim_call_destroy(&call);
    return outcome;
}

START_TEST(test_exchange_forwards_env_and_raw_stdin)
{
    struct stub_agent stub;
    stub_agent_start(&stub, "{\"version\":1,\"code\":0,\"output\":"
                     "{\"cniVersion\":\"1.1.0\",\"ips\":[]}}", false);
    struct shim_outcome outcome = run_add(stub.path, 5);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, 0);
    ck_assert_ptr_nonnull(json_object_get(outcome.output, "ips"));
    json_decref(outcome.output);

    /* Run again to inspect the request (the stub frees it on stop). */
    stub_agent_start(&stub, "{\"version\":1,\"code\":0}", false);
    outcome = run_add(stub.path, 5);
    pthread_join(stub.thread, NULL);
    ck_assert_int_eq(outcome.code, 0);
    ck_assert_ptr_null(outcome.output);
    json_t *request = json_loads(stub.request, 0, NULL);
    ck_assert_ptr_nonnull(request);
    ck_assert_int_eq(json_integer_value(json_object_get(request, "version")),
                     CNI_PROTO_VERSION);
    json_t *env = json_object_get(request, "env");
    ck_assert_str_eq(json_string_value(json_object_get(env, "CNI_COMMAND")),
                     "ADD");
    ck_assert_str_eq(json_string_value(json_object_get(env, "CNI_ARGS")),
                     "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1");
    const char *raw = json_string_value(json_object_get(request, "stdin"));
    ck_assert_ptr_nonnull(strstr(raw, "\"agentTimeoutSeconds\":5}"));
    json_decref(request);
    close(stub.listen_fd);
    unlink(stub.path);
    free(stub.request);
}
END_TEST

START_TEST(test_exchange_agent_errors)
{
    struct stub_agent stub;

    /* An error from the agent is passed through with its code. */
    stub_agent_start(&stub, "{\"version\":1,\"code\":7,\"output\":"
                     "{\"cniVersion\":\"1.1.0\",\"code\":7,\"msg\":\"bad\"}}",
                     false);
    struct shim_outcome outcome = run_add(stub.path, 5);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, 7);
    ck_assert_str_eq(json_string_value(json_object_get(outcome.output,
                                                       "msg")), "bad");
    json_decref(outcome.output);

    /* Garbage, and a protocol version we do not speak. */
    stub_agent_start(&stub, "not json", false);
    outcome = run_add(stub.path, 5);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, CNI_ERR_IO);
    json_decref(outcome.output);
    stub_agent_start(&stub, "{\"version\":2,\"code\":0}", false);
    outcome = run_add(stub.path, 5);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, CNI_ERR_INCOMPATIBLE_VERSION);
    json_decref(outcome.output);

    /* The agent hangs up, or never answers: try again later. */
    stub_agent_start(&stub, NULL, false);
    outcome = run_add(stub.path, 5);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, CNI_ERR_TRY_AGAIN);
    json_decref(outcome.output);
    stub_agent_start(&stub, NULL, true);
    outcome = run_add(stub.path, 1);
    stub_agent_stop(&stub);
    ck_assert_int_eq(outcome.code, CNI_ERR_TRY_AGAIN);
    ck_assert_ptr_nonnull(strstr(json_string_value(
                                     json_object_get(outcome.output, "msg")),
                                 "timed out"));
    json_decref(outcome.output);
}
END_TEST

START_TEST(test_agent_unreachable)
{
    char path[108];
    snprintf(path, sizeof path, "/tmp/sluice-test-shim-none-%d.sock",
             (int) getpid());
    struct shim_outcome outcome = run_add(path, 5);
    ck_assert_int_eq(outcome.code, CNI_ERR_TRY_AGAIN);
    const char *msg = json_string_value(json_object_get(outcome.output,
                                                        "msg"));
    ck_assert_ptr_nonnull(strstr(msg, path));
    json_decref(outcome.output);

    /* STATUS reports "not available" rather than "try again". */
    char config[256];
    snprintf(config, sizeof config, "{\"cniVersion\":\"1.1.0\",\"name\":"
             "\"n\",\"type\":\"sluice\",\"agentSocket\":\"%s\"}", path);
    struct cni_env env = {.command = "STATUS"};
    struct shim_call call;
    shim_call_init(&call);
    ck_assert(shim_prepare(&env, config, strlen(config), false, &call,
                           &outcome));
    shim_exchange(&call, &outcome);
    ck_assert_int_eq(outcome.code, CNI_ERR_NOT_AVAILABLE);
    json_decref(outcome.output);
    shim_call_destroy(&call);
}
END_TEST

/* Runs the installed-to-be shim binary with 'env' (NULL-terminated
 * "K=V" list) and 'input', returning its exit status and stdout. */
static int
run_binary(char *const env[], const char *input, char *out, size_t out_size)
{
    int in[2], outp[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(outp), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        close(in[1]);
        close(outp[0]);
        char *argv[] = {SHIM_BINARY, NULL};
        execve(SHIM_BINARY, argv, env);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (write(in[1], input, strlen(input)) != (ssize_t) strlen(input)) {
        ck_abort_msg("short write to shim");
    }
    close(in[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(outp[0], out + len, out_size - 1 - len)) > 0) {
        len += n;
    }
    out[len] = '\0';
    close(outp[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_binary_prints_cni_errors)
{
    char out[4096];
    char *no_netns[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=abc",
                        "CNI_IFNAME=eth0", NULL};
    ck_assert_int_ne(run_binary(no_netns, good_config, out, sizeof out), 0);
    json_t *error = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(error);
    ck_assert_int_eq(json_integer_value(json_object_get(error, "code")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(error, "cniVersion")),
                     "1.1.0");
    json_decref(error);

    char *version[] = {"CNI_COMMAND=VERSION", NULL};
    ck_assert_int_eq(run_binary(version, "{\"cniVersion\":\"1.0.0\"}", out,
                                sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "supportedVersions"));
}
END_TEST

static Suite *
shim_suite(void)
{
    Suite *s = suite_create("shim");
    TCase *input = tcase_create("input");
    tcase_add_test(input, test_missing_command);
    tcase_add_test(input, test_required_env_per_command);
    tcase_add_test(input, test_bad_container_id_and_ifname);
    tcase_add_test(input, test_malformed_and_oversized_input);
    tcase_add_test(input, test_read_input_limit);
    tcase_add_test(input, test_invalid_config);
    tcase_add_test(input, test_versions);
    tcase_add_test(input, test_version_command_is_local);
    tcase_add_test(input, test_frame_reader);
    suite_add_tcase(s, input);

    TCase *exchange = tcase_create("exchange");
    tcase_set_timeout(exchange, 20);
    tcase_add_test(exchange, test_exchange_forwards_env_and_raw_stdin);
    tcase_add_test(exchange, test_exchange_agent_errors);
    tcase_add_test(exchange, test_agent_unreachable);
    tcase_add_test(exchange, test_binary_prints_cni_errors);
    suite_add_tcase(s, exchange);
    return s;
}

int
main(void)
{
    SRunner *runner = srunner_create(shim_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
