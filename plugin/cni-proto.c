#include <sluice-config.h>

#include "sluice/cni-proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void
cni_frame_reader_init(struct cni_frame_reader *reader, size_t max_frame)
{
    memset(reader, 0, sizeof *reader);
    reader->max_frame = max_frame;
}

void
cni_frame_reader_destroy(struct cni_frame_reader *reader)
{
    free(reader->body);
    reader->body = NULL;
}

int
cni_frame_reader_feed(struct cni_frame_reader *reader, const void *data,
                      size_t n, size_t *consumed)
{
    const uint8_t *p = data;
    size_t used = 0;

    while (reader->header_len < 4 && used < n) {
        reader->header[reader->header_len++] = p[used++];
    }
    if (reader->header_len < 4) {
        *consumed = used;
        return EAGAIN;
    }
    if (!reader->body) {
        uint32_t len = ((uint32_t) reader->header[0] << 24)
                       | ((uint32_t) reader->header[1] << 16)
                       | ((uint32_t) reader->header[2] << 8)
                       | reader->header[3];
        if (len > reader->max_frame) {
            *consumed = used;
            return EMSGSIZE;
        }
        reader->body = malloc((size_t) len + 1);
        if (!reader->body) {
            *consumed = used;
            return ENOMEM;
        }
        reader->body_len = len;
        reader->body_filled = 0;
    }

    size_t want = reader->body_len - reader->body_filled;
    size_t take = n - used < want ? n - used : want;
    memcpy(reader->body + reader->body_filled, p + used, take);
    reader->body_filled += take;
    used += take;
    *consumed = used;
    if (reader->body_filled < reader->body_len) {
        return EAGAIN;
    }
    reader->body[reader->body_len] = '\0';
    return 0;
}

char *
cni_frame_reader_take(struct cni_frame_reader *reader, size_t *len)
{
    char *body = reader->body;
    *len = reader->body_len;
    size_t max_frame = reader->max_frame;
    cni_frame_reader_init(reader, max_frame);
    return body;
}

uint8_t *
cni_frame_encode(const char *body, size_t body_len, size_t *frame_len)
{
    if (body_len > CNI_PROTO_MAX_FRAME) {
        return NULL;
    }
    uint8_t *frame = malloc(body_len + 4);
    if (!frame) {
        return NULL;
    }
    frame[0] = body_len >> 24;
    frame[1] = body_len >> 16;
    frame[2] = body_len >> 8;
    frame[3] = body_len;
    memcpy(frame + 4, body, body_len);
    *frame_len = body_len + 4;
    return frame;
}

json_t *
cni_proto_response(int code, json_t *output)
{
    json_t *response = json_pack("{s:i, s:i}", "version", CNI_PROTO_VERSION,
                                 "code", code);
    if (response && output && json_object_set(response, "output", output)) {
        json_decref(response);
        response = NULL;
    }
    json_decref(output);
    return response;
}

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits until 'fd' is ready for 'events' or 'deadline' passes.  Returns 0,
 * ETIMEDOUT or an errno value. */
static int
wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            return ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 1000000 ? 1000000 : (int) left);
        if (n > 0) {
            return 0;
        } else if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
}

/* Connects 'fd' to 'sun' before 'deadline'.  On a unix socket EAGAIN means
 * the server's backlog is full, not that the connection is in progress:
 * try again shortly.  Returns 0 or an errno value. */
static int
connect_before(int fd, const struct sockaddr_un *sun, long long deadline)
{
    for (;;) {
        if (!connect(fd, (const struct sockaddr *) sun, sizeof *sun)) {
            return 0;
        }
        int error = errno;
        if (error == EINTR) {
            continue;
        } else if (error == EAGAIN) {
            if (now_ms() >= deadline) {
                return ETIMEDOUT;
            }
            struct timespec pause = {.tv_nsec = 2 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        } else if (error == EINPROGRESS) {
            error = wait_fd(fd, POLLOUT, deadline);
            socklen_t len = sizeof error;
            if (!error && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len)) {
                error = errno;
            }
        }
        return error;
    }
}

int
frame_exchange(const char *path, const char *body, size_t body_len,
               int timeout_ms, size_t max_answer, char **answer,
               size_t *answer_len, enum frame_exchange_stage *stage)
{
    long long deadline = now_ms() + timeout_ms;
    *answer = NULL;
    *answer_len = 0;
    *stage = FRAME_CONNECT;

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno;
    }
    int error = connect_before(fd, &sun, deadline);
    if (error) {
        close(fd);
        return error;
    }

    *stage = FRAME_SEND;
    size_t frame_len;
    uint8_t *frame = cni_frame_encode(body, body_len, &frame_len);
    if (!frame) {
        close(fd);
        return body_len > CNI_PROTO_MAX_FRAME ? EMSGSIZE : ENOMEM;
    }
    for (size_t sent = 0; !error && sent < frame_len;) {
        ssize_t n = send(fd, frame + sent, frame_len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            error = wait_fd(fd, POLLOUT, deadline);
        } else {
            error = n < 0 ? errno : EPIPE;
        }
    }
    free(frame);
    if (error) {
        close(fd);
        return error;
    }

    *stage = FRAME_RECEIVE;
    struct cni_frame_reader reader;
    cni_frame_reader_init(&reader, max_answer);
    int status = EAGAIN;
    while (!error && status == EAGAIN) {
        char buf[16384];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            size_t used;
            status = cni_frame_reader_feed(&reader, buf, n, &used);
        } else if (n == 0) {
            error = ECONNRESET;
        } else if (errno == EAGAIN || errno == EINTR) {
            error = wait_fd(fd, POLLIN, deadline);
        } else {
            error = errno;
        }
    }
    close(fd);
    if (!error && status) {
        error = status;
    }
    if (!error) {
        *answer = cni_frame_reader_take(&reader, answer_len);
    }
    cni_frame_reader_destroy(&reader);
    return error;
}
